"""The performance model (`hpcclose bench model`): its halo volume against the bytes the solver sends, and its
predictions against the model's own formulas (hand-made costs: no timing is asserted)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from conftest import ROOT
from mpi4py import MPI

from hpcclose.__main__ import build_parser
from hpcclose.bench import model as mdl
from hpcclose.bench import predictions as pr
from hpcclose.bench.steps import point_config, run_blocks
from hpcclose.cli import bench as cli_bench
from hpcclose.errors import InputError

PLANE = str(ROOT / "inputs" / "plane_source_m2.toml")
PERIODIC_1D = str(ROOT / "inputs" / "periodic_1d_m2.toml")
PERIODIC_2D = str(ROOT / "inputs" / "periodic_2d_m1.toml")
NET = mdl.Network(latency_s=2e-6, bandwidth_Bps=1e9, ranks_per_node=4)


def costs(overlap_per_cell: float = 0.0, stages: int = 2) -> mdl.Costs:
    lin = mdl.Linear
    return mdl.Costs(phases={"closure": lin(1e-3, 1e-6), "flux": lin(2e-4, 5e-7), "halo": lin(0.0, 1e-8),
                             "other": lin(1e-4, 0.0)}, overlap=lin(0.0, overlap_per_cell), stages=stages,
                     n_components=3)


@pytest.mark.parametrize(("path", "cells"), [(PERIODIC_1D, "64"), (PERIODIC_2D, "[24, 16]")])
def test_modelled_volume_equals_the_bytes_the_solver_sends_on_one_rank(path, cells):
    """A periodic axis on one rank sends to itself: the model counts those sends as the solver makes them."""
    cfg = point_config(path, [f"mesh.cells={cells}"], "strong", 1)
    sim, blocks = run_blocks(cfg, steps=2, warmup=0, repeats=2, comm=MPI.COMM_SELF)
    plan = mdl.halo_plan(sim.grid.cells, pr.periodic_of(cfg), 1, sim.n)
    assert plan.nbytes[0] == sim.halo.nbytes
    assert all(b["halo_bytes"] == plan.nbytes.sum() * sim.integrator.stages for b in blocks)
    assert all(b["allreduces"] == 0 for b in blocks)  # one rank: the fused reduction needs no MPI
    assert plan.remote_messages[0] == 0  # … and nothing travels over the network
    sim.halo.free()
    sim.decomp.free()


def test_halo_plan_volume_follows_the_block_faces():
    ny, nx, n, ng = 30, 40, 3, 2
    plan = mdl.halo_plan((ny, nx), (True, True), 6, n, dims=(2, 3))
    # periodic both ways: every rank sends both faces of both axes; the faces of a row of blocks add up
    per_axis = [2 * ng * n * 8 * nx * 2, 2 * ng * n * 8 * ny * 3]
    assert plan.nbytes.sum() == sum(per_axis) and (plan.messages == 4).all()
    walls = mdl.halo_plan((100,), (False,), 4, n)
    assert walls.messages.tolist() == [1, 2, 2, 1] and walls.nbytes.tolist() == [48, 96, 96, 48]
    with pytest.raises(InputError, match="thinner than the 2 ghost layers"):
        mdl.halo_plan((100,), (False,), 64, n)


def test_one_rank_costs_only_its_phases():
    c = costs()
    pred = mdl.predict(c, mdl.halo_plan((5000,), (False,), 1, 3), NET)
    assert pred["time_per_step_s"] == pytest.approx(sum(c.local(5000).values()))
    assert pred["halo_exposed_s"] == 0 and pred["reduce_s"] == 0


def test_the_overlap_hides_the_halo_up_to_the_exchange_time():
    plan = mdl.halo_plan((4000,), (False,), 4, 3)
    exchange = 2 * NET.latency_s + 96 / (NET.bandwidth_Bps / 4)  # interior rank: two messages of 48 bytes
    bare = mdl.predict(costs(overlap_per_cell=0.0), plan, NET)
    assert bare["exchange_s"] == pytest.approx(exchange)
    assert bare["halo_exposed_s"] == pytest.approx(2 * exchange)  # two stages, nothing hidden
    hidden = mdl.predict(costs(overlap_per_cell=1e-6), plan, NET)  # 1 ms of owned nodal values per stage
    assert hidden["halo_exposed_s"] == 0
    part = mdl.predict(costs(overlap_per_cell=exchange / 2 / 1000 * 2), plan, NET)  # half the exchange hidden
    assert part["halo_exposed_s"] == pytest.approx(exchange)
    assert bare["reduce_s"] == pytest.approx(math.ceil(math.log2(4)) * NET.latency_s)
    assert mdl.predict(costs(), mdl.halo_plan((6000,), (False,), 6, 3), NET)["reduce_s"] == pytest.approx(
        3 * NET.latency_s)


def test_strong_and_weak_series_follow_their_definitions():
    c, ranks = costs(), mdl.powers_of_two(16384)
    strong = mdl.series(c, (200_000,), (False,), ranks, NET, "strong")
    t1 = strong[0]["time_per_step_s"]
    for r in strong:
        assert r["efficiency"] == pytest.approx(t1 / (r["ranks"] * r["time_per_step_s"]))
    assert all(a["efficiency"] >= b["efficiency"] for a, b in zip(strong, strong[1:], strict=False))
    weak = mdl.series(c, (5000,), (False,), ranks, NET, "weak")
    assert {r["cells_per_rank"] for r in weak} == {5000}
    for r in weak:  # the same block on every rank: only the network's part grows
        assert r["time_per_step_s"] - weak[0]["time_per_step_s"] == pytest.approx(r["halo_exposed_s"] + r["reduce_s"])
    th = mdl.thresholds(strong, weak)
    first = next(r for r in strong if r["efficiency"] < 0.8)
    assert th["strong_below_floor"]["ranks"] == first["ranks"]
    above = strong[strong.index(first) - 1]
    assert first["cells_per_rank"] <= th["cells_per_rank_at_floor"] <= above["cells_per_rank"]
    stop = th["strong_stops_paying"]
    after = next(r for r in strong if r["ranks"] == 2 * stop["ranks"])
    assert after["time_per_step_s"] > 0.9 * next(r for r in strong if r["ranks"] == stop["ranks"])["time_per_step_s"]
    assert th["weak_below_floor"] is None
    small = mdl.series(c, (100,), (False,), [1, 64], NET, "strong")
    assert "thinner" in small[1]["infeasible"] and "efficiency" not in small[1]


def test_weak_cells_match_the_scaling_harness_layout():
    cells, dims = mdl.weak_cells((16, 24), 6)  # array order: 16 y-cells, 24 x-cells per rank
    assert dims == (2, 3) and cells == (32, 72)
    plan = mdl.halo_plan(cells, (True, True), 6, 3, dims=dims)
    assert set(plan.cells.tolist()) == {16 * 24}


def test_linear_fit_and_costs_round_trip():
    n = np.array([100, 1000, 10000])
    fit = mdl.Linear.fit(n, 2e-4 + 3e-7 * n)
    assert (fit.fixed_s, fit.per_cell_s) == (pytest.approx(2e-4), pytest.approx(3e-7))
    c = costs(1e-7)
    assert mdl.Costs.from_json(json.loads(json.dumps(c.to_json()))) == c
    with pytest.raises(InputError, match="network"):
        mdl.Network(bandwidth_Bps=0.0)


def test_cli_model_with_saved_costs_predicts_and_validates(tmp_path):
    (tmp_path / "costs.json").write_text(json.dumps({"costs": costs(1e-7).to_json()}))
    measured = {"rows": [{"ranks": 2, "cells": [400], "dims": [2], "n_components": 3, "cells_per_rank": 200,
                          "step_s": [0.01, 0.012], "halo_bytes_per_step": 192.0, "exchanges_per_step": 2.0,
                          "allreduces_per_step": 1.0, "oversubscribed": False}]}
    (tmp_path / "measured.json").write_text(json.dumps(measured))
    args = build_parser().parse_args(["bench", "model", PLANE, "--set", "mesh.cells=4096", "--costs",
                                      str(tmp_path / "costs.json"), "--max-ranks", "64", "--weak-cells", "300",
                                      "--measured", str(tmp_path / "measured.json"), "--out", str(tmp_path)])
    cli_bench.main(args)
    result = json.loads((tmp_path / "model.json").read_text())
    assert [r["ranks"] for r in result["strong"]] == [1, 2, 4, 8, 16, 32, 64]
    assert {r["cells_per_rank"] for r in result["weak"]} == {300}
    (v,) = result["validation"]
    assert v["halo_bytes_modelled"] == v["halo_bytes_counted"] == 192
    assert (v["exchanges_modelled"], v["allreduces_modelled"]) == (2, 1)
    assert result["provenance"]["input"]["overrides"] == ["mesh.cells=4096"]
    assert (tmp_path / "model.png").stat().st_size > 0
