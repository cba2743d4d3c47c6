"""The Newton M_N closure: accuracy against known multipliers and an independent scipy solve, robustness
near the realizable boundary, regularisation, input checks, warm starts and the registry.

Moments are generated from random multipliers (u = ⟨m e^{α·m}⟩ under the closure's own quadrature, times a
random u0), so every test cell has a known exact answer. Residuals are re-evaluated here with numpy; the
tolerance allows 1e−13·u0 on top of ``tol``·u0 for that re-evaluation (different exp and summation order).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize

from hpcclose.closures import available, get_closure
from hpcclose.closures.newton import CONVERGED, NewtonClosure, kernel_data, make_workspace, newton_cell
from hpcclose.errors import InputError, RealizabilityError
from hpcclose.velocity import gauss_legendre, make_basis, sphere_product
from hpcclose.velocity.realizability import m2_boundary_distance

SEED = 20240611
NCELLS = 10_000  # moments per case (the 1e4)
NSCIPY = 200  # cells per case checked against scipy (16 cases → 3200 independent solves, ~10 s)
REEVAL = 1e-13  # allowance for re-evaluating the residual in numpy (× u0)

CASES = ([("monomial", 1, N) for N in range(1, 8)] + [("legendre", 1, N) for N in range(1, 8)]
         + [("monomial", 2, 1), ("monomial", 2, 2)])


def case_id(case):
    kind, dim, N = case
    return f"{kind}-{dim}D-N{N}"


def quadrature(dim: int):
    return gauss_legendre(30) if dim == 1 else sphere_product(10, 20)


def moments_of(m: np.ndarray, w: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """⟨m e^{α·m}⟩ for every row of alpha, in plain numpy."""
    return (np.exp(alpha @ m.T) * w) @ m


def residual(closure, alpha: np.ndarray, u: np.ndarray) -> np.ndarray:
    m, w = closure.basis.evaluate(closure.quad), closure.quad.weights
    return np.linalg.norm(moments_of(m, w, alpha) - u, axis=1)


def random_moments(basis, quad, ncells: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """(u, α): α̃ uniform in a box that shrinks with N (the exponent varies by at most ±8 in 1D), α0 so
    that u0 is uniform in [1e−3, 10]."""
    m, w = basis.evaluate(quad), quad.weights
    half = 8.0 / basis.N if basis.dim == 1 else 3.0 / basis.N
    alpha = np.zeros((ncells, basis.n))
    alpha[:, 1:] = rng.uniform(-half, half, (ncells, basis.n - 1))
    mass = moments_of(m, w, alpha)[:, 0]
    u0 = rng.uniform(1e-3, 10.0, ncells)
    alpha[:, 0] = np.log(u0 / mass)
    return moments_of(m, w, alpha), alpha


def scipy_multipliers(m: np.ndarray, w: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Independent solve: minimise φ(α) = ⟨e^{α·m}⟩ − α·v (v = u/u0) by scipy's trust-exact from the
    isotropic start, then α0 += log u0."""
    v = u / u[0]

    def parts(a):
        e = w * np.exp(m @ a)
        return e.sum() - a @ v, m.T @ e - v, (m.T * e) @ m

    x0 = np.zeros(v.size)
    x0[0] = -np.log(w.sum())
    res = minimize(lambda a: parts(a)[0], x0, jac=lambda a: parts(a)[1], hess=lambda a: parts(a)[2],
                   method="trust-exact", options=dict(gtol=1e-12, maxiter=1000))
    alpha = res.x.copy()
    alpha[0] += np.log(u[0])
    return alpha


def boundary_m2(delta: float, npts: int, rng) -> np.ndarray:
    """Normalised 1D M2 monomial moments at Euclidean distance ``delta`` from ∂R = {w2 = w1²} ∪ {w2 = 1}:
    boundary points (uniform in arclength) moved inward along the normal, kept if the exact distance
    (m2_boundary_distance) is delta to 1e−6 relative (drops the few near the two corners)."""
    out = []
    arclen = 2.9578857  # ∫_{−1}^{1} √(1 + 4t²) dt
    while sum(len(o) for o in out) < npts:
        k = 4 * npts
        on_parabola = rng.uniform(0.0, arclen + 2.0, k) < arclen
        t = rng.uniform(-1.0, 1.0, k)
        normal = np.stack([-2 * t, np.ones(k)], 1) / np.sqrt(1 + 4 * t * t)[:, None]
        pts = np.where(on_parabola[:, None], np.stack([t, t * t], 1) + delta * normal,
                       np.stack([t, np.full(k, 1.0 - delta)], 1))
        d = m2_boundary_distance(pts[:, 0], pts[:, 1])
        out.append(pts[np.abs(d - delta) < 1e-6 * delta])
    w12 = np.concatenate(out)[:npts]
    return np.column_stack([np.ones(npts), w12])


@pytest.fixture(scope="module")
def m2():
    return make_basis("monomial", 1, 2), gauss_legendre(30)


# --- accuracy -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_random_moments_residual_and_exact_alpha(case):
    kind, dim, N = case
    rng = np.random.default_rng(SEED + 100 * dim + N + (50 if kind == "legendre" else 0))
    basis, quad = make_basis(kind, dim, N), quadrature(dim)
    u, alpha_true = random_moments(basis, quad, NCELLS, rng)
    closure = get_closure("newton", basis, quad, tol=1e-9)
    alpha, stats = closure.multipliers(u)

    assert stats.ncells == NCELLS and stats.ok
    assert stats.regularised.size == 0, f"{stats.regularised.size} cells needed regularisation"
    assert np.all(np.isfinite(alpha))
    res = residual(closure, alpha, u)
    worst = np.argmax(res / u[:, 0])
    assert np.all(res <= (1e-9 + REEVAL) * u[:, 0]), \
        f"cell {worst}: residual {res[worst]:.3e}, u0 {u[worst, 0]:.3e}"
    # the same cells to a tight tolerance reproduce the generating multipliers
    tight = get_closure("newton", basis, quad, tol=1e-12)
    alpha12, _ = tight.multipliers(u[:500])
    ref = alpha_true[:500]
    err = np.linalg.norm(alpha12 - ref, axis=1) / np.maximum(1.0, np.linalg.norm(ref, axis=1))
    assert err.max() < 1e-6, f"cell {np.argmax(err)}: relative α error {err.max():.2e}"


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_agrees_with_independent_scipy_solve(case):
    kind, dim, N = case
    rng = np.random.default_rng(SEED + 7 + 100 * dim + N + (50 if kind == "legendre" else 0))
    basis, quad = make_basis(kind, dim, N), quadrature(dim)
    u, _ = random_moments(basis, quad, NSCIPY, rng)
    alpha, stats = get_closure("newton", basis, quad, tol=1e-12).multipliers(u)
    assert stats.ok and stats.regularised.size == 0
    m, w = basis.evaluate(quad), quad.weights
    for c in range(NSCIPY):
        ref = scipy_multipliers(m, w, u[c])
        rel = np.linalg.norm(alpha[c] - ref) / max(1.0, np.linalg.norm(ref))
        assert rel < 1e-6, f"cell {c}: newton {alpha[c]} vs scipy {ref} (relative {rel:.2e})"


def test_change_of_basis_modes_agree(m2):
    basis, quad = make_basis("legendre", 1, 5), gauss_legendre(30)
    u, alpha_true = random_moments(basis, quad, 300, np.random.default_rng(SEED + 3))
    for mode in ("auto", "always", "never"):
        alpha, stats = get_closure("newton", basis, quad, tol=1e-12, change_basis=mode).multipliers(u)
        assert stats.ok and stats.regularised.size == 0, mode
        err = np.linalg.norm(alpha - alpha_true, axis=1) / np.maximum(1.0, np.linalg.norm(alpha_true, axis=1))
        assert err.max() < 1e-6, (mode, err.max())


def test_cold_start_is_isotropic(m2):
    for basis, quad in [m2, (make_basis("monomial", 2, 2), sphere_product(6, 12)),
                        (make_basis("legendre", 1, 4), gauss_legendre(12))]:
        c = NewtonClosure(basis, quad)
        iso = basis.isotropic(3.0, quad)
        a = c.alpha_cold.copy()
        a[0] += np.log(3.0)
        np.testing.assert_allclose(c.moments(a[None])[0], iso, rtol=1e-13, atol=1e-14)
        alpha, stats = c.multipliers(iso[None])  # isotropic moments: solved by the cold start itself
        assert stats.iterations_max == 0
        np.testing.assert_allclose(alpha[0, 1:], 0.0, atol=1e-14)


# --- near the boundary ----------------------------------------------------------------------------------
def test_m2_near_boundary_1e4():
    """Distance 1e−4 from ∂R: with 300 Gauss–Legendre nodes these moments are inside the discrete
    realizable set (its boundary is ≲ 6.5e−5 from ∂R), so every cell must converge or be regularised
    with r ≤ 1e−4; the multipliers are huge (|α| ~ 1e4) and the Hessian has condition ~1e10."""
    basis, quad = make_basis("monomial", 1, 2), gauss_legendre(300)
    rng = np.random.default_rng(SEED + 11)
    w = boundary_m2(1e-4, 400, rng)
    u = w * rng.uniform(1e-3, 10.0, len(w))[:, None]
    closure = get_closure("newton", basis, quad, tol=1e-9)
    alpha, stats = closure.multipliers(u)
    assert np.all(np.isfinite(alpha))
    assert stats.ok, f"{stats.failed.size} cells failed"
    assert np.all(stats.reg_r <= 1e-4), stats.reg_r.max()
    plain = np.setdiff1d(np.arange(len(u)), stats.regularised)
    res = residual(closure, alpha[plain], u[plain])
    assert np.all(res <= (1e-9 + REEVAL) * u[plain, 0])
    assert np.abs(alpha).max() > 1e3  # really near the boundary
    # regularised cells match their regularised moments
    if stats.regularised.size:
        iso = basis.isotropic(u[stats.regularised, 0], quad)
        target = (1 - stats.reg_r[:, None]) * u[stats.regularised] + stats.reg_r[:, None] * iso
        res_r = residual(closure, alpha[stats.regularised], target)
        assert np.all(res_r <= (1e-9 + REEVAL) * u[stats.regularised, 0])


def test_m2_near_boundary_default_rule_never_silent(m2):
    """With 30 nodes some of the 1e−4 points are outside the discrete realizable set: each cell is either
    converged to its moments or listed as regularised (and matches the regularised moments)."""
    basis, quad = m2
    rng = np.random.default_rng(SEED + 12)
    u = boundary_m2(1e-4, 400, rng) * 2.5
    closure = get_closure("newton", basis, quad)
    alpha, stats = closure.multipliers(u)
    assert np.all(np.isfinite(alpha)) and stats.ok
    assert stats.regularised.size > 0  # the discrete set really is smaller
    r = np.zeros(len(u))
    r[stats.regularised] = stats.reg_r
    target = (1 - r[:, None]) * u + r[:, None] * basis.isotropic(u[:, 0], quad)
    assert np.all(residual(closure, alpha, target) <= (1e-9 + REEVAL) * u[:, 0])


def test_not_realizable_under_quadrature_is_regularised(m2):
    """u2/u0 = 0.998 > μ_max² of 30 nodes: realizable, but not by any density on the nodes."""
    basis, quad = m2
    u = np.array([[2.0, 0.0, 1.996], [1.0, 0.3, 0.5]])
    closure = get_closure("newton", basis, quad)
    alpha, stats = closure.multipliers(u)
    assert list(stats.regularised) == [0] and stats.ok
    assert 0 < stats.reg_r[0] <= 1e-2
    assert closure.last_status[0] != CONVERGED
    assert np.all(np.isfinite(alpha))


# --- input checks ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("bad_row", [[0.0, 0.0, 0.3], [-1.0, 0.0, 0.3], [1.0, 1.0, 1.0], [1.0, -1.2, 0.9],
                                     [1.0, np.nan, 0.3], [1.0, 0.0, 1.5]])
def test_non_realizable_input_raises_naming_the_cell(m2, bad_row):
    basis, quad = m2
    u = np.tile([1.0, 0.1, 0.4], (6, 1))
    u[4] = bad_row
    with pytest.raises(RealizabilityError, match=r"cell 4") as exc:
        get_closure("newton", basis, quad).multipliers(u)
    assert list(exc.value.cells) == [4]


def test_check_false_regularises_instead_of_raising(m2):
    basis, quad = m2
    u = np.array([[1.0, 0.1, 0.4], [1.0, 1.5, 0.9]])  # |u1| > u0
    alpha, stats = get_closure("newton", basis, quad, check=False).multipliers(u)
    assert list(stats.regularised) == [1] and stats.reg_r[0] >= 0.1
    assert np.all(np.isfinite(alpha))
    with pytest.raises(RealizabilityError, match="cell 0"):  # u0 ≤ 0 is always checked
        get_closure("newton", basis, quad, check=False).multipliers(np.array([[-1.0, 0.0, 0.3]]))


def test_failed_cells_are_reported(m2):
    basis, quad = m2
    closure = get_closure("newton", basis, quad, check=False, regularisation=[1e-8])
    u = np.array([[1.0, 0.0, 0.4], [3.0, 0.0, 2.998]])
    alpha, stats = closure.multipliers(u)
    assert list(stats.failed) == [1] and not stats.ok
    np.testing.assert_array_equal(stats.failed_moments, u[1:])
    np.testing.assert_allclose(alpha[1], closure.alpha_cold + [np.log(3.0), 0, 0])
    assert "FAILED" in stats.summary()


# --- warm start -----------------------------------------------------------------------------------------
def test_warm_start_same_answer_fewer_iterations():
    basis, quad = make_basis("monomial", 1, 3), gauss_legendre(30)
    rng = np.random.default_rng(SEED + 21)
    u, _ = random_moments(basis, quad, 2000, rng)
    closure = get_closure("newton", basis, quad, tol=1e-12)
    alpha_prev, _ = closure.multipliers(u)
    u_new = u * (1 + 1e-3 * rng.uniform(-1, 1, u.shape))
    keep = basis.is_realizable(u_new)
    u_new, alpha_prev = u_new[keep], alpha_prev[keep]
    cold, s_cold = closure.multipliers(u_new)
    warm, s_warm = closure.multipliers(u_new, alpha_prev)
    assert s_cold.ok and s_warm.ok and s_warm.regularised.size == 0
    err = np.linalg.norm(warm - cold, axis=1) / np.maximum(1.0, np.linalg.norm(cold, axis=1))
    assert err.max() < 1e-6
    assert s_warm.iterations_mean < 0.5 * s_cold.iterations_mean
    assert s_warm.iterations_max <= s_cold.iterations_max
    # a useless warm start (overflowing exponent) falls back to the cold start
    junk = np.tile([0.0, 900.0, 0.0, 0.0], (len(u_new), 1))
    again, s_junk = closure.multipliers(u_new, junk)
    assert s_junk.ok and np.allclose(again, cold, rtol=1e-6, atol=1e-6)


# --- interface ------------------------------------------------------------------------------------------
def test_registry_and_options(m2):
    basis, quad = m2
    assert "newton" in available()
    c = get_closure("newton", basis, quad, tol=1e-10)
    assert isinstance(c, NewtonClosure) and c.tol == 1e-10 and c.name == "newton" and not c.linear
    alpha, stats = c.multipliers(np.array([2.0, 0.2, 0.9]))  # one cell as a vector
    assert alpha.shape == (3,) and stats.ncells == 1
    bad = [dict(tol=-1.0), dict(tol="small"), dict(tol=True), dict(max_iter=0), dict(max_iter=2.5),
           dict(k0=80, max_iter=60), dict(regularisation=[0.5, 0.1]), dict(regularisation=[0.0, 1.0]),
           dict(regularisation="abc"), dict(check="yes"), dict(change_basis="sometimes")]
    for opts in bad:
        name = next(iter(opts)) if "k0" not in opts else "k0"
        with pytest.raises(InputError, match=name):
            get_closure("newton", basis, quad, **opts)
    with pytest.raises(InputError, match="colour"):
        get_closure("newton", basis, quad, colour="blue")


def test_entropy_and_moments_consistent(m2):
    basis, quad = m2
    u, alpha_true = random_moments(basis, quad, 50, np.random.default_rng(SEED + 31))
    c = get_closure("newton", basis, quad, tol=1e-12)
    h = c.entropy(u)
    np.testing.assert_allclose(h, np.einsum("ij,ij->i", alpha_true, u) - u[:, 0], rtol=1e-9, atol=1e-9)


def test_kernel_callable_for_one_cell(m2):
    """The single-cell kernel other code (a hybrid closure) calls: normalised moments in, α in place."""
    basis, quad = m2
    data = kernel_data(basis, quad)
    n, Qp = data[0].shape
    ws = make_workspace(n, Qp, data[2].shape[0])
    v = np.array([1.0, 0.4, 0.5])
    a = np.array([-np.log(2.0), 0.0, 0.0])
    status, iters = newton_cell(data, ws, v, a, 1e-11, 50, np.inf)
    assert status == CONVERGED and iters > 0
    m, w = basis.evaluate(quad), quad.weights
    assert np.linalg.norm(moments_of(m, w, a[None])[0] - v) <= 1e-11 + REEVAL


def test_regularisation_picks_the_first_r_that_solves(m2):
    """Moments drawn uniformly from the realizable set, 8 nodes: many are outside the discrete set. The
    recorded r must be the first r of the list whose regularised moments a plain solve handles (the
    solver skips only r that a separating hyperplane proves hopeless)."""
    basis, quad = make_basis("monomial", 1, 2), gauss_legendre(8)
    rng = np.random.default_rng(SEED + 41)
    w1 = rng.uniform(-1, 1, 3000)
    w2 = rng.uniform(0, 1, 3000)
    keep = w2 > w1 * w1
    u = np.column_stack([np.ones(keep.sum()), w1[keep], w2[keep]])[:300]
    closure = get_closure("newton", basis, quad, check=False)  # the default r list
    alpha, stats = closure.multipliers(u)
    assert stats.ok and stats.regularised.size > 30
    plain = get_closure("newton", basis, quad, check=False, regularisation=[1.0])
    iso = basis.isotropic(1.0, quad)
    first = np.full(len(u), -1.0)
    for r in closure.regularisation[::-1]:  # the smallest r whose moments converge without regularisation
        _, s = plain.multipliers((1 - r) * u + r * iso)
        solved = np.setdiff1d(np.arange(len(u)), s.regularised)
        first[solved] = r
    _, s0 = plain.multipliers(u)
    first[np.setdiff1d(np.arange(len(u)), s0.regularised)] = 0.0
    got = np.zeros(len(u))
    got[stats.regularised] = stats.reg_r
    np.testing.assert_array_equal(got, first)


def test_results_independent_of_threads_and_lanes(m2, monkeypatch):
    import numba

    import hpcclose.closures.newton.closure as newton_module

    basis, quad = m2
    rng = np.random.default_rng(SEED + 51)
    u, _ = random_moments(basis, quad, 3000, rng)
    u = np.vstack([u, boundary_m2(1e-3, 200, rng)])
    threads = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        a1, s1 = get_closure("newton", basis, quad).multipliers(u)
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        a2, s2 = get_closure("newton", basis, quad).multipliers(u)
    finally:
        numba.set_num_threads(threads)
    monkeypatch.setattr(newton_module, "MAX_LANES", 16)
    a3, s3 = get_closure("newton", basis, quad).multipliers(u)
    np.testing.assert_array_equal(a1, a2)
    np.testing.assert_array_equal(a1, a3)
    assert s1.iterations_mean == s2.iterations_mean == s3.iterations_mean


def test_safe_exp_accuracy():
    """The vectorisable exp of the kernels: ≤ 2 ulp against numpy on [−708, 500], 0 below −708."""
    from numba import njit

    from hpcclose.kernels.fastmath import safe_exp

    @njit(cache=False)
    def apply(x):
        out = np.empty_like(x)
        for i in range(x.size):
            out[i] = safe_exp(x[i])
        return out

    small = np.random.default_rng(SEED).uniform(-1, 1, 100_000)
    x = np.concatenate([np.linspace(-708.0, 500.0, 400_001), small, [0.0, 1.0, -1.0, np.log(2.0)]])
    rel = np.abs(apply(x) / np.exp(x) - 1.0)
    assert rel.max() <= 4.5e-16, (rel.max(), x[np.argmax(rel)])
    assert apply(np.array([0.0]))[0] == 1.0
    np.testing.assert_array_equal(apply(np.array([-709.0, -800.0, -1e300])), 0.0)
