"""Results do not depend on the number of ranks: the same run on COMM_SELF and on all ranks agree."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hpcclose import config
from hpcclose.solver import Simulation

INPUTS = Path(__file__).resolve().parents[2] / "inputs"


def _run(path: Path, overrides: list[str], comm) -> np.ndarray | None:
    sim = Simulation(config.load(path, overrides), comm=comm)
    while not sim.done():
        sim.step()
    return sim.decomp.gather(sim.u)


def _compare(path: Path, overrides: list[str], dims_on_4: str | None = None) -> None:
    """Serial (COMM_SELF on rank 0) vs all ranks; ``dims_on_4`` fixes the layout on 4 ranks."""
    from mpi4py import MPI

    world = MPI.COMM_WORLD
    layout = [f"parallel.dims={dims_on_4}"] if dims_on_4 and world.Get_size() == 4 else []
    parallel = _run(path, overrides + layout, world)
    if world.Get_rank() == 0:
        serial = _run(path, overrides, MPI.COMM_SELF)
        np.testing.assert_allclose(parallel, serial, rtol=0, atol=1e-12 * np.abs(serial).max())
        assert np.array_equal(parallel, serial), "not bitwise identical (but within 1e-12)"


@pytest.mark.mpi(min_size=2)
def test_plane_source_m2_newton():
    _compare(INPUTS / "plane_source_m2.toml", ["mesh.cells=60", "scheme.max_steps=12"])


@pytest.mark.mpi(min_size=2)
def test_periodic_2d_m1_newton():
    _compare(INPUTS / "periodic_2d_m1.toml", ["mesh.cells=[12,10]", "velocity.quadrature=[6,8]",
                                               "scheme.max_steps=6"], dims_on_4="[2,2]")
