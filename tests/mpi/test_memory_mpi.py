"""Per-rank memory does not grow with the global grid: a rank of a P-rank run on a P× larger grid allocates
what one rank allocates for the 1× grid alone (within 10 %), measured with tracemalloc (numpy's arrays
report to it)."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest
from mpi4py import MPI

from hpcclose import config
from hpcclose.solver import Simulation

INPUTS = Path(__file__).resolve().parents[2] / "inputs"
# (input, the 1-rank mesh, the P-rank mesh and layout for P ranks owning that mesh each)
CASES = {
    "1d": ("plane_source_m2.toml", lambda p: [f"mesh.cells={20000 * p}", f"parallel.dims=[{p}]"]),
    "2d": ("periodic_2d_m1.toml", lambda p: [f"mesh.cells=[{48 * p}, 48]", f"parallel.dims=[1, {p}]"]),
}


def _peak(path: Path, overrides: list[str], comm) -> int:
    """Peak bytes traced while building the run and taking two steps (collective over ``comm``)."""
    cfg = config.load(path, [*overrides, "scheme.max_steps=2"])
    tracemalloc.start()
    try:
        sim = Simulation(cfg, comm=comm)
        while not sim.done():
            sim.step()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    sim.halo.free()
    sim.decomp.free()
    return peak


@pytest.mark.mpi(min_size=2)
@pytest.mark.parametrize("case", sorted(CASES))
def test_a_rank_allocates_for_its_block_not_for_the_global_grid(case):
    name, mesh = CASES[case]
    p = MPI.COMM_WORLD.Get_size()
    _peak(INPUTS / name, mesh(1), MPI.COMM_SELF)  # compile and fill caches outside the measurement
    alone = _peak(INPUTS / name, mesh(1), MPI.COMM_SELF)
    shared = _peak(INPUTS / name, mesh(p), MPI.COMM_WORLD)
    assert abs(shared - alone) <= 0.10 * alone, f"rank {MPI.COMM_WORLD.Get_rank()}: {shared} B on {p} ranks " \
                                                f"for {p}x the grid vs {alone} B alone"
