"""Velocity space: quadrature rules, moment bases (values, symmetry, isotropic moments), realizability."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from numpy.polynomial import legendre as npleg
from scipy.spatial import cKDTree

from hpcclose.velocity import Basis, Quadrature, gauss_legendre, make_basis, sphere_product
from hpcclose.velocity.realizability import m2_boundary_distance

RNG_SEED = 20240611


# --- helpers -------------------------------------------------------------------------------------------
def sphere_monomial_integral(a: int, b: int, c: int) -> float:
    """∫_{S²} vx^a vy^b vz^c dΩ (dΩ = dμ dφ): 0 if any exponent is odd, else 2ΠΓ((e+1)/2)/Γ((a+b+c+3)/2)."""
    if a % 2 or b % 2 or c % 2:
        return 0.0
    return 2.0 * math.gamma((a + 1) / 2) * math.gamma((b + 1) / 2) * math.gamma((c + 1) / 2) / math.gamma(
        (a + b + c + 3) / 2)


def reflect(quad: Quadrature, d: int) -> Quadrature:
    """The rule with every node reflected in v_d → −v_d (1D: μ → −μ; 2D: φ → π − φ (d=0), φ → −φ (d=1))."""
    vel = quad.velocity.copy()
    vel[:, d] = -vel[:, d]
    if quad.dim == 1:
        return Quadrature(vel, quad.weights, -quad.mu, quad.phi, quad.name + "-reflected")
    phi = np.pi - quad.phi if d == 0 else -quad.phi
    return Quadrature(vel, quad.weights, quad.mu, phi, quad.name + f"-reflected{d}")


def random_sphere_rule(npts: int, seed: int) -> Quadrature:
    """Random points on the sphere packed as a Quadrature (weights unused): tests pointwise identities."""
    rng = np.random.default_rng(seed)
    mu = rng.uniform(-1, 1, npts)
    phi = rng.uniform(0, 2 * np.pi, npts)
    s = np.sqrt(1 - mu**2)
    return Quadrature(np.stack([s * np.cos(phi), s * np.sin(phi)], 1), np.ones(npts), mu, phi, "random")


ALL_BASES = ([Basis(k, 1, N) for k in ("monomial", "legendre") for N in range(0, 10)]
             + [Basis(k, 2, N) for k in ("monomial", "spherical_harmonics") for N in range(0, 5)])


def fine_rule(basis: Basis) -> Quadrature:
    return gauss_legendre(40) if basis.dim == 1 else sphere_product(24, 48)


# --- quadrature ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("order", [1, 2, 3, 5, 8, 13, 30])
def test_gauss_legendre_weights_and_exactness(order):
    q = gauss_legendre(order)
    assert q.dim == 1 and q.size == order
    assert np.all(q.weights > 0)
    assert q.weights.sum() == pytest.approx(2.0, rel=1e-14)
    assert np.all(np.abs(q.mu) < 1) and np.array_equal(q.mu, q.velocity[:, 0]) and np.all(q.phi == 0)
    for k in range(2 * order):  # exact up to degree 2·order − 1
        exact = 2.0 / (k + 1) if k % 2 == 0 else 0.0
        assert q.integrate(q.mu**k) == pytest.approx(exact, rel=1e-13, abs=1e-14), k
    # ... and not beyond: the nodes are the zeros of P_order, so the rule gives ⟨P_order²⟩ = 0 ≠ 2/(2·order+1)
    p_n = npleg.Legendre.basis(order)(q.mu)
    assert abs(q.integrate(p_n**2)) < 1e-12


def test_gauss_legendre_rejects_bad_order():
    with pytest.raises(ValueError):
        gauss_legendre(0)
    with pytest.raises(ValueError):
        sphere_product(0, 4)


def test_integrate_batches_over_leading_axes():
    q = gauss_legendre(6)
    vals = np.stack([np.ones(6), q.mu**2, q.mu**3])
    np.testing.assert_allclose(q.integrate(vals), [2.0, 2.0 / 3.0, 0.0], atol=1e-15)


@pytest.mark.parametrize("n_mu,n_phi", [(1, 1), (2, 3), (3, 6), (4, 8), (6, 5), (5, 12)])
def test_sphere_product_weights_and_exactness(n_mu, n_phi):
    q = sphere_product(n_mu, n_phi)
    assert q.dim == 2 and q.size == n_mu * n_phi
    assert np.all(q.weights > 0)
    assert q.weights.sum() == pytest.approx(4 * np.pi, rel=1e-14)
    vx, vy, vz = q.velocity[:, 0], q.velocity[:, 1], q.mu
    np.testing.assert_allclose(vx**2 + vy**2 + vz**2, 1.0, atol=1e-15)
    np.testing.assert_allclose(np.arctan2(vy, vx) % (2 * np.pi), q.phi, atol=1e-13)
    deg = min(2 * n_mu - 1, n_phi - 1)
    for a, b, c in itertools.product(range(deg + 1), repeat=3):
        if a + b + c <= deg:
            got = q.integrate(vx**a * vy**b * vz**c)
            assert got == pytest.approx(sphere_monomial_integral(a, b, c), abs=1e-13), (a, b, c)


def test_sphere_product_exactness_bound_is_sharp():
    q = sphere_product(20, 6)  # φ rule fails first: vx^6 contains cos 6φ
    assert abs(q.integrate(q.velocity[:, 0] ** 6) - sphere_monomial_integral(6, 0, 0)) > 1e-3
    q = sphere_product(3, 40)  # μ rule fails first: degree 6 = 2·3
    assert abs(q.integrate(q.mu**6) - sphere_monomial_integral(0, 0, 6)) > 1e-6


# --- 1D bases ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("N", range(1, 10))
@pytest.mark.parametrize("kind", ["monomial", "legendre"])
def test_1d_basis_values_size_labels(kind, N):
    b = make_basis(kind, 1, N)
    assert b == Basis(kind, 1, N)
    assert b.n == N + 1
    # named after the basis function (hpcclose.velocity.names): u0, then u_x, u_xx, … or u_P1, u_P2, …
    assert b.labels == ["u0"] + [f"u_{'x' * k}" if kind == "monomial" else f"u_P{k}" for k in range(1, N + 1)]
    q = gauss_legendre(12)
    m = b.evaluate(q)
    assert m.shape == (12, N + 1)
    for k in range(N + 1):
        ref = q.mu**k if kind == "monomial" else npleg.Legendre.basis(k)(q.mu)
        np.testing.assert_allclose(m[:, k], ref, rtol=1e-13, atol=1e-14)
    np.testing.assert_array_equal(m[:, 0], 1.0)
    if kind == "legendre":  # ⟨P_i P_j⟩ = 2/(2i+1) δ_ij and P_k(1) = 1
        gram = (m.T * q.weights) @ m
        np.testing.assert_allclose(gram, np.diag(2.0 / (2 * np.arange(N + 1) + 1)), atol=1e-14)
        end = Quadrature(np.array([[1.0]]), np.ones(1), np.ones(1), np.zeros(1), "endpoint")
        np.testing.assert_allclose(b.evaluate(end)[0], 1.0, rtol=1e-14)


def test_basis_rejects_bad_combinations():
    for args in [("chebyshev", 1, 1), ("monomial", 3, 1), ("monomial", 1, -1),
                 ("spherical_harmonics", 1, 2), ("legendre", 2, 2)]:
        with pytest.raises(ValueError):
            Basis(*args)
    with pytest.raises(ValueError):
        Basis("monomial", 1, 2).evaluate(sphere_product(3, 5))


# --- 2D bases ------------------------------------------------------------------------------------------
def test_2d_monomial_m1_m2():
    q = sphere_product(5, 9)
    vx, vy = q.velocity[:, 0], q.velocity[:, 1]
    b1 = Basis("monomial", 2, 1)
    assert b1.n == 3 and b1.labels == ["u0", "u_x", "u_y"]
    np.testing.assert_array_equal(b1.evaluate(q), np.stack([np.ones_like(vx), vx, vy], 1))
    b2 = Basis("monomial", 2, 2)
    assert b2.n == 6 and b2.labels == ["u0", "u_x", "u_y", "u_xx", "u_xy", "u_yy"]
    np.testing.assert_allclose(b2.evaluate(q), np.stack([np.ones_like(vx), vx, vy, vx**2, vx * vy, vy**2], 1),
                               rtol=1e-15)


@pytest.mark.parametrize("N", range(0, 6))
def test_2d_sizes_agree(N):
    assert Basis("monomial", 2, N).n == Basis("spherical_harmonics", 2, N).n == (N + 1) * (N + 2) // 2


@pytest.mark.parametrize("N", range(0, 6))
def test_spherical_harmonics_orthogonal_and_normalised(N):
    b = Basis("spherical_harmonics", 2, N)
    q = sphere_product(N + 4, 2 * N + 6)  # exact for degree 2N + 5 ≥ products of two harmonics
    y = b.evaluate(q)
    np.testing.assert_allclose(y[:, 0], 1.0, rtol=1e-14)
    gram = (y.T * q.weights) @ y
    # scaled by √(4π) so that Y_00 = 1: ⟨Y_i Y_j⟩ = 4π δ_ij
    np.testing.assert_allclose(gram, 4 * np.pi * np.eye(b.n), atol=1e-12)
    # every harmonic is even in μ = v_z (the 2D reduction)
    flipped = Quadrature(q.velocity, q.weights, -q.mu, q.phi, "z-flipped")
    np.testing.assert_allclose(b.evaluate(flipped), y, atol=1e-13)


def test_spherical_harmonics_low_degree_formulas():
    b = Basis("spherical_harmonics", 2, 2)
    assert b.labels == ["u0", "u_Y1s1", "u_Y1c1", "u_Y2s2", "u_Y2c0", "u_Y2c2"]
    q = random_sphere_rule(200, 1)
    vx, vy, mu = q.velocity[:, 0], q.velocity[:, 1], q.mu
    ref = np.stack([np.ones_like(vx), np.sqrt(3) * vy, np.sqrt(3) * vx, np.sqrt(15) * vx * vy,
                    np.sqrt(5) / 2 * (3 * mu**2 - 1), np.sqrt(15) / 2 * (vx**2 - vy**2)], 1)
    np.testing.assert_allclose(b.evaluate(q), ref, atol=1e-13)


@pytest.mark.parametrize("N", range(0, 6))
def test_spherical_harmonics_span_2d_monomials(N):
    sh, mono = Basis("spherical_harmonics", 2, N), Basis("monomial", 2, N)
    q = random_sphere_rule(400, N)  # points the basis construction never saw
    y, p = sh.evaluate(q), mono.evaluate(q)
    assert np.linalg.matrix_rank(np.hstack([y, p]), tol=1e-9) == sh.n == np.linalg.matrix_rank(p, tol=1e-9)
    np.testing.assert_allclose(y, p @ sh.to_monomial.T, atol=1e-11)  # m(v) = T · mono(v)


# --- symmetry flips ------------------------------------------------------------------------------------
@pytest.mark.parametrize("basis", ALL_BASES, ids=lambda b: f"{b.kind}-{b.dim}D-N{b.N}")
def test_flips_match_reflected_nodes(basis):
    q = fine_rule(basis) if basis.dim == 1 else random_sphere_rule(300, basis.N)
    m = basis.evaluate(q)
    assert basis.flips.shape == (basis.dim, basis.n)
    assert set(np.unique(basis.flips)) <= {-1.0, 1.0}
    for d in range(basis.dim):
        mr = basis.evaluate(reflect(q, d))
        np.testing.assert_allclose(mr, m * basis.flips[d], atol=1e-12, err_msg=f"dimension {d}")
    assert np.all(basis.flips[:, 0] == 1.0)


# --- isotropic moments ---------------------------------------------------------------------------------
def test_isotropic_1d():
    for N in range(0, 10):
        mono = Basis("monomial", 1, N).isotropic(2.5)
        ref = np.array([2.5 / (k + 1) if k % 2 == 0 else 0.0 for k in range(N + 1)])
        np.testing.assert_allclose(mono, ref, rtol=1e-14, atol=1e-15)
        leg = Basis("legendre", 1, N).isotropic(2.5)
        np.testing.assert_allclose(leg, np.eye(N + 1)[0] * 2.5, atol=1e-14)


def test_isotropic_2d_and_batched():
    np.testing.assert_allclose(Basis("monomial", 2, 1).isotropic(), [1, 0, 0], atol=1e-15)
    np.testing.assert_allclose(Basis("monomial", 2, 2).isotropic(3.0), [3, 0, 0, 1, 0, 1], atol=1e-14)
    np.testing.assert_allclose(Basis("spherical_harmonics", 2, 3).isotropic(2.0), np.eye(10)[0] * 2,
                               atol=1e-14)
    u0 = np.array([[1.0, 2.0], [0.5, 4.0]])
    iso = Basis("monomial", 1, 2).isotropic(u0)
    assert iso.shape == (2, 2, 3)
    np.testing.assert_allclose(iso[..., 2], u0 / 3, rtol=1e-14)
    # with a given rule: the vector that is exactly isotropic under it (a coarse rule is not exact for μ²)
    q = gauss_legendre(1)
    np.testing.assert_allclose(Basis("monomial", 1, 2).isotropic(1.0, q), [1, 0, 0], atol=1e-15)


def test_isotropic_is_the_moments_of_a_constant_density():
    for b in ALL_BASES:
        q = fine_rule(b)
        u0 = 1.7
        const = u0 / q.weights.sum()
        ref = q.integrate(b.evaluate(q).T * const)
        np.testing.assert_allclose(b.isotropic(u0), ref, atol=1e-13, err_msg=b.describe())


# --- change of basis to monomials ----------------------------------------------------------------------
@pytest.mark.parametrize("N", range(0, 10))
def test_to_monomial_1d(N):
    assert np.array_equal(Basis("monomial", 1, N).to_monomial, np.eye(N + 1))
    T = Basis("legendre", 1, N).to_monomial
    for k in range(N + 1):
        coeffs = np.zeros(N + 1)
        c = npleg.leg2poly(np.eye(k + 1)[k])
        coeffs[: c.size] = c
        np.testing.assert_allclose(T[k], coeffs, atol=1e-11)
    q = gauss_legendre(17)
    np.testing.assert_allclose(Basis("legendre", 1, N).evaluate(q), Basis("monomial", 1, N).evaluate(q) @ T.T,
                               atol=1e-12)


# --- realizability -------------------------------------------------------------------------------------
def test_margin_is_distance_for_1d_m1():
    rng = np.random.default_rng(RNG_SEED)
    u0 = rng.uniform(1e-3, 10, 500)
    w1 = rng.uniform(-1.5, 1.5, 500)
    u = np.stack([u0, u0 * w1], 1)
    for kind in ("monomial", "legendre"):
        b = Basis(kind, 1, 1)
        np.testing.assert_allclose(b.realizability_margin(u), 1 - np.abs(w1), atol=1e-14)
        np.testing.assert_array_equal(b.is_realizable(u), np.abs(w1) < 1)


def _positive_density_moments(b: Basis, q: Quadrature, alphas: np.ndarray) -> np.ndarray:
    m = b.evaluate(q)
    return (np.exp(alphas @ m.T) * q.weights) @ m


@pytest.mark.parametrize("N", range(1, 8))
@pytest.mark.parametrize("kind", ["monomial", "legendre"])
def test_moments_of_positive_densities_are_realizable_1d(kind, N):
    rng = np.random.default_rng(RNG_SEED + N)
    b = Basis(kind, 1, N)
    alphas = rng.normal(0, 1.5, (300, b.n))
    u = _positive_density_moments(b, gauss_legendre(60), alphas)
    marg = b.realizability_margin(u)
    assert marg.shape == (300,)
    assert np.all(marg > 0), marg.min()
    assert np.all(b.is_realizable(u))
    # the margin is scale-free in u0
    np.testing.assert_allclose(b.realizability_margin(7.0 * u), marg, rtol=1e-8, atol=1e-15)


@pytest.mark.parametrize("kind,N", [("monomial", 1), ("monomial", 2), ("spherical_harmonics", 1),
                                    ("spherical_harmonics", 2)])
def test_moments_of_positive_densities_are_realizable_2d(kind, N):
    rng = np.random.default_rng(RNG_SEED + 10 * N)
    b = Basis(kind, 2, N)
    alphas = rng.normal(0, 2.0, (300, b.n))
    u = _positive_density_moments(b, sphere_product(20, 40), alphas)
    assert np.all(b.realizability_margin(u) > 0)
    assert np.all(b.is_realizable(u))


def test_margin_batched_shapes():
    b = Basis("monomial", 1, 3)
    u = np.broadcast_to(b.isotropic(1.0), (4, 5, 4))
    assert b.realizability_margin(u).shape == (4, 5)
    assert b.realizability_margin(b.isotropic(1.0)).shape == ()
    assert bool(b.is_realizable(b.isotropic(1.0)))


@pytest.mark.parametrize("kind", ["monomial", "legendre"])
@pytest.mark.parametrize("N", [1, 2, 3, 4])
def test_unrealizable_1d(kind, N):
    b = Basis(kind, 1, N)
    T = b.to_monomial
    iso = Basis("monomial", 1, N).isotropic(1.0)

    def from_mono(mono):
        return np.asarray(mono) @ T.T

    for w1 in (1.0, -1.0, 1.2, -3.0):  # |u1| ≥ u0 (u1 = ±u0 is on the boundary: not in the interior)
        mono = iso.copy()
        mono[1] = w1
        if N >= 2:
            mono[2] = 1.0
        assert not b.is_realizable(from_mono(mono)), w1
        assert b.realizability_margin(from_mono(mono)) <= 1e-12
    for u0 in (0.0, -1.0):  # u0 ≤ 0
        mono = iso * (1.0 if u0 == 0 else -1.0)
        mono[0] = u0
        assert b.realizability_margin(from_mono(mono)) == -np.inf
        assert not b.is_realizable(from_mono(mono))
    if N >= 2:  # u2 < u1²
        for w1, w2 in ((0.5, 0.2), (0.0, -0.1), (0.3, 0.0899), (-0.9, 0.8)):
            mono = iso.copy()
            mono[1], mono[2] = w1, w2
            assert not b.is_realizable(from_mono(mono)), (w1, w2)
        mono = iso.copy()
        mono[2] = 1.05  # u2 > u0
        assert not b.is_realizable(from_mono(mono))
    # the moments of a Dirac lie on the boundary for N ≥ 2 (margin ≈ 0); for N = 1 they are interior
    dirac = np.array([0.3**k for k in range(N + 1)])
    if N >= 2:
        assert abs(b.realizability_margin(from_mono(dirac))) < 1e-12
    else:
        assert b.realizability_margin(from_mono(dirac)) == pytest.approx(0.7, rel=1e-14)


def test_unrealizable_2d():
    for kind in ("monomial", "spherical_harmonics"):
        b1 = Basis(kind, 2, 1)
        T1 = b1.to_monomial
        for ux, uy in ((1.0, 0.0), (0.8, 0.7), (0.0, -1.1)):
            assert not b1.is_realizable(np.array([1.0, ux, uy]) @ T1.T)
        assert b1.is_realizable(np.array([1.0, 0.6, -0.7]) @ T1.T)
        assert b1.realizability_margin(np.array([-1.0, 0.0, 0.0]) @ T1.T) == -np.inf
        np.testing.assert_allclose(b1.realizability_margin(np.array([2.0, 1.2, 1.6]) @ T1.T), 0.0, atol=1e-14)
        b2 = Basis(kind, 2, 2)
        T2 = b2.to_monomial

        def u2(ux, uy, sxx, sxy, syy, T2=T2):
            return np.array([1.0, ux, uy, sxx, sxy, syy]) @ T2.T

        assert b2.is_realizable(u2(0.1, 0.2, 0.3, 0.05, 0.35))
        assert b2.is_realizable(b2.isotropic(1.0))
        assert not b2.is_realizable(u2(0.0, 0.0, 0.6, 0.0, 0.6))   # Σ ≻ 0 but tr Σ > 1
        assert abs(b2.realizability_margin(u2(0.0, 0.0, 0.5, 0.0, 0.5))) < 1e-14  # tr Σ = 1: boundary
        assert not b2.is_realizable(u2(0.0, 0.0, 0.5, 0.0, 0.5001))
        assert not b2.is_realizable(u2(0.5, 0.0, 0.2, 0.0, 0.3))   # Σxx < ux²
        assert not b2.is_realizable(u2(0.0, 0.0, 0.3, 0.35, 0.3))  # Σ indefinite


def test_2d_realizability_beyond_m2_is_the_discrete_test():
    """Issue 22: N > 2 in 2D was a NotImplementedError; without a measure it is the default rule's test."""
    b = Basis("monomial", 2, 3)
    assert b.realizability_margin(b.isotropic(1.0)) == pytest.approx(1.0, abs=1e-12)


# --- exact distance to ∂R for 1D M2 --------------------------------------------------------------------
def _brute_force_distance(w1: np.ndarray, w2: np.ndarray) -> np.ndarray:
    """Dense sampling of ∂R (parabola, top segment), then repeated dense resampling (zoom) around the
    3 nearest samples of each curve: ~1e−15 accurate, independent of the closed-form cubic."""
    p = np.stack([w1, w2], 1)
    t = np.linspace(-1.0, 1.0, 200_001)
    best = np.full(p.shape[0], np.inf)
    for curve in (lambda s: np.stack([s, s * s], -1), lambda s: np.stack([s, np.ones_like(s)], -1)):
        _, idx = cKDTree(curve(t)).query(p, k=3)
        for j in range(3):
            tc, h = t[idx[:, j]], t[1] - t[0]
            for _ in range(3):  # zoom: 1e−5 → 2e−9 → 4e−13 → 8e−17
                tt = np.clip(tc[:, None] + np.linspace(-2 * h, 2 * h, 2001), -1.0, 1.0)
                d = np.linalg.norm(curve(tt) - p[:, None, :], axis=-1)
                k = np.argmin(d, axis=1)
                tc, h = tt[np.arange(p.shape[0]), k], 4 * h / 2000
            best = np.minimum(best, d[np.arange(p.shape[0]), k])
    inside = (w2 > w1 * w1) & (w2 < 1)
    return np.where(inside, best, -best)


@pytest.mark.slow
def test_m2_boundary_distance_against_brute_force():
    rng = np.random.default_rng(RNG_SEED)
    pts = [rng.uniform([-1.5, -0.5], [1.5, 1.5], (400, 2))]
    w1 = rng.uniform(-1, 1, 300)  # inside, log-uniform distance to the parabola
    pts.append(np.stack([w1, w1**2 + 10.0 ** rng.uniform(-6, 0, 300) * (1 - w1**2)], 1))
    s = np.linspace(-0.45, 0.45, 41)  # on the evolute of the parabola (double roots of the cubic)
    pts.append(np.stack([-4 * s**3, 0.5 + 3 * s**2], 1))
    pts.append(np.array([[0.0, 0.5], [0.0, 0.75], [1.0, 1.0], [-1.0, 1.0], [0.999, 0.9985], [0.0, 0.0],
                         [0.2, 0.04], [1.2, 0.3], [-2.0, 3.0], [0.0, 2.0], [0.0, -1.0]]))
    p = np.concatenate(pts)
    got = m2_boundary_distance(p[:, 0], p[:, 1])
    ref = _brute_force_distance(p[:, 0], p[:, 1])
    np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-15)
    assert got.shape == (p.shape[0],)
    # scalar and broadcast inputs
    assert m2_boundary_distance(0.0, 0.5) == pytest.approx(0.5, abs=1e-12)  # equidistant from top & bottom
    assert m2_boundary_distance(np.zeros((2, 3)), 0.25).shape == (2, 3)


def test_m2_boundary_distance_sign_matches_realizability():
    rng = np.random.default_rng(RNG_SEED + 1)
    w = rng.uniform([-1.2, -0.2], [1.2, 1.2], (500, 2))
    b = Basis("monomial", 1, 2)
    u = np.stack([np.ones(500), w[:, 0], w[:, 1]], 1)
    d = m2_boundary_distance(w[:, 0], w[:, 1])
    np.testing.assert_array_equal(d > 0, b.is_realizable(u))
