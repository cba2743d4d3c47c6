"""The finite-volume kinetic scheme, tested on its own (no closure needed).

With one node v, weight 1 and basis m = [[1]], a linear ansatz makes the moment equation the scalar
advection ∂t u + v ∂x u = 0, which has exact cell averages; everything else uses several nodes and a
real basis but hand-made nodal values.
"""

from __future__ import annotations

import numpy as np
import pytest

from hpcclose.errors import InputError
from hpcclose.scheme import (
    NG,
    BoundaryCondition,
    Sources,
    apply_boundaries,
    available_integrators,
    cfl_limit,
    fill_periodic,
    flux_divergence_1d,
    flux_divergence_2d,
    get_integrator,
    max_stable_dt,
    nodal_values,
)
from hpcclose.velocity import gauss_legendre, make_basis, sphere_product

ONE = np.array([[1.0]])
W1 = np.array([1.0])


# --- scalar advection through the kinetic kernels ---------------------------------------------------
def _exact_averages(nx: int, t: float, v: float = 1.0) -> np.ndarray:
    """Cell averages of sin(2π(x − vt)) + 2 on [0, 1] with nx cells."""
    dx = 1.0 / nx
    a = np.arange(nx) * dx - v * t
    return 2.0 + (np.cos(2 * np.pi * a) - np.cos(2 * np.pi * (a + dx))) / (2 * np.pi * dx)


def _advect(nx: int, order: int, scheme: str, theta: float = 2.0, t_end: float = 0.5, v: float = 1.0,
            cfl: float = 0.4) -> float:
    """L1 error of periodic advection of the sine profile through the kinetic kernels."""
    dx = 1.0 / nx
    vel = np.array([v])
    a_ext = np.zeros((nx + 2 * NG, 1))
    f_ext = np.zeros_like(a_ext)
    du = np.zeros((nx, 1))

    def rhs(u, t):
        a_ext[NG:-NG] = u  # linear ansatz with m = 1: α = u, f = α
        fill_periodic(a_ext)
        nodal_values(a_ext, ONE, True, out=f_ext)
        return flux_divergence_1d(f_ext, vel, W1, ONE, dx, order, theta, du)

    u = _exact_averages(nx, 0.0, v)[:, None].copy()
    stepper = get_integrator(scheme, rhs, u)
    nsteps = int(np.ceil(t_end / (cfl * dx / abs(v))))
    dt = t_end / nsteps
    for s in range(nsteps):
        stepper.step(u, s * dt, dt)
    return float(np.sum(np.abs(u[:, 0] - _exact_averages(nx, t_end, v))) * dx)


def _orders(errors: list[float]) -> np.ndarray:
    return np.log2(np.array(errors[:-1]) / np.array(errors[1:]))


def test_first_order_upwind_converges_at_order_one():
    errs = [_advect(nx, 1, "euler") for nx in (50, 100, 200)]
    assert np.all(_orders(errs) >= 0.9), errs


@pytest.mark.parametrize("theta", [2.0, 1.5])
def test_minmod_scheme_converges_at_order_two(theta):
    # minmod clips the slopes at the two extrema of the sine; in L1 that costs little
    errs = [_advect(nx, 2, "ssprk2", theta=theta) for nx in (50, 100, 200)]
    assert np.all(_orders(errs) >= 1.8), (errs, _orders(errs))


def test_negative_velocity_mirrors_positive_velocity():
    # advecting sin + 2 leftwards is the mirror image of advecting 2 − sin rightwards, and the scheme
    # is equivariant under f → c − f: the errors must agree to round-off
    for order, scheme in ((1, "euler"), (2, "ssprk2")):
        left, right = _advect(64, order, scheme, v=-1.0), _advect(64, order, scheme, v=1.0)
        assert left == pytest.approx(right, rel=1e-9)
        assert left < (8e-2 if order == 1 else 6e-3)


def test_upwinding_uses_the_correct_side():
    rng = np.random.default_rng(1)
    nx, dx = 12, 0.1
    f = rng.random((nx + 4, 2))
    v = np.array([0.7, -0.3])
    m = np.array([[1.0], [1.0]])  # one moment: the sum over both nodes
    w = np.array([1.0, 1.0])
    out = np.empty((nx, 1))
    flux_divergence_1d(f, v, w, m, dx, 1, 2.0, out)
    own = slice(NG, -NG)
    expect = -0.7 * (f[own, 0] - f[1:-3, 0]) / dx - (-0.3) * (f[3:-1, 1] - f[own, 1]) / dx
    np.testing.assert_allclose(out[:, 0], expect, rtol=1e-13, atol=1e-13)


def test_second_order_matches_hand_written_minmod():
    rng = np.random.default_rng(2)
    nx, dx, theta = 9, 0.3, 1.3
    f = rng.random((nx + 4, 1))
    out = np.empty((nx, 1))

    def mm(a, b, c):
        return np.where((a > 0) & (b > 0) & (c > 0), np.minimum(np.minimum(a, b), c),
                        np.where((a < 0) & (b < 0) & (c < 0), np.maximum(np.maximum(a, b), c), 0.0))

    g = f[:, 0]
    s = np.zeros_like(g)
    s[1:-1] = mm(theta * (g[1:-1] - g[:-2]), 0.5 * (g[2:] - g[:-2]), theta * (g[2:] - g[1:-1]))
    for v in (1.0, -1.0):
        flux_divergence_1d(f, np.array([v]), W1, ONE, dx, 2, theta, out)
        face = g + 0.5 * s if v > 0 else g - 0.5 * s  # upwind state of the face right (v>0) / left of a cell
        if v > 0:
            expect = -v * (face[NG:-NG] - face[NG - 1:-NG - 1]) / dx
        else:
            expect = -v * (face[NG + 1:-NG + 1] - face[NG:-NG]) / dx
        np.testing.assert_allclose(out[:, 0], expect, rtol=1e-12, atol=1e-12)


# --- conservation, positivity, 2D ------------------------------------------------------------------
@pytest.mark.parametrize("order", [1, 2])
def test_periodic_divergence_conserves_every_moment(order):
    rng = np.random.default_rng(3)
    quad = gauss_legendre(8)
    m = make_basis("legendre", 1, 3).evaluate(quad)
    nx = 40
    a_ext = rng.normal(size=(nx + 4, m.shape[1])) * 0.5
    fill_periodic(a_ext)
    f = nodal_values(a_ext, m, False)
    out = np.empty((nx, m.shape[1]))
    flux_divergence_1d(f, quad.velocity[:, 0], quad.weights, m, 0.05, order, 2.0, out)
    assert np.abs(out).max() > 1e-2  # not trivially zero
    np.testing.assert_allclose(out.sum(axis=0), 0.0, atol=1e-12 * np.abs(out).sum())


def test_nodal_values_match_the_ansatz():
    rng = np.random.default_rng(4)
    quad = sphere_product(4, 6)
    m = make_basis("monomial", 2, 2).evaluate(quad)
    a = rng.normal(size=(7, 9, m.shape[1]))
    f = nodal_values(a, m, False)
    np.testing.assert_allclose(f[2:-2], np.exp(a[2:-2] @ m.T), rtol=1e-13)
    np.testing.assert_allclose(f[:, 2:-2], np.exp(a[:, 2:-2] @ m.T), rtol=1e-13)
    assert np.all(f[:2, :2] == 0) and np.all(f[-2:, -2:] == 0)  # unused corners
    lin = nodal_values(a[3], m, True)
    np.testing.assert_allclose(lin, a[3] @ m.T, rtol=1e-13, atol=1e-14)


def test_vectorised_exp_is_accurate_and_keeps_special_values():
    from hpcclose.kernels.fastmath import exp_inplace

    x = np.random.default_rng(10).uniform(-700.0, 700.0, size=(50, 37))
    x[0, :8] = [0.0, 1e-300, -1e-12, np.log(2.0), 709.0, -708.0, 1.0, -1.0]
    y = exp_inplace(x.copy())
    assert np.max(np.abs(y - np.exp(x)) / np.exp(x)) < 5e-16
    assert y[0, 0] == 1.0
    s = exp_inplace(np.array([[np.nan, np.inf, -np.inf, 710.0, -710.0, -1000.0]]))[0]
    assert np.isnan(s[0]) and s[1] == np.inf and s[3] == np.inf
    np.testing.assert_array_equal(s[[2, 4, 5]], 0.0)


@pytest.mark.parametrize("theta", [2.0, 1.0])
def test_second_order_euler_keeps_nodal_values_positive(theta):
    # m = identity and w = 1 make the "moments" the nodal values: the kinetic update of every node
    quad = gauss_legendre(6)
    v = quad.velocity[:, 0]
    Q = quad.size
    nx, dx = 60, 1.0 / 60
    f = np.zeros((nx + 4, Q))
    f[NG:-NG][nx // 3: 2 * nx // 3] = 1.0  # a step profile in every node
    dt = max_stable_dt(dx, np.abs(v).max(), order=2, theta=theta)
    assert dt == pytest.approx(0.95 * 2 / (2 + theta) * dx / np.abs(v).max())
    out = np.empty((nx, Q))
    for _ in range(150):
        fill_periodic(f)
        flux_divergence_1d(f, v, np.ones(Q), np.eye(Q), dx, 2, theta, out)
        f[NG:-NG] += dt * out
    assert f[NG:-NG].min() >= -1e-14
    assert f[NG:-NG].max() <= 1.0 + 1e-14  # and no overshoot (the scheme is TVD at this step)
    np.testing.assert_allclose(f[NG:-NG].sum(axis=0), nx // 3, rtol=1e-12)


def test_2d_dimension_wise_step_keeps_nodal_values_positive():
    # m = identity and w = 1 make the "moments" the nodal values themselves: every node's update at once
    quad = sphere_product(2, 6)
    Q = quad.size
    vx, vy = quad.velocity[:, 0], quad.velocity[:, 1]
    ny, nx, dx, dy = 14, 18, 0.05, 0.08
    rng = np.random.default_rng(11)
    f = np.zeros((ny + 4, nx + 4, Q))
    f[NG:-NG, NG:-NG] = (rng.random((ny, nx, 1)) > 0.5) * rng.random(Q)  # rough: many extrema
    eye, ones = np.eye(Q), np.ones(Q)
    dt = max_stable_dt((dx, dy), (np.abs(vx).max(), np.abs(vy).max()), order=2, theta=2.0)
    out = np.empty((ny, nx, Q))
    total = f[NG:-NG, NG:-NG].sum(axis=(0, 1))
    for _ in range(60):
        fill_periodic(f)
        flux_divergence_2d(f, vx, vy, ones, eye, dx, dy, 2, 2.0, out)
        f[NG:-NG, NG:-NG] += dt * out
    assert f[NG:-NG, NG:-NG].min() >= -1e-14
    np.testing.assert_allclose(f[NG:-NG, NG:-NG].sum(axis=(0, 1)), total, rtol=1e-12)


def test_too_large_a_step_loses_positivity():
    # the limit is sharp enough that 1.5× it produces negative values (the test above can fail)
    nx, dx, theta = 60, 1.0 / 60, 2.0
    g = np.zeros((nx + 4, 1))
    g[NG + 20: NG + 40] = 1.0
    out = np.empty((nx, 1))
    dt = 1.5 * cfl_limit(2, theta) * dx
    for _ in range(60):
        fill_periodic(g)
        flux_divergence_1d(g, np.array([1.0]), W1, ONE, dx, 2, theta, out)
        g[NG:-NG] += dt * out
    assert g[NG:-NG].min() < -1e-6


def test_time_step_limits_and_validation():
    assert cfl_limit(1) == 1.0 and cfl_limit(2, 2.0) == 0.5 and cfl_limit(2, 1.0) == pytest.approx(2 / 3)
    assert max_stable_dt(0.1, 1.0, order=1, cfl=0.4) == pytest.approx(0.04)
    # 2D dimension-wise: Δt = cfl / (max|vx|/Δx + max|vy|/Δy)
    assert max_stable_dt((0.1, 0.2), (1.0, 0.5), order=1, cfl=0.4) == pytest.approx(0.4 / 12.5)
    with pytest.raises(ValueError):
        max_stable_dt(0.1, 1.0, order=2, theta=2.0, cfl=0.6)
    with pytest.raises(ValueError):
        cfl_limit(2, theta=2.5)
    with pytest.raises(ValueError):
        cfl_limit(3)


@pytest.mark.parametrize("order", [1, 2])
def test_2d_kernel_reduces_to_1d_along_each_axis(order):
    rng = np.random.default_rng(5)
    quad = sphere_product(3, 8)
    m = make_basis("monomial", 2, 1).evaluate(quad)
    vx, vy = quad.velocity[:, 0], quad.velocity[:, 1]
    nx, ny, dx, dy = 11, 6, 0.07, 0.13
    line = np.exp(rng.normal(size=(nx + 4, quad.size)))
    # constant in y (periodic in y): only the x-fluxes act
    f = np.zeros((ny + 4, nx + 4, quad.size))
    f[:] = line
    out2 = np.empty((ny, nx, m.shape[1]))
    out1 = np.empty((nx, m.shape[1]))
    flux_divergence_2d(f, vx, vy, quad.weights, m, dx, dy, order, 2.0, out2)
    flux_divergence_1d(line, vx, quad.weights, m, dx, order, 2.0, out1)
    for j in range(ny):
        np.testing.assert_allclose(out2[j], out1, rtol=1e-12, atol=1e-13)
    # constant in x: only the y-fluxes act
    col = line[: ny + 4]
    g = np.repeat(col[:, None, :], nx + 4, axis=1)
    flux_divergence_2d(g, vx, vy, quad.weights, m, dx, dy, order, 2.0, out2)
    out1 = np.empty((ny, m.shape[1]))
    flux_divergence_1d(col, vy, quad.weights, m, dy, order, 2.0, out1)
    for i in range(nx):
        np.testing.assert_allclose(out2[:, i], out1, rtol=1e-12, atol=1e-13)


def test_2d_periodic_divergence_is_conservative_and_ignores_corners():
    rng = np.random.default_rng(6)
    quad = sphere_product(4, 8)
    m = make_basis("monomial", 2, 2).evaluate(quad)
    ny, nx = 37, 41  # more rows than work blocks, uneven split
    a = rng.normal(size=(ny + 4, nx + 4, m.shape[1])) * 0.3
    fill_periodic(a)
    f = nodal_values(a, m, False)
    out = np.empty((ny, nx, m.shape[1]))
    flux_divergence_2d(f, quad.velocity[:, 0], quad.velocity[:, 1], quad.weights, m, 0.1, 0.1, 2, 2.0, out)
    np.testing.assert_allclose(out.sum(axis=(0, 1)), 0.0, atol=1e-12 * np.abs(out).sum())
    f[:2, :2] = np.nan
    f[-2:, -2:] = np.nan
    out2 = np.empty_like(out)
    flux_divergence_2d(f, quad.velocity[:, 0], quad.velocity[:, 1], quad.weights, m, 0.1, 0.1, 2, 2.0, out2)
    np.testing.assert_array_equal(out2, out)


# --- sources -------------------------------------------------------------------------------------------
def test_scattering_conserves_density_and_relaxes_to_isotropic():
    quad = gauss_legendre(10)
    basis = make_basis("legendre", 1, 3)
    iso = basis.isotropic(1.0, quad)
    rng = np.random.default_rng(7)
    u = np.column_stack([1.0 + rng.random(20), 0.3 * rng.normal(size=(20, 3))])
    sig = np.linspace(0.5, 2.0, 20)  # space-dependent σs
    src = Sources.from_basis(basis, quad, sigma_s=sig)
    du = np.zeros_like(u)
    src.apply(u, du)
    np.testing.assert_allclose(du[:, 0], 0.0, atol=1e-14)
    np.testing.assert_allclose(du[:, 1:], -sig[:, None] * u[:, 1:], atol=1e-14)  # Legendre: −σs R u
    # relaxation over t = 20 by Euler steps (σs·Δt ≤ 0.2): u → u0·iso, u0 unchanged
    v = u.copy()
    for _ in range(200):
        du[:] = 0.0
        v += 0.1 * src.apply(v, du)
    np.testing.assert_allclose(v[:, 0], u[:, 0], rtol=1e-13)
    np.testing.assert_allclose(v, u[:, :1] * iso, atol=1e-4)


def test_absorption_and_isotropic_source_in_2d():
    quad = sphere_product(3, 6)
    basis = make_basis("monomial", 2, 2)
    iso = basis.isotropic(1.0, quad)
    u = np.zeros((3, 4, basis.n))
    src = Sources.from_basis(basis, quad, sigma_a=0.5, source=np.arange(12.0).reshape(3, 4))
    du = src.apply(u, np.zeros_like(u))
    mean_m = quad.weights @ basis.evaluate(quad)
    np.testing.assert_allclose(du, np.arange(12.0).reshape(3, 4, 1) * mean_m, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(mean_m, 4 * np.pi * iso, rtol=1e-13, atol=1e-15)
    u = np.ones((3, 4, 1)) * iso
    du = Sources(iso, sigma_a=0.5).apply(u, np.zeros_like(u))
    np.testing.assert_allclose(du, -0.5 * u)
    with pytest.raises(ValueError):
        Sources(iso, source=1.0)  # needs ⟨1⟩
    with pytest.raises(ValueError):
        Sources(iso, sigma_s=np.ones(5)).apply(u, np.zeros_like(u))


# --- integrators ------------------------------------------------------------------------------------
@pytest.mark.parametrize("name,order", [("euler", 1), ("ssprk2", 2), ("ssprk3", 3)])
def test_integrators_reach_their_order(name, order):
    buf = np.empty((2, 3))

    def rhs(u, t):  # du/dt = −u + cos t: exercises the stage times too
        np.multiply(u, -1.0, out=buf)
        np.add(buf, np.cos(t), out=buf)
        return buf

    def exact(t):  # u(0) = 1
        return 0.5 * (np.cos(t) + np.sin(t)) + 0.5 * np.exp(-t)

    errs = []
    for nsteps in (20, 40, 80):
        u = np.ones((2, 3))
        stepper = get_integrator(name, rhs, u)
        dt = 1.0 / nsteps
        for s in range(nsteps):
            stepper.step(u, s * dt, dt)
        errs.append(np.abs(u - exact(1.0)).max())
    obs = _orders(errs)
    assert np.all(obs > order - 0.15), (errs, obs)
    assert np.all(obs < order + 0.5)


def test_integrator_registry_and_guards():
    assert available_integrators() == ["euler", "ssprk2", "ssprk3"]
    with pytest.raises(InputError, match="scheme.integrator: unknown time integrator 'rk4'; available: euler"):
        get_integrator("rk4", lambda u, t: u, np.zeros(3))
    stepper = get_integrator("euler", lambda u, t: u, np.zeros(3))
    with pytest.raises(ValueError):
        stepper.step(np.zeros(3), 0.0, 0.1)  # an rhs returning u itself


# --- boundaries ---------------------------------------------------------------------------------------
def test_boundaries_1d_prescribed_farfield_and_walls():
    rng = np.random.default_rng(8)
    f = rng.random((10, 4))
    inflow = np.array([1e-8, 1e-8, 0.5, 0.5])
    conds = [(BoundaryCondition("prescribed", inflow), BoundaryCondition("farfield"))]
    g = apply_boundaries(f.copy(), conds, [(True, True)])
    np.testing.assert_array_equal(g[:2], [inflow, inflow])
    np.testing.assert_array_equal(g[-2:], [f[-3], f[-3]])
    np.testing.assert_array_equal(g[2:-2], f[2:-2])
    h = apply_boundaries(f.copy(), conds, [(False, True)])  # low side has a neighbour: untouched
    np.testing.assert_array_equal(h[:2], f[:2])
    k = apply_boundaries(f.copy(), {"x": (BoundaryCondition("periodic"),) * 2}, {"x": (True, True)})
    np.testing.assert_array_equal(k, f)


def test_boundaries_2d_touch_only_their_slab():
    rng = np.random.default_rng(9)
    f = rng.random((7, 8, 3))
    floor = BoundaryCondition.constant(1e-8, 3)
    conds = {"x": (floor, BoundaryCondition("farfield")), "y": (BoundaryCondition("farfield"), floor)}
    g = apply_boundaries(f.copy(), conds, {"x": (True, True), "y": (True, True)})
    np.testing.assert_array_equal(g[2:-2, :2], 1e-8)                        # x low: prescribed
    np.testing.assert_array_equal(g[2:-2, -2:], np.repeat(f[2:-2, -3:-2], 2, axis=1))  # x high
    np.testing.assert_array_equal(g[:2, 2:-2], np.repeat(f[2:3, 2:-2], 2, axis=0))     # y low
    np.testing.assert_array_equal(g[-2:, 2:-2], 1e-8)                       # y high
    np.testing.assert_array_equal(g[2:-2, 2:-2], f[2:-2, 2:-2])
    np.testing.assert_array_equal(g[:2, :2], f[:2, :2])                     # corners untouched
    with pytest.raises(ValueError):
        BoundaryCondition("reflecting")
    with pytest.raises(ValueError):
        BoundaryCondition("prescribed")
    with pytest.raises(ValueError, match="do not fit"):
        apply_boundaries(f.copy(), [(BoundaryCondition.constant(0.0, 5),) * 2] * 2, [(True, True)] * 2)


def test_fill_periodic_wraps_both_axes():
    a = np.arange(6 * 7, dtype=float).reshape(6, 7, 1)
    fill_periodic(a)
    np.testing.assert_array_equal(a[:2, 2:-2], a[2:4, 2:-2])
    np.testing.assert_array_equal(a[-2:, 2:-2], a[2:4, 2:-2])  # 2 owned rows: the wrap repeats them
    np.testing.assert_array_equal(a[2:-2, :2], a[2:-2, 3:5])
    np.testing.assert_array_equal(a[2:-2, -2:], a[2:-2, 2:4])


@pytest.mark.parametrize("shape", [(9 + 4, 3), (7 + 4, 6 + 4, 3)])
def test_nodal_values_owned_plus_ghosts_equals_all(shape):
    # the solver evaluates owned cells while the halo is in flight and ghosts after: same values
    from hpcclose.scheme.flux import nodal_values

    rng = np.random.default_rng(3)
    alpha = rng.normal(size=shape)
    m = rng.normal(size=(5, 3))
    whole = nodal_values(alpha, m, False)
    split = np.full_like(whole, np.nan)
    nodal_values(alpha, m, False, out=split, part="owned")
    nodal_values(alpha, m, False, out=split, part="ghosts")
    np.testing.assert_array_equal(split, whole)  # 2D corner ghosts are zero in both
