"""Normalisation / extension helpers (SCIENCE.md §3), checked against the Newton closure's exact entropy
on rules whose weights sum to ⟨1⟩ = 2 (Gauss–Legendre) and ⟨1⟩ = 4π (sphere)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import logsumexp

from hpcclose.closures import get_closure
from hpcclose.closures.scaling import (
    alpha0_from_gradient,
    alpha0_from_normalisation,
    extend_entropy,
    full_alpha,
    normalise,
)
from hpcclose.errors import RealizabilityError
from hpcclose.velocity import gauss_legendre, make_basis, sphere_product

SEED = 31337
SETUPS = [("monomial", 1, 2, gauss_legendre(30)), ("legendre", 1, 3, gauss_legendre(20)),
          ("monomial", 2, 1, sphere_product(8, 16)), ("monomial", 2, 2, sphere_product(8, 16))]


def setup_id(s):
    return f"{s[0]}-{s[1]}D-N{s[2]}-sum{s[3].weights.sum():.3f}"


def exact_normalised(basis, quad, ncells, rng):
    """Normalised moments ω = (1, ω̃) of random multipliers, the Newton solution α̂(ω) and h̃ = h(ω)."""
    m, w = basis.evaluate(quad), quad.weights
    a = np.zeros((ncells, basis.n))
    a[:, 1:] = rng.uniform(-1.5, 1.5, (ncells, basis.n - 1))
    u = (np.exp(a @ m.T) * w) @ m
    omega = u / u[:, :1]
    closure = get_closure("newton", basis, quad, tol=1e-13)
    alpha_hat, stats = closure.multipliers(omega)
    assert stats.ok and stats.regularised.size == 0
    h_tilde = np.einsum("ij,ij->i", alpha_hat, omega) - 1.0  # α̂·ω − ⟨G⟩ with ⟨G⟩ = ω0 = 1
    return closure, omega, alpha_hat, h_tilde


def test_normalise():
    u = np.array([[2.0, 0.5, 1.0], [0.5, -0.1, 0.2]])
    u0, wt = normalise(u)
    np.testing.assert_array_equal(u0, [2.0, 0.5])
    np.testing.assert_allclose(wt, [[0.25, 0.5], [-0.2, 0.4]])
    u0, wt = normalise(u[0])
    assert u0 == 2.0 and wt.shape == (2,)
    with pytest.raises(RealizabilityError, match="flat index 1"):
        normalise(np.array([[1.0, 0.0], [0.0, 0.0]]))
    with pytest.raises(RealizabilityError):
        normalise(np.array([[np.nan, 0.0]]))


@pytest.mark.parametrize("setup", SETUPS, ids=setup_id)
def test_both_alpha0_conventions_agree_for_the_exact_entropy(setup):
    kind, dim, N, quad = setup
    basis = make_basis(kind, dim, N)
    rng = np.random.default_rng(SEED + N + 10 * dim)
    closure, omega, alpha_hat, h_tilde = exact_normalised(basis, quad, 200, rng)
    u0 = 10.0 ** rng.uniform(-3, 1, len(omega))
    u = omega * u0[:, None]
    u0_back, omega_tilde = normalise(u)
    np.testing.assert_allclose(u0_back, u0, rtol=1e-15)
    alpha_tilde = alpha_hat[:, 1:]

    a0_grad = alpha0_from_gradient(h_tilde, omega_tilde, alpha_tilde, u0)
    m_tilde = basis.evaluate(quad)[:, 1:]
    a0_norm = alpha0_from_normalisation(alpha_tilde, m_tilde, quad.weights, u0)
    # both equal the multiplier of the unnormalised problem, solved directly
    alpha_u, stats = closure.multipliers(u)
    assert stats.ok
    np.testing.assert_allclose(a0_grad, alpha_u[:, 0], rtol=0, atol=1e-9)
    np.testing.assert_allclose(a0_norm, alpha_u[:, 0], rtol=0, atol=1e-9)
    np.testing.assert_allclose(full_alpha(alpha_tilde, a0_norm), alpha_u, rtol=0, atol=1e-9)
    # extension of the entropy: h(u) = u0 h̃ + u0 log u0 equals the closure's entropy of u
    np.testing.assert_allclose(extend_entropy(h_tilde, u0), closure.entropy(u, alpha_u), rtol=1e-10,
                               atol=1e-12)


@pytest.mark.parametrize("setup", SETUPS, ids=setup_id)
def test_alpha0_from_gradient_is_the_u0_derivative(setup):
    """∂h/∂u0 at fixed ũ, by central differences of the extended exact entropy, is α̂0 of eq. 37."""
    kind, dim, N, quad = setup
    basis = make_basis(kind, dim, N)
    closure, omega, alpha_hat, h_tilde = exact_normalised(basis, quad, 20, np.random.default_rng(SEED + 1))
    u0 = np.full(len(omega), 1.7)
    ut = omega[:, 1:] * u0[:, None]
    eps = 1e-5

    def h_of(u0_):
        u = np.column_stack([u0_, ut])
        return closure.entropy(u)

    fd = (h_of(u0 + eps) - h_of(u0 - eps)) / (2 * eps)
    a0 = alpha0_from_gradient(h_tilde, ut / u0[:, None], alpha_hat[:, 1:], u0)
    np.testing.assert_allclose(a0, fd, rtol=0, atol=1e-6)


@pytest.mark.parametrize("setup", SETUPS, ids=setup_id)
def test_isotropic_state_no_measure_term(setup):
    """Isotropic density: α̃ = 0, α0 = log(u0/⟨1⟩). ⟨1⟩ (2 or 4π) enters only through h̃ itself,
    h̃_iso = −log⟨1⟩ − 1, so neither formula needs an extra ⟨1⟩ term."""
    kind, dim, N, quad = setup
    basis = make_basis(kind, dim, N)
    mass = quad.weights.sum()
    u0 = np.array([0.3, 5.0])
    omega_tilde = np.tile(basis.isotropic(1.0, quad)[1:], (2, 1))
    alpha_tilde = np.zeros_like(omega_tilde)
    h_iso = np.full(2, -np.log(mass) - 1.0)
    expected = np.log(u0 / mass)
    np.testing.assert_allclose(alpha0_from_gradient(h_iso, omega_tilde, alpha_tilde, u0), expected,
                               rtol=1e-14)
    np.testing.assert_allclose(
        alpha0_from_normalisation(alpha_tilde, basis.evaluate(quad)[:, 1:], quad.weights, u0), expected,
        rtol=1e-14)


def test_conventions_differ_for_an_approximate_entropy():
    """For h̃ + δ (an approximation), the gradient convention shifts α0 by δ; the mass convention keeps
    ⟨exp(α·m)⟩ = u0 exactly whatever α̃ is — the reason both are offered."""
    basis, quad = make_basis("monomial", 1, 2), gauss_legendre(30)
    closure, omega, alpha_hat, h_tilde = exact_normalised(basis, quad, 10, np.random.default_rng(SEED + 2))
    u0 = np.full(10, 3.0)
    alpha_tilde = alpha_hat[:, 1:] * 1.01  # an inexact gradient
    a0_grad = alpha0_from_gradient(h_tilde + 1e-3, omega[:, 1:], alpha_tilde, u0)
    a0_norm = alpha0_from_normalisation(alpha_tilde, basis.evaluate(quad)[:, 1:], quad.weights, u0)
    assert np.all(np.abs(a0_grad - a0_norm) > 1e-4)
    mass = closure.moments(full_alpha(alpha_tilde, a0_norm))[:, 0]
    np.testing.assert_allclose(mass, u0, rtol=1e-13)


def test_normalisation_is_stable_for_large_exponents():
    basis, quad = make_basis("monomial", 1, 1), gauss_legendre(30)
    m_tilde = basis.evaluate(quad)[:, 1:]
    a0 = alpha0_from_normalisation(np.array([[800.0]]), m_tilde, quad.weights, np.array([1.0]))
    assert np.isfinite(a0).all()
    expected = -logsumexp(800.0 * quad.velocity[:, 0], b=quad.weights)  # ≈ −800 μ_max − log w_max
    assert a0[0] == pytest.approx(expected, rel=1e-14)


def test_full_alpha_layout():
    a = full_alpha(np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([-1.0, -2.0]))
    np.testing.assert_array_equal(a, [[-1.0, 1.0, 2.0], [-2.0, 3.0, 4.0]])
    assert full_alpha(np.array([5.0]), np.array(0.5)).tolist() == [0.5, 5.0]
