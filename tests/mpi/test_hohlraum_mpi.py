"""The hohlraum (y-dependent side walls) and the absorption recorder do not depend on the number of ranks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hpcclose import config
from hpcclose.solver import Simulation
from hpcclose.stepping.absorption import AbsorptionRecorder

INPUTS = Path(__file__).resolve().parents[2] / "inputs"
OVERRIDES = ["mesh.cells=[26,52]", "velocity.quadrature=[4,8]", "scheme.max_steps=8", "output.progress=false"]


def _run(comm, dims: list[str]) -> tuple[np.ndarray | None, list[dict]]:
    sim = Simulation(config.load(INPUTS / "hohlraum_m1.toml", OVERRIDES + dims), comm=comm)
    rec = AbsorptionRecorder(sim)
    sim.observers.add(rec)
    rec.start(sim)
    while not sim.done():
        sim.step()
    return sim.decomp.gather(sim.u), rec.rows


def _check_against_serial(extra: list[str], layout: list[str]) -> None:
    """Run on all ranks (``layout``), then alone on rank 0: the states equal bitwise, the absorption rows to
    round-off. Every rank fails with rank 0 (none is left waiting for it in the next test's collectives)."""
    from mpi4py import MPI

    world = MPI.COMM_WORLD
    parallel, rows = _run(world, extra + layout)
    failure = None
    if world.Get_rank() == 0:
        serial, serial_rows = _run(MPI.COMM_SELF, extra)
        try:
            assert np.array_equal(parallel, serial), f"not bitwise identical: max |Δ| {np.abs(parallel - serial).max()}"
            assert [sorted(r) for r in rows] == [sorted(r) for r in serial_rows]
            for a, b in zip(rows, serial_rows, strict=True):  # sums over ranks: round-off only
                assert a == pytest.approx(b, rel=1e-12, abs=1e-300)
        except AssertionError as exc:
            failure = str(exc)
    failure = world.bcast(failure)
    assert failure is None, failure


@pytest.mark.mpi(min_size=2)
def test_hohlraum_and_its_absorption_are_rank_invariant():
    from mpi4py import MPI

    # the ranks split y (the side walls' open rows differ per rank) unless the layout says otherwise
    _check_against_serial([], [f"parallel.dims=[{MPI.COMM_WORLD.Get_size()},1]"])
    _check_against_serial([], [])


@pytest.mark.mpi(min_size=2)
def test_hohlraum_without_reconstruction_is_rank_invariant():
    """As shipped, the hohlraum reconstructs every stage input (the ansatz's moments, computed cell by cell:
    a BLAS product over the rank's cells rounded differently with the number of ranks); without it too."""
    from mpi4py import MPI

    _check_against_serial(["scheme.realizability_reconstruction=false"],
                          [f"parallel.dims=[{MPI.COMM_WORLD.Get_size()},1]"])
