"""Issue 22: realizability for the discrete measure of the run's rule, at every N (velocity/cone.py, lp.py).

The test is checked against independent solvers (HiGHS's interior-point method on the same depth programme
written in the basis's own coordinates, and non-negative least squares); it must never reject a state the
nodes can represent (1D Legendre at N = 12 and 30 used to reject moments of positive densities)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import linprog, nnls

from hpcclose.velocity import gauss_legendre, make_basis, rules
from hpcclose.velocity.cone import Cone

RNG_SEED = 20250222


def independent_depth(m: np.ndarray, w: np.ndarray, u: np.ndarray) -> float:
    """max t with u/u0 = Σ g m(v_q), g ≥ t w/Σw, by HiGHS's interior-point method in the basis's coordinates."""
    Q, n = m.shape
    cost = np.zeros(Q + 1)
    cost[-1] = -1.0
    a_eq = np.hstack([m.T, ((w / w.sum()) @ m)[:, None]])
    res = linprog(cost, A_eq=a_eq, b_eq=u / u[0], bounds=[(0, None)] * Q + [(None, None)], method="highs-ipm")
    assert res.status == 0
    return float(res.x[-1])


def _moments(m: np.ndarray, w: np.ndarray, g: np.ndarray) -> np.ndarray:
    return (g * w) @ m


def random_states(basis, quad, rng, count: int = 60) -> np.ndarray:
    """Moments of positive densities (mild and peaked), the same perturbed by 5 %, and points of a box
    around the isotropic state: inside, outside and near the boundary."""
    m = basis.evaluate(quad)
    scale = 1.0 / np.abs(m).max(axis=0)
    pos = _moments(m, quad.weights, np.exp(rng.normal(0, 2.0, (count, basis.n)) * scale @ m.T))
    peaked = _moments(m, quad.weights, np.exp(rng.normal(0, 6.0, (count, basis.n)) * scale @ m.T))
    perturbed = pos * (1 + 0.05 * rng.normal(size=pos.shape))
    perturbed[:, 0] = pos[:, 0]
    iso = basis.isotropic(1.0, quad)
    box = iso + rng.uniform(-1.5, 1.5, (count, basis.n)) * np.abs(m).max(axis=0)
    box[:, 0] = 1.0
    return np.concatenate([pos, peaked, perturbed, box])


CASES = ([(k, 2, N) for k in ("monomial", "spherical_harmonics") for N in range(1, 6)]
         + [("legendre", 1, N) for N in (1, 2, 5, 12)] + [("monomial", 1, 3)])


@pytest.mark.parametrize("kind, dim, N", CASES)
def test_realizability_agrees_with_an_independent_lp(kind, dim, N):
    rng = np.random.default_rng(RNG_SEED + 7 * N + dim)
    quad = rules.default(dim, N)
    basis = make_basis(kind, dim, N).on(quad)
    u = random_states(basis, quad, rng)
    margin = basis.realizability_margin(u)
    ref = np.array([independent_depth(basis.evaluate(quad), quad.weights, row) for row in u])
    clear = np.abs(ref) > 1e-6  # the LP's tolerance; nearer the boundary NNLS decides independently
    assert 0.05 < np.mean(ref > 0) < 0.95
    np.testing.assert_array_equal(margin[clear] > 0, ref[clear] > 0)
    m = basis.evaluate(quad)
    for row, value in zip(u[~clear], margin[~clear], strict=True):
        residual = nnls(m.T, row / row[0])[1]
        assert (value > 0) == (residual < 1e-9) or 1e-11 < residual < 1e-7, (value, residual)
    # the margin is the depth or a bound on it on the same side of zero: lower bounds inside, upper outside
    assert np.all(margin[margin > 0] <= ref[margin > 0] + 1e-6)
    assert np.all(margin[margin <= 0] >= ref[margin <= 0] - 1e-6)
    np.testing.assert_array_equal(basis.is_realizable(u), margin > 0)


@pytest.mark.parametrize("N", [12, 30])
def test_moments_of_positive_nodal_densities_are_never_rejected_1d(N):
    """The issue: Legendre N = 12 rejected 2 of 300, N = 30 80 of 300 (margins down to −1.7e−7)."""
    rng = np.random.default_rng(RNG_SEED + N)
    quad = gauss_legendre(60)
    basis = make_basis("legendre", 1, N).on(quad)
    m = basis.evaluate(quad)
    alphas = rng.normal(0, 1.5, (300, basis.n))
    u = _moments(m, quad.weights, np.exp(alphas @ m.T))
    margin = basis.realizability_margin(u)
    assert np.all(margin > 0), np.sort(margin)[:3]
    # the same states, non-negative (not positive) nodal densities: zero at a third of the nodes
    g = np.exp(alphas @ m.T) * (rng.uniform(size=(300, quad.size)) > 1 / 3)
    assert np.all(basis.realizability_margin(_moments(m, quad.weights, g)) > 0)
    # and a state just outside (the mass at the most extreme node moved beyond it) is rejected
    out = np.array([1.0, *(m[-1, 1:] * 1.001)])
    assert basis.realizability_margin(out) <= 0 and nnls(m.T, out)[1] > 1e-6


@pytest.mark.parametrize("kind, dim, N", [("monomial", 2, 4), ("spherical_harmonics", 2, 5), ("legendre", 1, 8)])
def test_boundary_states_and_special_inputs(kind, dim, N):
    quad = rules.default(dim, N)
    basis = make_basis(kind, dim, N).on(quad)
    m = basis.evaluate(quad)
    iso = basis.isotropic(1.0, quad)
    assert basis.realizability_margin(iso) == pytest.approx(1.0, abs=1e-12)  # all isotropic: depth 1
    assert basis.realizability_margin(3.5 * iso) == pytest.approx(1.0, abs=1e-12)  # scale-free in u0
    # a node's own vector (a Dirac there) is on the boundary but representable: the smallest positive margin
    assert 0 < basis.realizability_margin(m[3]) < 1e-6
    # half isotropic, half a Dirac at a node: depth ½ exactly (a Dirac at a node is an extreme ray for N ≥ 2),
    # the margin ½ or a certified lower bound
    assert 0 < basis.realizability_margin(0.5 * iso + 0.5 * m[3]) <= 0.5 + 1e-9
    assert basis.realizability_margin(np.r_[0.0, iso[1:]]) == -np.inf
    assert basis.realizability_margin(-iso) == -np.inf
    assert np.isnan(basis.realizability_margin(np.r_[1.0, np.nan, iso[2:]]))
    assert basis.realizability_margin(np.zeros((0, basis.n))).shape == (0,)
    assert basis.realizability_margin(np.broadcast_to(iso, (2, 3, basis.n))).shape == (2, 3)


def test_a_rule_that_cannot_resolve_the_basis_is_refused():
    with pytest.raises(ValueError, match="cannot resolve"):
        make_basis("legendre", 1, 12).on(gauss_legendre(10)).cone  # noqa: B018
    assert isinstance(make_basis("legendre", 1, 3).on(gauss_legendre(10)).cone, Cone)


def test_plane_source_at_n30_runs_past_step_1():
    """The issue: the guard stopped the N = 30 plane source at step 1 (round-off in the Hankel test)."""
    from pathlib import Path

    from mpi4py import MPI

    from hpcclose import config
    from hpcclose.solver import Simulation

    text = (Path(__file__).resolve().parents[2] / "inputs" / "plane_source_m2.toml").read_text()
    cfg = config.parse(text.replace("quadrature = 10\n", ""), "ps.toml",
                       ["velocity.order=30", "mesh.cells=40", "scheme.max_steps=12"])
    sim = Simulation(cfg, comm=MPI.COMM_SELF)
    assert sim.quad.name == "gauss_legendre(93)"
    while not sim.done():
        sim.step()
    assert sim.step_count == 12 and sim.guard.state.margin > 0


@pytest.mark.parametrize("kind, dim, N", [("monomial", 2, 2), ("spherical_harmonics", 2, 4), ("legendre", 1, 7)])
def test_the_warm_start_from_multipliers_keeps_the_verdicts(kind, dim, N):
    """The guard passes the closure's α (of a nearby state): the certificate search starts there. The
    verdicts must be those without α and the independent LP's, whatever α is (near, random, not finite)."""
    rng = np.random.default_rng(RNG_SEED + 31 * N + dim)
    quad = rules.default(dim, N)
    basis = make_basis(kind, dim, N).on(quad)
    m = basis.evaluate(quad)
    scale = 1.0 / np.abs(m).max(axis=0)
    alphas = rng.normal(0, 3.0, (80, basis.n)) * scale
    u = np.concatenate([random_states(basis, quad, rng, 20), _moments(m, quad.weights, np.exp(alphas @ m.T))])
    cold = basis.realizability_margin(u)
    ref = np.array([independent_depth(m, quad.weights, row) for row in u])
    clear = np.abs(ref) > 1e-6
    near = np.concatenate([rng.normal(0, 1.0, (80, basis.n)) * scale, alphas])  # the generating α for the last 80
    junk = rng.normal(0, 50.0, u.shape)
    junk[::7] = np.nan
    for alpha in (near, alphas[rng.integers(0, 80, u.shape[0])] + 1e-3, junk):
        warm = basis.realizability_margin(u, alpha)
        np.testing.assert_array_equal(warm > 0, cold > 0)
        np.testing.assert_array_equal(warm[clear] > 0, ref[clear] > 0)
        assert np.all(warm[warm > 0] <= ref[warm > 0] + 1e-6)
    # from the generating α itself the first try succeeds: the bound is the density's smallest value over ŵ
    # (where the reach test does not settle the cell first)
    cone = basis.cone
    omega = u[-80:] @ cone.to_orth.T / u[-80:, :1]
    anisotropic = 1.0 - cone.reach * np.linalg.norm(omega[:, 1:], axis=1) <= 0
    dens = np.exp(alphas @ m.T) * quad.weights.sum() / u[-80:, :1]
    warm = basis.realizability_margin(u[-80:], alphas)
    assert anisotropic.sum() > 20
    np.testing.assert_allclose(warm[anisotropic], dens[anisotropic].min(axis=1), rtol=1e-6, atol=1e-12)
