"""`hpcclose bench scaling`: fixed steps and cells per rank in weak scaling, provenance, warnings, merge, plot."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from math import prod

import pytest
from conftest import ROOT

from hpcclose.bench import scaling as sc
from hpcclose.bench.steps import point_config, weak_layout
from hpcclose.errors import InputError
from hpcclose.resources import MAX_STEPS

PLANE = str(ROOT / "inputs" / "plane_source_m2.toml")
PERIODIC_2D = str(ROOT / "inputs" / "periodic_2d_m1.toml")


@pytest.mark.parametrize("ranks", [1, 2, 3, 4, 6, 12])
def test_weak_layout_gives_every_rank_the_input_block(ranks):
    cells, dims = weak_layout(300, ranks)
    assert (cells, dims) == (300 * ranks, (ranks,))
    cells, dims = weak_layout((64, 48), ranks)
    py, px = dims
    assert py * px == ranks and py <= px
    assert (cells[0] / px, cells[1] / py) == (64, 48)  # x cells over x ranks, y over y: the block exactly


def test_weak_points_keep_cells_per_rank_and_run_without_an_end():
    base = point_config(PERIODIC_2D, ["mesh.cells=[40,30]"], "weak", 1)
    for p in (2, 4, 6):
        cfg = point_config(PERIODIC_2D, ["mesh.cells=[40,30]"], "weak", p)
        assert prod(cfg.mesh.cells) == p * prod(base.mesh.cells)
        assert prod(cfg.parallel.dims) == p
        # the end is lifted so every point runs exactly the timed steps (no step count from t_final), as far as
        # the run's resource check allows, and nothing is written
        assert cfg.scheme.t_final == 1e300 and cfg.scheme.max_steps == MAX_STEPS
        assert cfg.output.every is None and cfg.output.every_steps is None
    strong = point_config(PLANE, ["mesh.cells=500"], "strong", 4)
    assert strong.mesh.cells == 500 and strong.parallel.dims is None


def _point(ranks, times, steps=10, **extra):
    row = {"ranks": ranks, "steps": steps, "step_s": times, "cells_per_rank": 1000, "ranks_on_node": ranks,
           "threads_per_rank": 1, "cpus_on_node": 2, "oversubscribed": ranks > 2, "busy_cpus_before": 0.0,
           "phases_s": {"closure": times[0] / 2, "flux": times[0] / 2}, **extra}
    return {"row": row, "provenance": {"host": "test"}}


def _study(points, kind="strong", steps=10, sha="abc", overrides=("mesh.cells=100",)):
    prov = {"input": {"sha256": sha, "overrides": list(overrides)}}
    return sc.assemble(points, sc.settings(kind, steps, 3, len(points[0]["row"]["step_s"]), "mpiexec"), prov)


def test_speedup_efficiency_and_their_spread_come_from_the_blocks():
    res = _study([_point(2, [0.5, 0.6, 0.55]), _point(1, [1.0, 1.1, 0.9])])
    base, two = res["rows"]
    assert [r["ranks"] for r in res["rows"]] == [1, 2]  # sorted by ranks
    assert two["time_per_step_s"]["median"] == pytest.approx(0.55)
    assert two["speedup"] == pytest.approx({"median": 1.0 / 0.55, "min": 0.9 / 0.6, "max": 1.1 / 0.5})
    assert two["efficiency"]["median"] == pytest.approx(1.0 / 0.55 / 2)
    weak = _study([_point(1, [1.0, 1.0, 1.0]), _point(2, [1.25, 1.25, 1.25])], kind="weak")
    assert weak["rows"][1]["speedup"] is None and weak["rows"][1]["efficiency"]["median"] == pytest.approx(0.8)


def test_warnings_name_short_blocks_oversubscription_busy_machine_and_spread():
    res = _study([_point(1, [0.01, 0.01, 0.01]), _point(4, [0.2, 0.2, 0.2], busy_cpus_before=1.5),
                  _point(2, [1.0, 1.5, 1.0])])
    text = "\n".join(res["warnings"])
    assert "P = 1: timed block 0.10 s" in text
    assert "P = 4: oversubscribed: 4 rank(s) x 1 thread(s) on 2 CPUs" in text
    assert "P = 4: 1.5 CPUs were busy with other work" in text
    assert "P = 2: blocks differ by 50 %" in text
    assert "oversubscribed" in sc.table(res)


def test_merge_combines_jobs_and_refuses_what_does_not_belong_together(tmp_path):
    files = []
    for i, pts in enumerate(([_point(4, [0.3, 0.3, 0.3])], [_point(1, [1.0, 1.0, 1.0]), _point(2, [0.5] * 3)])):
        files.append(tmp_path / f"job{i}.json")
        files[-1].write_text(json.dumps(_study(pts)))
    merged = sc.merge(files)
    assert [r["ranks"] for r in merged["rows"]] == [1, 2, 4]
    assert merged["rows"][2]["speedup"]["median"] == pytest.approx(1.0 / 0.3)  # against the 1-rank job
    assert merged["provenance"]["merged"] == [str(f) for f in files]
    assert merged["provenance"]["input"]["sha256"] == "abc"
    assert all(r["provenance"] == {"host": "test"} for r in merged["rows"])
    js, png = sc.save(merged, tmp_path / "out")
    assert json.loads(js.read_text())["rows"][0]["ranks"] == 1 and png.stat().st_size > 0

    def merge_with(study):
        other = tmp_path / "other.json"
        other.write_text(json.dumps(study))
        return sc.merge([files[0], other])

    with pytest.raises(InputError, match="steps"):
        merge_with(_study([_point(1, [1.0] * 3)], steps=20))
    with pytest.raises(InputError, match="input and overrides"):
        merge_with(_study([_point(1, [1.0] * 3)], sha="def"))
    with pytest.raises(InputError, match="more than one result for 4"):
        merge_with(_study([_point(4, [1.0] * 3)]))


def test_rank_axis_is_logarithmic_with_the_measured_ranks_as_ticks():
    from hpcclose.bench.output import pyplot

    fig, ax = pyplot().subplots()
    ax.plot([1, 2, 4], [1.0, 0.5, 0.25])
    sc.rank_axis(ax, [1, 2, 4])
    assert ax.get_xscale() == "log"
    assert list(ax.get_xticks()) == [1, 2, 4] and [t.get_text() for t in ax.get_xticklabels()] == ["1", "2", "4"]
    assert len(ax.xaxis.get_minorticklocs()) == 0
    pyplot().close(fig)


@pytest.mark.slow
def test_weak_study_under_mpiexec_keeps_cells_per_rank_and_steps_and_records_provenance(tmp_path):
    """The whole command: bench scaling --kind weak --ranks 1,2 launches bench steps twice."""
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "hpcclose", "bench", "scaling", PLANE, "--kind", "weak", "--ranks", "1,2",
           "--steps", "3", "--warmup", "1", "--repeats", "2", "--set", "mesh.cells=200", "--out", str(out)]
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=300,
                         env={**os.environ, "NUMBA_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)})
    assert res.returncode == 0, res.stderr
    result = json.loads((out / "scaling_weak.json").read_text())
    one, two = result["rows"]
    assert (one["ranks"], two["ranks"]) == (1, 2)
    assert one["cells_per_rank"] == two["cells_per_rank"] == 200 and two["ncells"] == 400
    assert one["steps"] == two["steps"] == 3 and len(one["step_s"]) == len(two["step_s"]) == 2
    assert two["exchanges_per_step"] == 2 and two["allreduces_per_step"] == 1  # SSP-RK2: two stages, one reduction
    assert "timed block" in "\n".join(result["warnings"])  # 3 steps of 200 cells: far too short, and said so
    prov = two["provenance"]
    assert prov["code"]["hpcclose"] and prov["mpi"]["library"] and prov["launcher"].startswith("mpiexec")
    assert prov["machine"]["host"] and prov["machine"]["cpus"] >= 1 and prov["machine"]["threads_per_rank"] == 1
    assert prov["date"] and prov["input"]["overrides"] == ["mesh.cells=200"]
    assert prov["input"]["sha256"] and "plane_source" in prov["input"]["text"]
    assert result["provenance"]["input"]["path"] == PLANE and (out / "scaling_weak.png").stat().st_size > 0
