"""Plane-source M_N solutions approach Ganapol's exact kinetic solution as N grows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from mpi4py import MPI

from hpcclose import config
from hpcclose.problems.ganapol import plane_source_cell_averages, plane_source_density
from hpcclose.solver import Simulation

INPUT = Path(__file__).resolve().parents[2] / "inputs" / "plane_source_m2.toml"


def test_exact_solution_is_a_unit_mass_density():
    # the formula (uncollided + collided parts) must conserve the unit mass and be symmetric
    edges = np.linspace(-1.1, 1.1, 221)
    rho = plane_source_cell_averages(edges, 1.0)
    assert abs(np.sum(rho * np.diff(edges)) - 1.0) < 1e-8
    np.testing.assert_allclose(rho, rho[::-1], rtol=1e-10)
    # uncollided density alone at t → 0⁺ limit: ρ ≈ e^{-t}/(2t) near x = 0 for small t
    t = 1e-3
    assert abs(plane_source_density(np.array([0.0]), t)[0] * 2 * t * np.exp(t) - 1.0) < 1e-2


@pytest.mark.slow
def test_mn_error_decreases_with_n():
    errors = {}
    for n in (1, 3, 7):
        cfg = config.load(INPUT, ["mesh.cells=200", f"velocity.order={n}", "velocity.quadrature=30"])
        sim = Simulation(cfg, comm=MPI.COMM_SELF)
        while not sim.done():
            sim.step()
        exact = plane_source_cell_averages(sim.grid.edges(0), sim.t)
        errors[n] = np.sum(np.abs(sim.u[:, 0] - exact)) * sim.grid.spacing[0]
    assert errors[3] < errors[1] and errors[7] < errors[3], errors
