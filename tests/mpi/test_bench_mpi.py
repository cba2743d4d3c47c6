"""The scaling harness and the model on several ranks: the halo bytes the run's sends carry (counted from the
outside) are the model's, rank by rank, and a step makes one allreduce."""

from __future__ import annotations

from pathlib import Path

import pytest
from mpi4py import MPI

from hpcclose.bench.model import halo_plan
from hpcclose.bench.predictions import periodic_of
from hpcclose.bench.steps import measure, point_config, run_blocks

INPUTS = Path(__file__).resolve().parents[2] / "inputs"
CASES = {"1d-walls": ("plane_source_m2.toml", "mesh.cells=60"), "1d-periodic": ("periodic_1d_m2.toml", "mesh.cells=60"),
         "2d-periodic": ("periodic_2d_m1.toml", "mesh.cells=[18, 12]"), "2d-walls": ("line_source_m2.toml",
                                                                                   "mesh.cells=[12, 18]")}


@pytest.mark.mpi(min_size=2)
@pytest.mark.parametrize("case", sorted(CASES))
def test_counted_halo_bytes_are_the_modelled_volume(case):
    name, cells = CASES[case]
    comm = MPI.COMM_WORLD
    cfg = point_config(str(INPUTS / name), [cells], "strong", comm.Get_size())
    sim, blocks = run_blocks(cfg, steps=2, warmup=1, repeats=2, comm=comm)
    plan = halo_plan(sim.grid.cells, periodic_of(cfg), comm.Get_size(), sim.n)
    r, stages = comm.Get_rank(), sim.integrator.stages
    assert plan.dims == sim.decomp.dims and plan.cells[r] == sim.decomp.ncells_local
    assert plan.nbytes[r] == sim.halo.nbytes
    for b in blocks:
        assert b["exchanges"] == stages and b["halo_bytes"] == plan.nbytes[r] * stages
        assert b["allreduces"] == 1
    sim.halo.free()
    sim.decomp.free()


@pytest.mark.mpi(min_size=2)
def test_a_measured_point_sums_the_bytes_of_every_rank():
    comm = MPI.COMM_WORLD
    cfg = point_config(str(INPUTS / "periodic_2d_m1.toml"), ["mesh.cells=[12, 10]"], "weak", comm.Get_size())
    row = measure(cfg, steps=2, warmup=1, repeats=2, comm=comm)
    plan = halo_plan(tuple(row["cells"][::-1]), (True, True), comm.Get_size(), row["n_components"],
                     dims=tuple(row["dims"]))
    assert row["halo_bytes_per_step"] == plan.nbytes.sum() * row["stages"]
    assert row["halo_bytes_per_step_max"] == plan.nbytes.max() * row["stages"]
    assert row["cells_per_rank"] == 120 and len(row["step_s"]) == 2 and row["allreduces_per_step"] == 1
