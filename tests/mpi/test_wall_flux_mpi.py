"""The wall fluxes of a rank-decomposed run add up to those of the serial run (each rank reports only the
walls of its own block; the sum over ranks differs from the serial one by round-off at most), and the
diagnostics' balance columns, reduced over the ranks in the step's one allreduce, are the serial run's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hpcclose import config
from hpcclose.diagnostics import BALANCE
from hpcclose.solver import Simulation

INPUTS = Path(__file__).resolve().parents[2] / "inputs"


def _wall_flux(path: Path, overrides: list[str], comm) -> tuple[np.ndarray, np.ndarray]:
    """The run's summed wall fluxes (dim, 2) over the ranks, and its history's balance columns (global)."""
    sim = Simulation(config.load(path, overrides), comm=comm)
    total = np.zeros((sim.dim, 2))
    while not sim.done():
        sim.step()
        total += sim.wall_flux
    balance = np.array([[getattr(r, k) for k in BALANCE] for r in sim.history.records])
    return sim.decomp.sum(total), balance


@pytest.mark.mpi(min_size=2)
@pytest.mark.parametrize("path, overrides", [
    ("plane_source_m2.toml", ["mesh.cells=60", "mesh.x=[-0.1,0.1]", "scheme.max_steps=8"]),
    ("line_source_m2.toml", ["mesh.cells=[12,10]", "mesh.x=[-0.1,0.1]", "mesh.y=[-0.1,0.1]",
                             "velocity.quadrature=[4,8]", "scheme.max_steps=4"]),
    ("inflow_m2.toml", ["mesh.cells=40", "scheme.max_steps=20"]),
])
def test_wall_flux_summed_over_ranks_is_the_serial_one(path, overrides):
    from mpi4py import MPI

    parallel, parallel_balance = _wall_flux(INPUTS / path, overrides, MPI.COMM_WORLD)
    if MPI.COMM_WORLD.Get_rank() == 0:
        serial, serial_balance = _wall_flux(INPUTS / path, overrides, MPI.COMM_SELF)
        assert np.all(serial[:, :] != 0.0)  # every wall of these runs sees flux
        np.testing.assert_allclose(parallel, serial, rtol=1e-12, atol=0)
        np.testing.assert_allclose(parallel_balance, serial_balance, rtol=1e-12, atol=1e-300)
