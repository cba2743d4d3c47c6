"""`hpcclose bench baseline` (the plain Numba M_N solver) and `hpcclose bench kernels` (GFLOP/s)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import ROOT

from hpcclose import config
from hpcclose.__main__ import main
from hpcclose.bench.baseline_compare import baseline_for, compare
from hpcclose.bench.kernels import flux_flops, newton_flops
from hpcclose.closures import get_closure
from hpcclose.errors import InputError
from hpcclose.solver import Simulation
from hpcclose.velocity import gauss_legendre, make_basis

PLANE = str(ROOT / "inputs" / "plane_source_m2.toml")


@pytest.mark.parametrize("overrides", [[], ["scheme.order=1", "scheme.integrator='ssprk2'"],
                                       ["problem.name='periodic_1d'", "problem.variant='smooth'"]])
def test_baseline_solves_the_same_problem_to_the_newton_tolerance(overrides):
    if "problem.name='periodic_1d'" in overrides:  # the periodic input instead of the plane source
        path, overrides = str(ROOT / "inputs" / "periodic_1d_m2.toml"), ["scheme.integrator='ssprk2'"]
    else:
        path = PLANE
    rows = compare(path, ["mesh.cells=120", "scheme.max_steps=40", *overrides], [1, 3], repeat=1,
                   log=lambda s: None)
    for row in rows:
        assert row["relative_l2_difference"] < 1e-8, row
        assert row["baseline_unconverged"] == 0
        assert row["steps"] == 40 and row["step_ns_per_cell_step"] > 0


def test_baseline_refuses_what_it_does_not_model():
    cfg = config.load(ROOT / "inputs" / "inflow_m2.toml", ["mesh.cells=20"])  # a far-field wall, absorption
    with pytest.raises(InputError, match="bench baseline"):
        baseline_for(Simulation(cfg))


def test_flop_counts_follow_the_algorithm():
    quad = gauss_legendre(10)
    c = get_closure("newton", make_basis("monomial", 1, 2), quad, check=False)
    # monomial M2: 5 products, 3 gradient terms, 6 Hessian terms (a Hankel matrix: one term each)
    evaluation, gradient = 2 * 3 * 10 + 38 * 10, 2 * 5 * 10 + 2 * 3
    step = 2 * 6 + 27 / 3 + 2 * 9
    assert newton_flops(c, 2.0) == pytest.approx(3 * (evaluation + gradient) + 2 * step)
    assert flux_flops(3, 10, 1, 1) == (2 * 3 + 36) * 10 + 2 * 3 * 10 + 9


def test_cli_writes_both_benchmarks(tmp_path, capsys):
    main(["bench", "kernels", "--orders-1d", "1", "--orders-2d", "1", "--quadrature-2d", "4x8", "--cells-1d", "300",
          "--cells-2d", "8", "--repeat", "1", "--out", str(tmp_path)])
    data = json.loads((tmp_path / "kernels.json").read_text())
    assert data["peak_gflops"] > 0 and len(data["rows"]) == 4
    assert all(np.isfinite(r["gflops"]) and r["gflops"] > 0 for r in data["rows"])
    main(["bench", "baseline", PLANE, "--orders", "2", "--set", "mesh.cells=50", "--set", "scheme.max_steps=5",
          "--repeat", "1", "--out", str(tmp_path)])
    rows = json.loads((tmp_path / "baseline.json").read_text())["rows"]
    assert rows[0]["N"] == 2 and rows[0]["relative_l2_difference"] < 1e-8
    assert "baseline/step" in capsys.readouterr().out
    assert main(["bench", "kernels", "--repeat", "0", "--out", str(tmp_path)]) == 2
    assert "bench kernels: --repeat" in capsys.readouterr().err
