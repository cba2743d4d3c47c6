"""The hohlraum problem (materials, walls, regions as KiT-RT's SYMMETRIC_HOHLRAUM) and the absorption
recorder of the lattice and hohlraum quantities of interest."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from mpi4py import MPI

from hpcclose import config
from hpcclose.errors import InputError
from hpcclose.problems import available, get_problem
from hpcclose.solver import Simulation
from hpcclose.stepping.absorption import AbsorptionRecorder
from hpcclose.velocity import make_basis, sphere_product

INPUTS = Path(__file__).resolve().parents[2] / "inputs"


def _at(problem, x: float, y: float) -> tuple[float, float]:
    sigma_s, sigma_a = problem.materials((np.array([y]), np.array([x])))
    return float(sigma_s[0, 0]), float(sigma_a[0, 0])


def test_materials_and_regions():
    p = get_problem("hohlraum", {})
    assert "hohlraum" in available()
    # (σs, σa) = (σs, σt − σs) of KiT-RT's white, red, green, blue and black areas
    for (x, y), sigma in {(0.4, 0.0): (0.1, 0.0), (-0.62, 0.0): (95.0, 5.0), (0.62, 0.3): (95.0, 5.0),
                          (-0.62, 0.5): (0.1, 0.0), (0.17, 0.0): (90.0, 10.0), (0.0, 0.37): (90.0, 10.0),
                          (0.0, 0.0): (0.0, 100.0), (0.0, 0.62): (50.0, 50.0), (-0.62, -0.62): (50.0, 50.0)}.items():
        assert _at(p, x, y) == sigma, (x, y)
    moved = get_problem("hohlraum", {"capsule_x": 0.1, "red_left_top": 0.3})
    assert _at(moved, 0.2, 0.0) == (0.0, 100.0) and _at(moved, -0.62, 0.35) == (0.1, 0.0)
    c = (np.arange(26) + 0.5) * 0.05 - 0.65
    regions = p.absorption_regions((c, c))
    assert sorted(regions) == ["center", "horizontal", "vertical"]
    # the capsule 0.4 × 0.8, the red walls 2 × 0.05 × 0.8, the black walls 2 × 1.3 × 0.05 (cells of 0.05)
    assert [regions[k].sum() * 0.05**2 for k in ("center", "vertical", "horizontal")] == pytest.approx(
        [0.32, 0.08, 0.13])
    with pytest.raises(InputError, match="problem.capsule_x"):
        get_problem("hohlraum", {"capsule_x": 0.5})


def test_side_walls_let_radiation_in_between_the_black_walls():
    p = get_problem("hohlraum", {})
    basis, quad = make_basis("spherical_harmonics", 2, 1), sphere_product(4, 8)
    with pytest.raises(RuntimeError, match="initial_moments"):
        p.boundary_conditions(quad)
    rows = np.array([-0.625, -0.3, 0.3, 0.625])
    p.initial_moments((rows, np.array([0.0])), (0.05, 0.05), basis, quad)
    (bottom, top), (left, right) = p.boundary_conditions(quad)
    vx = quad.velocity[:, 0]
    assert left.values.shape == (4, 1, quad.size)
    np.testing.assert_array_equal(left.values[1, 0], np.where(vx > 0, 1.0, 1e-10))
    np.testing.assert_array_equal(right.values[2, 0], np.where(vx < 0, 1.0, 1e-10))
    for wall in (left.values[0, 0], left.values[3, 0], right.values[0, 0], bottom.values, top.values):
        np.testing.assert_array_equal(wall, 1e-10)


def _run(path: Path, overrides: list[str]) -> tuple[Simulation, AbsorptionRecorder]:
    sim = Simulation(config.load(path, overrides + ["output.progress=false"]), comm=MPI.COMM_SELF)
    rec = AbsorptionRecorder(sim)
    sim.observers.add(rec)
    rec.start(sim)
    while not sim.done():
        sim.step()
    return sim, rec


def test_hohlraum_fills_from_the_side_walls():
    sim, rec = _run(INPUTS / "hohlraum_m1.toml", ["mesh.cells=[52,52]", "velocity.quadrature=[6,8]",
                                                  "scheme.t_final=0.3"])
    u0 = sim.u[..., 0]
    assert np.all(np.isfinite(sim.u)) and rec.rows[-1]["t"] == pytest.approx(0.3)
    # mirror symmetric in x (and y): the same inflow from both sides
    np.testing.assert_allclose(u0, u0[:, ::-1], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(u0, u0[::-1, :], rtol=1e-9, atol=1e-12)
    # the red walls absorb first; nothing has reached the capsule's interior at t = 0.3 but the floor
    last = rec.rows[-1]
    assert last["vertical_total"] > last["horizontal_total"] > 0 and last["center"] < 1e-6
    assert rec.rows[0]["mass"] < 1e-8 < last["mass"]


def test_lattice_absorption_balances_the_source():
    # before anything reaches the walls: mass(T) + absorbed = mass(0) + source · 4π · T (the trapezoid rule
    # cumulates the absorption to second order in Δt: halving Δt cuts the imbalance ~4×)
    imbalance = []
    for cfl in (0.8, 0.4):
        sim, rec = _run(INPUTS / "checkerboard_m1.toml", ["mesh.cells=[28,28]", "velocity.quadrature=[6,8]",
                                                          "scheme.t_final=0.6", f"scheme.cfl={cfl}"])
        first, last = rec.rows[0], rec.rows[-1]
        assert rec.names == ["absorbers"] and last["absorbers_total"] > 0.05
        balance = last["mass"] + last["absorbers_total"] - first["mass"]
        imbalance.append(abs(balance / (4 * np.pi * 0.6) - 1))
    assert imbalance[0] < 1e-3 and imbalance[1] < imbalance[0] / 3, imbalance


def test_problems_without_regions_record_only_the_mass():
    sim, rec = _run(INPUTS / "line_source_m2.toml", ["mesh.cells=[10,10]", "velocity.quadrature=[4,6]",
                                                     "scheme.max_steps=2", "velocity.order=1"])
    assert rec.names == [] and sorted(rec.rows[-1]) == ["mass", "t"] and len(rec.rows) == 3
