"""Measured order of accuracy of the kinetic scheme on a smooth periodic problem (self-convergence)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from mpi4py import MPI

from hpcclose import config
from hpcclose.solver import Simulation

INPUT = Path(__file__).resolve().parents[2] / "inputs" / "periodic_1d_m2.toml"


def _solve(cells: int, order: int, integrator: str) -> np.ndarray:
    cfg = config.load(INPUT, [f"mesh.cells={cells}", f"scheme.order={order}", f"scheme.integrator='{integrator}'",
                              "scheme.t_final=0.25", "output.progress=false"])
    sim = Simulation(cfg, comm=MPI.COMM_SELF)
    while not sim.done():
        sim.step()
    return sim.u.copy()


def _coarsen(u: np.ndarray) -> np.ndarray:
    return 0.5 * (u[0::2] + u[1::2])


@pytest.mark.parametrize("order, integrator, expected", [(1, "euler", 0.9), (2, "ssprk2", 1.8)])
def test_observed_order(order, integrator, expected):
    # errors between successive refinements (L1 over cells and moments), three refinements
    sols = [_solve(n, order, integrator) for n in (40, 80, 160, 320)]
    errs = [np.abs(_coarsen(f) - c).mean() for c, f in zip(sols[:-1], sols[1:], strict=True)]
    orders = np.log2(np.array(errs[:-1]) / np.array(errs[1:]))
    assert np.all(orders >= expected), f"errors {errs}, observed orders {orders}"
