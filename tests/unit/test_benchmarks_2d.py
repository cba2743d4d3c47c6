"""drivers/benchmarks_2d.py: the line-source L1 table and the absorption QoIs, on tiny grids; rows merge so
later models are one more command; bad input is one line and exit status 2."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def driver():
    spec = importlib.util.spec_from_file_location("benchmarks_2d", ROOT / "drivers" / "benchmarks_2d.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_line_source_rows_merge(driver, tmp_path, capsys):
    common = ["--cells", "16", "--quadrature", "4,8", "--out", str(tmp_path), "--set", "scheme.t_final=0.2"]
    assert driver.main(["line-source", "--models", "P1,M1", *common]) == 0
    assert driver.main(["line-source", "--models", "P3,P1", *common]) == 0
    rows = json.loads((tmp_path / "line_source_l1.json").read_text())
    assert [r["model"] for r in rows] == ["M1", "P1", "P3"]  # P1 replaced, not repeated
    assert all(0 < r["L1"] < 2 and r["cells"] == 16 and r["quadrature"] == "hemisphere(sphere_product(4x8))"
               and r["nodes"] == 16 for r in rows)
    assert (tmp_path / "line_source_l1.png").exists()
    assert "| P3 (scheme.t_final=0.2) | 16² | hemisphere(sphere_product(4x8)) (16, 7) |" in capsys.readouterr().out


def test_qoi_rows(driver, tmp_path, capsys):
    assert driver.main(["qoi", str(ROOT / "inputs" / "checkerboard_m1.toml"), "--models", "P1", "--cells", "14",
                        "--quadrature", "4,8", "--set", "scheme.t_final=0.2", "--out", str(tmp_path)]) == 0
    (row,) = json.loads((tmp_path / "qoi_checkerboard.json").read_text())
    assert row["regions"] == ["absorbers"] and row["final"]["absorbers_total"] > 0
    assert row["series"]["t"][-1] == pytest.approx(0.2) and (tmp_path / "qoi_checkerboard.png").exists()
    # the table of the rows so far against one of them (no run: --models '')
    capsys.readouterr()
    assert driver.main(["qoi", str(ROOT / "inputs" / "checkerboard_m1.toml"), "--models", "", "--reference",
                        "P1@14", "--out", str(tmp_path)]) == 0
    total = row["final"]["absorbers_total"]
    assert f"| P1 (scheme.t_final=0.2) | 14² | hemisphere(sphere_product(4x8)) (16, 7) | {total:.5g} (+0.00%) |" \
        in capsys.readouterr().out
    assert driver.main(["qoi", str(ROOT / "inputs" / "checkerboard_m1.toml"), "--models", "", "--reference",
                        "P3@14", "--out", str(tmp_path)]) == 2
    assert "--reference 'P3@14': no such row (rows: P1@14)" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["line-source", "--models", "X1"], "'X1' is not M<N> or P<N>"),
    (["line-source", "--cells", "1,a"], "--cells '1,a'"),
    (["qoi", "no_such_input.toml"], "no_such_input.toml: no such input file"),
    (["qoi", "inputs/lattice_m1.toml", "--reference", "P7"], "--reference 'P7': expected MODEL@CELLS"),
    (["line-source", "--models", ""], "line_source_l1.json: no rows yet (give --models)"),
    (["line-source", "--models", "P1", "--cells", "8", "--set", "problem.sigma_s=2.0", "--set",
      "scheme.max_steps=1"], "no exact solution"),
])
def test_bad_input_is_one_line_and_status_2(driver, capsys, tmp_path, argv, message):
    assert driver.main([*argv, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and err.startswith("benchmarks_2d: error:")
