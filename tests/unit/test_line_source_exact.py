"""The exact line source (hpcclose.problems.line_source_exact) against independent checks: particle
conservation, a second (adaptive, nested) quadrature of the integral representation, the closed-form
once-collided limit at small t, the diffusion limit at large t, tabulated values, and the problem hook."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import quad

from hpcclose.problems import get_problem
from hpcclose.problems.ganapol import plane_source_cell_averages, plane_source_density
from hpcclose.problems.line_source_exact import (
    collided_density,
    line_source_cell_averages,
    point_source_collided,
    radial_density,
    uncollided_density,
)


def _adaptive_point_kernel(R: float, t: float) -> float:
    """φ_pt(R, t) written out again and integrated by scipy's adaptive rule (not the module's fixed one)."""
    g = R / t
    logq = np.log((1.0 + g) / (1.0 - g))

    def integrand(u: float) -> float:
        tan = np.tan(0.5 * u)
        beta = (logq + 1j * u) / (g + 1j * tan)
        return float(((g + 1j * tan) * beta**3 * np.exp(0.5 * t * (1 - g * g) * beta)).real / np.cos(0.5 * u) ** 2)

    inner, _ = quad(integrand, 0.0, np.pi, limit=200, epsabs=1e-14, epsrel=1e-12)
    return np.exp(-t) / (4 * np.pi * R * t) * logq + np.exp(-t) / (32 * np.pi**2 * R) * (1 - g * g) * inner


@pytest.mark.parametrize("t", [0.1, 1.0, 5.0])
def test_point_kernel_conserves_the_collided_particles(t):
    # all but the uncollided e^{−t} of a unit point source has collided: 4π ∫ R² φ_pt dR = 1 − e^{−t}
    mass, _ = quad(lambda R: 4 * np.pi * R * R * point_source_collided(np.array([R]), t)[0], 0.0, t, limit=200)
    assert mass == pytest.approx(1.0 - np.exp(-t), rel=1e-9)
    R = np.array([0.01, 0.5, 0.99]) * t
    np.testing.assert_allclose(point_source_collided(R, t), [_adaptive_point_kernel(r, t) for r in R], rtol=1e-11)


@pytest.mark.parametrize("t", [0.1, 1.0, 3.0])
def test_line_source_conserves_particles(t):
    # ∫ φ dA = 1: the uncollided part carries e^{−t} (analytic), the collided part the rest
    collided, _ = quad(lambda r: 2 * np.pi * r * collided_density(np.array([r]), t)[0], 0.0, t, limit=200)
    uncollided, _ = quad(lambda r: 2 * np.pi * r * uncollided_density(np.array([r]), t)[0], 0.0, t, limit=200)
    assert uncollided == pytest.approx(np.exp(-t), rel=1e-9)
    assert collided + uncollided == pytest.approx(1.0, abs=1e-10)
    # the smoothed pulse too, on a composite Gauss rule over [0, t + 10 s] (its support to 1e−22)
    width = 0.03
    edges = np.linspace(0.0, t + 10 * width, int((t + 10 * width) / (width / 8)) + 1)
    x, w = np.polynomial.legendre.leggauss(12)
    r = (0.5 * (edges[1:] + edges[:-1])[:, None] + 0.5 * np.diff(edges)[:, None] * x).ravel()
    weights = (0.5 * np.diff(edges)[:, None] * w).ravel()
    assert np.sum(weights * 2 * np.pi * r * radial_density(r, t, width)) == pytest.approx(1.0, abs=1e-8)


@pytest.mark.parametrize("t, eta", [(0.2, 0.0), (1.0, 0.0), (1.0, 0.6), (1.0, 0.99), (4.0, 0.3)])
def test_second_quadrature_of_the_line_integral(t, eta):
    # the line integral 2t ∫ φ_pt dw by nested adaptive quadrature, against the module's fixed rules
    value, _ = quad(lambda w: _adaptive_point_kernel(t * np.sqrt(eta * eta + w * w), t), 0.0, np.sqrt(1 - eta * eta),
                    limit=200, epsabs=1e-14, epsrel=1e-11)
    assert collided_density(np.array([eta * t]), t)[0] == pytest.approx(2 * t * value, rel=1e-9)


def test_tabulated_values_and_support():
    # φ(0, t) as given in the project's science notes (SCIENCE.md §8), to their 4 digits
    assert radial_density(np.array([0.0]), 0.5)[0] == pytest.approx(1.1049, abs=5e-5)
    assert radial_density(np.array([0.0]), 1.0)[0] == pytest.approx(0.3938, abs=5e-5)
    # nothing beyond the uncollided front r = t (the δ pulse)
    assert np.all(radial_density(np.array([1.0, 1.2, 3.0]), 1.0) == 0.0)


def test_small_t_is_the_once_collided_density():
    # as t → 0 the collided density is the once-collided one: at r = 0, 2t ∫₀¹ e^{−t} log((1+w)/(1−w))
    # / (4π t² w) dw = π e^{−t} / (8t); the correction is O(t)
    for t, tol in ((1e-3, 2e-3), (1e-4, 2e-4)):
        ratio = collided_density(np.array([0.0]), t)[0] / (np.pi * np.exp(-t) / (8 * t))
        assert abs(ratio - 1.0) < tol


def test_large_t_approaches_diffusion():
    # diffusion with D = 1/3: φ(0, t) → 3/(4π t), relative correction O(1/t)
    ratios = [radial_density(np.array([0.0]), t)[0] * 4 * np.pi * t / 3 for t in (20.0, 50.0, 100.0)]
    assert abs(ratios[1] - 1) < 0.02 and abs(ratios[2] - 1) < 0.01
    assert abs(ratios[2] - 1) < abs(ratios[1] - 1) < abs(ratios[0] - 1)


def test_smoothed_pulse_tends_to_the_delta_pulse():
    r = np.array([0.0, 0.3, 0.6])
    np.testing.assert_allclose(radial_density(r, 1.0, width=0.002), radial_density(r, 1.0), rtol=1e-4)


def test_cell_averages_hold_the_unit_mass():
    c = (np.arange(120) + 0.5) * 0.025 - 1.5
    rho = line_source_cell_averages((c, c), (0.025, 0.025), 1.0, 0.03)
    assert rho.sum() * 0.025**2 == pytest.approx(1.0, abs=1e-5)
    np.testing.assert_allclose(rho, rho.T, rtol=1e-12)
    with pytest.raises(ValueError, match="width"):
        line_source_cell_averages((c, c), (0.025, 0.025), 1.0, 0.0)


def test_problem_hooks():
    line = get_problem("line_source", {})
    exact = line.exact(1.0)
    floor = line.p.floor * 4 * np.pi
    assert exact.coordinate == "r" and exact.t == 1.0
    assert exact.profile(np.array([0.5]))[0] == pytest.approx(radial_density(np.array([0.5]), 1.0, 0.03)[0] + floor)
    assert get_problem("line_source", {"sigma_s": 2.0}).exact(1.0) is None
    assert get_problem("periodic_2d", {}).exact(1.0) is None
    plane = get_problem("plane_source", {})
    exact = plane.exact(1.0)
    x = np.array([0.0, 0.5])
    assert exact.coordinate == "x"
    np.testing.assert_allclose(exact.profile(x), plane_source_density(x, 1.0) + 2 * plane.p.f_floor)
    centres = (np.linspace(-1.05, 1.05, 22),)
    np.testing.assert_allclose(exact.cell_averages(centres, (0.1,)),
                               plane_source_cell_averages(np.linspace(-1.1, 1.1, 23), 1.0) + 2 * plane.p.f_floor)
    assert get_problem("plane_source", {"variant": "smooth"}).exact(1.0) is None



def test_plot_exact_overlays_the_exact_profile_on_the_radial_panel(small_runs, tmp_path, monkeypatch):
    """`hpcclose plot --exact` on a 2D line-source run: the data of its radial panel, not its pixels — every
    cell's u0 against its distance r, and the exact density (the δ kernel convolved with the run's Gaussian,
    plus the floor) at the output's time."""
    import h5py

    from hpcclose.plot import maps, plot

    figures = []
    real_save = maps.save
    monkeypatch.setattr(maps, "save", lambda fig, path: (figures.append(fig), real_save(fig, path))[1])
    last = sorted(small_runs["2d"].glob("fields_*.h5"))[-1]
    plot(small_runs["2d"], tmp_path, exact=True, frames=[-1])
    (panel,) = [ax for ax in figures[0].axes if ax.get_title() == "radial profile"]
    computed, exact = panel.get_lines()
    assert exact.get_label() == "exact"
    with h5py.File(last, "r") as f:
        t, x, y, u0 = f.attrs["time"], f["grid/x"][...], f["grid/y"][...], f["fields/u"][..., 0]
    assert t == pytest.approx(0.1)
    yc, xc = np.meshgrid(y, x, indexing="ij")
    np.testing.assert_array_equal(computed.get_xdata(), np.hypot(xc, yc).ravel())
    np.testing.assert_array_equal(computed.get_ydata(), u0.ravel())
    r = exact.get_xdata()
    assert r[0] == 0.0 and r[-1] == pytest.approx(np.hypot(xc, yc).max())
    floor = get_problem("line_source", {}).p.floor * 4 * np.pi
    np.testing.assert_allclose(exact.get_ydata(), radial_density(r, 0.1, 0.03) + floor, rtol=1e-12)
    # the overlay carries the unit mass: 2π ∫ r (φ − floor) dr = 1 on its own points (the pulse is inside)
    assert np.trapezoid(2 * np.pi * r * (exact.get_ydata() - floor), r) == pytest.approx(1.0, abs=2e-3)


def _monte_carlo_radii(t: float, particles: int, seed: int) -> np.ndarray:
    """Distances from the line at time t of particles started on it, isotropic in 3D, speed 1, exponential
    flights of mean 1 (σt = σs = 1) with isotropic scattering: an analogue simulation of the same problem."""
    rng = np.random.default_rng(seed)
    pos, left = np.zeros((particles, 2)), np.full(particles, t)
    alive = np.ones(particles, bool)
    while alive.any():
        idx = np.flatnonzero(alive)
        mu, phi = rng.uniform(-1.0, 1.0, idx.size), rng.uniform(0.0, 2 * np.pi, idx.size)
        step = np.minimum(rng.exponential(1.0, idx.size), left[idx])
        # the motion along the line (Ωz = μ) does not change the distance from it
        pos[idx] += (step * np.sqrt(1.0 - mu * mu))[:, None] * np.stack([np.cos(phi), np.sin(phi)], axis=1)
        left[idx] -= step
        alive[idx] = left[idx] > 0.0
    return np.hypot(pos[:, 0], pos[:, 1])


def test_agrees_with_a_monte_carlo_simulation_of_the_line_source():
    """Annulus averages of φ(r, 1) against an analogue Monte Carlo simulation (10⁶ histories): within
    4 standard deviations of the counts in every annulus of width 0.05 (the exact one is within 2.4; the
    collided part scaled by 1.02 or 0.98 would be 4.6 and 6.0 off)."""
    t, n = 1.0, 1_000_000
    edges = np.linspace(0.0, 1.0, 21)
    counts = np.histogram(_monte_carlo_radii(t, n, seed=22), bins=edges)[0]
    # the exact particles in each annulus: the uncollided ring in closed form, the collided part by quad
    root = np.sqrt(1.0 - (edges / t) ** 2)
    uncollided = np.exp(-t) * (root[:-1] - root[1:])
    collided = [quad(lambda r: 2 * np.pi * r * collided_density(np.array([r]), t)[0], a, b)[0]
                for a, b in zip(edges[:-1], edges[1:], strict=True)]
    expected = n * (uncollided + np.array(collided))
    assert expected.sum() == pytest.approx(n, rel=1e-9)  # all particles are inside r < t
    np.testing.assert_array_less(np.abs(counts - expected), 4.0 * np.sqrt(expected))
