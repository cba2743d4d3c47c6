"""The closed-form slab M1 closure ("m1_exact") and the linear P_N closure ("pn")."""

from __future__ import annotations

import warnings
from decimal import Decimal, localcontext

import numpy as np
import pytest
from scipy.integrate import IntegrationWarning
from scipy.integrate import quad as scipy_quad

from hpcclose.closures import available, get_closure
from hpcclose.closures.m1_exact import M1ExactClosure, inverse_langevin, langevin
from hpcclose.closures.pn import PNClosure
from hpcclose.errors import InputError, RealizabilityError
from hpcclose.velocity import Basis, Quadrature, gauss_legendre, sphere_product

EPS = np.finfo(float).eps


# --- helpers -------------------------------------------------------------------------------------------
def graded_rule(nodes_per_panel: int = 16, ratio: float = 0.25, smallest: float = 1e-6) -> Quadrature:
    """Composite Gauss–Legendre rule on [−1, 1] with panels shrinking geometrically towards ±1.

    It integrates e^{α0 + α1 μ} to ~1e−15 relative for every |α1| ≤ 1e4 (boundary layers of width
    1/|α1| are resolved by the small end panels) with 352 nodes, where a plain Gauss–Legendre rule needs
    thousands (|u1|/u0 = 0.9999 gives |α1| ≈ 1e4).
    """
    nlev = int(np.ceil(np.log(smallest) / np.log(ratio)))
    br = np.concatenate([[0.0], 1.0 - ratio ** np.arange(1, nlev + 1), [1.0]])
    x, w = np.polynomial.legendre.leggauss(nodes_per_panel)
    lo, hi = br[:-1], br[1:]
    mu = ((hi - lo)[:, None] * (x + 1) / 2 + lo[:, None]).ravel()
    ww = ((hi - lo)[:, None] * w / 2).ravel()
    mu, ww = np.concatenate([-mu[::-1], mu]), np.concatenate([ww[::-1], ww])
    return Quadrature(mu[:, None].copy(), ww, mu, np.zeros_like(mu), f"graded({mu.size})")


def quad_moments(alpha: np.ndarray) -> np.ndarray:
    """∫₋₁¹ (1, μ) e^{α0 + α1 μ} dμ by adaptive quadrature (scipy.integrate.quad), for one α.

    Written as e^{α0 + |α1|} ∫ e^{|α1|(sμ − 1)} (1, μ) dμ (s = sign α1): α0 + |α1| is exact in floating
    point when |α1| is large (α0 ≈ −|α1|), so the reference carries no cancellation of its own.
    """
    a0, a1 = alpha
    a, s = abs(a1), (1.0 if a1 >= 0 else -1.0)
    pts = [s * (1 - 10.0 ** -k) for k in range(1, 9)]  # where the boundary layer is
    out = []
    for k in (0, 1):
        with warnings.catch_warnings():  # "roundoff error detected": epsrel is at the rounding level
            warnings.simplefilter("ignore", IntegrationWarning)
            val, _ = scipy_quad(lambda mu, k=k: np.exp(a * (s * mu - 1.0)) * mu**k, -1.0, 1.0, points=pts,
                                epsabs=0.0, epsrel=2e-14, limit=500)
        out.append(val)
    return np.exp(a0 + a) * np.array(out)


def m1_moments(x: np.ndarray, u0: np.ndarray) -> np.ndarray:
    return np.stack([u0, u0 * x], axis=1)


# --- registry and construction -------------------------------------------------------------------------
def test_registered():
    names = available()
    assert "m1_exact" in names and "pn" in names
    b = Basis("monomial", 1, 1)
    assert isinstance(get_closure("m1_exact", b, gauss_legendre(10)), M1ExactClosure)
    assert isinstance(get_closure("pn", b, gauss_legendre(10)), PNClosure)
    assert not M1ExactClosure.linear and PNClosure.linear


@pytest.mark.parametrize("basis", [Basis("monomial", 1, 2), Basis("legendre", 1, 3), Basis("monomial", 1, 0),
                                   Basis("monomial", 2, 1), Basis("spherical_harmonics", 2, 1)],
                         ids=lambda b: f"{b.kind}-{b.dim}D-N{b.N}")
def test_m1_exact_rejects_other_bases(basis):
    q = gauss_legendre(10) if basis.dim == 1 else sphere_product(4, 8)
    with pytest.raises(InputError) as exc:
        get_closure("m1_exact", basis, q)
    assert basis.kind in str(exc.value) and f"N={basis.N}" in str(exc.value)


def test_m1_exact_accepts_both_1d_m1_bases():
    for kind in ("monomial", "legendre"):
        c = get_closure("m1_exact", Basis(kind, 1, 1), gauss_legendre(10))
        alpha, stats = c.multipliers(np.array([[2.0, 0.5]]))
        assert alpha.shape == (1, 2) and stats.ncells == 1 and stats.ok


# --- the Langevin function and its inverse -------------------------------------------------------------
def _langevin_decimal(a: float) -> float:
    """coth a − 1/a in 50-digit decimal arithmetic (reference without cancellation)."""
    with localcontext() as ctx:
        ctx.prec = 50
        d = Decimal(a)
        if d < Decimal("1e-20"):
            return float(d / 3)
        if d > 200:
            return float(1 - 1 / d)  # e^{−2a} below 1e−170
        e = (2 * d).exp()
        return float((e + 1) / (e - 1) - 1 / d)


def test_langevin_values():
    a = np.array([1e-300, 1e-8, 1e-3, 0.1, 0.4999, 0.5, 0.5001, 0.7, 1.0, 3.0, 30.0, 1e4, 1e8])
    ref = np.array([_langevin_decimal(v) for v in a])
    np.testing.assert_allclose(langevin(a), ref, rtol=2e-15)
    np.testing.assert_allclose(langevin(-a), -ref, rtol=2e-15)
    assert langevin(np.array([0.0]))[0] == 0.0
    # continuity across the series/closed-form switch at 0.5
    assert abs(langevin(np.array([np.nextafter(0.5, 0)]))[0] - langevin(np.array([0.5]))[0]) < 1e-15


def test_inverse_langevin_roundtrip():
    a = np.concatenate([np.logspace(-12, 4, 200), [0.4, 0.5, 0.6]])
    x = langevin(a)
    y = np.where(a > 1, 1.0 / a - 2.0 / np.expm1(2.0 * np.minimum(a, 300)), 1.0 - x)
    got, iters = inverse_langevin(np.concatenate([x, -x]), np.concatenate([y, y]))
    np.testing.assert_allclose(got, np.concatenate([a, -a]), rtol=1e-13)
    assert iters.max() <= 6
    g0, it0 = inverse_langevin(np.array([0.0]))
    assert g0[0] == 0.0 and it0[0] == 0


# --- m1_exact against the exact integral ---------------------------------------------------------------
def _tolerance(alpha: np.ndarray) -> np.ndarray:
    """1e−12, or the representation limit of α where that is larger: α0 ≈ −|α1| is a float, so the
    moments of the returned α can be exact only to half its spacing (relative), 9.1e−13 at
    |u1|/u0 = 0.9999 (|α0| ≈ 1e4), 1.2e−10 at 0.9999999 (|α0| ≈ 1e7); 8e−14 covers the other roundings."""
    return np.maximum(1e-12, 0.5 * np.spacing(np.abs(alpha[..., 0])) + 8e-14)


def test_m1_exact_matches_exact_integral():
    rng = np.random.default_rng(7)
    x = np.concatenate([[0.0, 1e-300, -1e-12, 1e-8, -1e-4, 3e-3, 0.1, -0.3, 0.5, 0.5000001, 0.7, -0.95, 0.99],
                        [0.999, -0.9995, 0.9999, -0.9999, 0.99995, 0.9999 + 1e-12],
                        rng.uniform(-1, 1, 20)])
    u0 = 10.0 ** rng.uniform(-8, 2, x.size)
    u = m1_moments(x, u0)
    c = get_closure("m1_exact", Basis("monomial", 1, 1), gauss_legendre(10))
    alpha, stats = c.multipliers(u)
    assert stats.ncells == x.size and stats.iterations_max <= 6 and stats.ok
    tol = _tolerance(alpha)
    for i in range(x.size):
        ref = quad_moments(alpha[i])
        err = np.abs(ref - u[i]) / u0[i]
        assert np.all(err <= tol[i]), (x[i], alpha[i], err, tol[i])
    assert np.all(tol[np.abs(x) <= 0.9999] == 1e-12)  # the representation limit only bites beyond
    # the class's own exact moments agree as well
    assert np.all(np.abs(c.exact_moments(alpha) - u).max(axis=1) / u0 <= tol)
    # α0 = log(u0 α1 / (2 sinh α1)) where that is safe to evaluate directly
    mid = (np.abs(alpha[:, 1]) > 1e-3) & (np.abs(alpha[:, 1]) < 50)
    a1 = alpha[mid, 1]
    np.testing.assert_allclose(alpha[mid, 0], np.log(u0[mid] * a1 / (2 * np.sinh(a1))), rtol=1e-13,
                               atol=1e-13)


def test_m1_exact_near_the_boundary_and_large_alpha():
    c = get_closure("m1_exact", Basis("legendre", 1, 1), gauss_legendre(10))
    y = np.array([1e-4, 1e-5, 1e-6, 1e-7])  # 1 − |u1|/u0, down to |u1|/u0 = 0.9999999
    u0 = np.array([1.0, 3.0, 1e-8, 1e3])
    u = np.stack([u0, -(u0 - y * u0)], 1)
    alpha, stats = c.multipliers(u)
    assert np.all(np.isfinite(alpha)) and stats.ok
    # for |α1| ≫ 1: 1 − L(α1) = 1/α1 up to e^{−2α1}, so α1 = −1/y to rounding
    np.testing.assert_allclose(alpha[:, 1], -1.0 / ((u0 - np.abs(u[:, 1])) / u0), rtol=1e-14)
    assert abs(alpha[-1, 1]) > 9.9e6
    for i in range(2):  # the exact integral (scipy) where the α representation still allows 1e−11
        np.testing.assert_allclose(quad_moments(alpha[i]), u[i], rtol=_tolerance(alpha[i:i + 1])[0])
    rel = np.abs(c.exact_moments(alpha) - u) / np.abs(u)
    assert np.all(rel < _tolerance(alpha)[:, None]), rel


def test_m1_exact_symmetry_scaling_and_shapes():
    c = get_closure("m1_exact", Basis("monomial", 1, 1), gauss_legendre(10))
    rng = np.random.default_rng(3)
    x = rng.uniform(-0.999, 0.999, 50)
    a, _ = c.multipliers(m1_moments(x, np.ones(50)))
    b, _ = c.multipliers(m1_moments(-x, np.ones(50)))
    np.testing.assert_array_equal(a[:, 1], -b[:, 1])  # odd in u1
    np.testing.assert_array_equal(a[:, 0], b[:, 0])   # even in u1
    s, _ = c.multipliers(m1_moments(x, np.full(50, 4.0)))
    np.testing.assert_allclose(s[:, 0], a[:, 0] + np.log(4.0), rtol=1e-14, atol=1e-14)  # α0 += log u0
    np.testing.assert_array_equal(s[:, 1], a[:, 1])
    # a batch of shape (2, 25, 2) keeps its shape; isotropic moments give α = (log(u0/2), 0)
    batched, stats = c.multipliers(m1_moments(x, np.ones(50)).reshape(2, 25, 2))
    assert batched.shape == (2, 25, 2) and stats.ncells == 50
    iso, _ = c.multipliers(np.array([[3.0, 0.0]]))
    np.testing.assert_allclose(iso, [[np.log(1.5), 0.0]], atol=1e-15)
    with pytest.raises(ValueError, match="shape"):
        c.multipliers(np.ones((4, 3)))


def test_m1_exact_entropy_and_quadrature_ansatz():
    c = get_closure("m1_exact", Basis("monomial", 1, 1), gauss_legendre(40))
    u = m1_moments(np.array([0.0, 0.3, -0.6, 0.9]), np.array([1.0, 2.0, 0.5, 1e-3]))
    alpha, _ = c.multipliers(u)
    # h(u) = α·u − u0 for the exact-integral closure
    h_ref = np.einsum("ij,ij->i", alpha, u) - u[:, 0]
    np.testing.assert_allclose(c.entropy(u), h_ref, rtol=1e-13, atol=1e-16)
    # the inherited ansatz/moments use the closure's quadrature: exact here (|α1| ≤ 10, 40 nodes) ...
    np.testing.assert_allclose(c.moments(alpha), u, rtol=1e-13, atol=1e-16)
    # ... but not for a coarse rule at large |α1| (this closure is the exact-integral one)
    coarse = get_closure("m1_exact", Basis("monomial", 1, 1), gauss_legendre(4))
    a2, _ = coarse.multipliers(m1_moments(np.array([0.99]), np.ones(1)))
    assert np.abs(coarse.moments(a2) - [[1.0, 0.99]]).max() > 1e-3
    np.testing.assert_allclose(coarse.exact_moments(a2), [[1.0, 0.99]], rtol=1e-13)


@pytest.mark.parametrize("u", [[1.0, 1.0], [1.0, -1.0], [1.0, 1.5], [0.0, 0.0], [-1.0, 0.1], [np.nan, 0.0],
                               [1.0, np.inf]])
def test_m1_exact_rejects_non_realizable(u):
    c = get_closure("m1_exact", Basis("monomial", 1, 1), gauss_legendre(10))
    good = [2.0, 0.1]
    with pytest.raises(RealizabilityError) as exc:
        c.multipliers(np.array([good, u, good]))
    assert list(exc.value.cells) == [1]


def test_m1_exact_solves_a_batch_in_a_few_whole_array_passes(monkeypatch):
    """What makes m1_exact fast (~0.15 s for 200 000 moments): ≤ 6 Newton passes from Jedynak's start, each
    one vectorised evaluation over all the cells still iterating — never a loop over cells."""
    from hpcclose.closures import m1_exact

    c = get_closure("m1_exact", Basis("monomial", 1, 1), gauss_legendre(10))
    rng = np.random.default_rng(0)
    u = m1_moments(rng.uniform(-0.9999999, 0.9999999, 200_000), 10.0 ** rng.uniform(-8, 2, 200_000))
    passes = []  # cells per evaluation of the Langevin series (once per Newton pass)
    real = m1_exact._langevin_series

    def counted(a):
        passes.append(a.size)
        return real(a)

    monkeypatch.setattr(m1_exact, "_langevin_series", counted)
    alpha, stats = c.multipliers(u)
    assert stats.iterations_max <= 6 and np.all(np.isfinite(alpha))
    assert len(passes) == stats.iterations_max and passes[0] > 10_000


# --- m1_exact against the Newton closure ---------------------------------------------------------------
def test_m1_exact_matches_newton():
    rng = np.random.default_rng(11)
    n = 10_000
    x = rng.uniform(-0.9999, 0.9999, n)
    x[:20], x[20:40] = 0.9999, -0.9999
    x[40:60] = rng.uniform(-1e-6, 1e-6, 20)
    x[60] = 0.0
    x[61:200] = np.sign(rng.normal(size=139)) * (1 - 10.0 ** rng.uniform(-4, -1, 139))
    u0 = 10.0 ** rng.uniform(-8, 1, n)
    u = m1_moments(x, u0)
    q = graded_rule()  # quadrature error < 1e−14 for |α1| ≤ 1e4: like is compared with like
    basis = Basis("monomial", 1, 1)
    exact = get_closure("m1_exact", basis, q)
    newton = get_closure("newton", basis, q, tol=1e-12)
    a_e, _ = exact.multipliers(u)
    a_n, stats = newton.multipliers(u)
    assert stats.ok and stats.regularised.size == 0, stats.summary()
    assert np.abs(a_e[:, 1]).max() > 9e3
    scale = np.maximum(np.abs(a_e), 1.0)
    np.testing.assert_array_less(np.abs(a_n - a_e) / scale, 1e-10)
    # both reproduce u under the graded rule (representation limit ε|α0| included)
    np.testing.assert_array_less(np.abs(exact.moments(a_e) - u).max(1) / u0, _tolerance(a_e))
    # round trip: m1_exact inverts the map α → ⟨m e^{α·m}⟩ that Newton solved
    a_r, _ = exact.multipliers(newton.moments(a_n))
    np.testing.assert_array_less(np.abs(a_r - a_n) / scale, 1e-10)


# --- P_N -----------------------------------------------------------------------------------------------
PN_CASES = ([(Basis(k, 1, N), gauss_legendre(max(N + 1, 10))) for k in ("monomial", "legendre")
             for N in (0, 1, 2, 5, 9)]
            + [(Basis(k, 2, N), sphere_product(N + 2, 2 * N + 3)) for k in ("monomial", "spherical_harmonics")
               for N in (1, 2, 3)])


@pytest.mark.parametrize("basis,q", PN_CASES, ids=lambda v: v.describe() if isinstance(v, Basis) else v.name)
def test_pn_reproduces_moments(basis, q):
    c = get_closure("pn", basis, q)
    rng = np.random.default_rng(basis.n)
    u = rng.normal(size=(200, basis.n))  # P_N needs no realizability (negative densities allowed)
    alpha, stats = c.multipliers(u)
    assert stats.ncells == 200 and stats.ok and stats.iterations_max == 0
    # exact up to round-off, which the conditioning of ⟨m mᵀ⟩ amplifies (1.7e6 for 1D monomials N = 9;
    # Legendre and harmonics are orthogonal: 1e−13 flat)
    tol = 1e-13 * max(1.0, np.linalg.cond(c.mass) / 10)
    err = np.abs(c.moments(alpha) - u).max(axis=1) / np.abs(u).max(axis=1)
    assert err.max() <= tol, (err.max(), tol)
    if basis.kind != "monomial":
        assert err.max() <= 1e-13
    # the ansatz at the nodes is α·m (linear), and the entropy is ½⟨f²⟩ = ½ α·u
    f = c.ansatz(alpha)
    np.testing.assert_allclose(f, alpha @ c.m.T, rtol=1e-15)
    np.testing.assert_allclose(c.entropy(u), 0.5 * (f**2) @ c.w, rtol=10 * tol)
    np.testing.assert_allclose(c.entropy(u, alpha), 0.5 * np.einsum("ij,ij->i", alpha, u), rtol=1e-14)
    # linear in u
    a2, _ = c.multipliers(2.0 * u[:5] - u[5:10])
    np.testing.assert_allclose(a2, 2.0 * alpha[:5] - alpha[5:10], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("N", [1, 2, 3, 7])
def test_pn_legendre_coefficients(N):
    c = get_closure("pn", Basis("legendre", 1, N), gauss_legendre(N + 3))
    np.testing.assert_allclose(c.mass, np.diag(2.0 / (2 * np.arange(N + 1) + 1)), atol=1e-14)
    u = np.random.default_rng(N).normal(size=(10, N + 1))
    alpha, _ = c.multipliers(u)
    np.testing.assert_allclose(alpha, u * (2 * np.arange(N + 1) + 1) / 2, rtol=1e-13, atol=1e-14)
    # f = Σ (2k+1)/2 u_k P_k: the isotropic state is the constant u0/2
    f = c.ansatz(c.multipliers(np.array([[3.0] + [0.0] * N]))[0])
    np.testing.assert_allclose(f, 1.5, rtol=1e-14)


def test_pn_matches_m1_for_small_anisotropy():
    # to first order in α1 the M1 ansatz e^{α0}(1 + α1 μ) is the P1 one
    q = gauss_legendre(10)
    b = Basis("legendre", 1, 1)
    u = np.array([[1.0, 1e-7]])
    f_m1 = get_closure("m1_exact", b, q).ansatz(get_closure("m1_exact", b, q).multipliers(u)[0])
    f_p1 = get_closure("pn", b, q).ansatz(get_closure("pn", b, q).multipliers(u)[0])
    np.testing.assert_allclose(f_m1, f_p1, rtol=1e-13)


def test_pn_input_checks():
    c = get_closure("pn", Basis("legendre", 1, 2), gauss_legendre(5))
    with pytest.raises(RealizabilityError):
        c.multipliers(np.array([[1.0, 0.0, 0.0], [np.nan, 0.0, 0.0]]))
    alpha, _ = c.multipliers(np.array([[-1.0, 5.0, 0.0]]))  # unrealizable but fine for P_N
    assert np.all(np.isfinite(alpha))
    assert c.multipliers(np.array([2.0, 0.0, 0.0]))[0].shape == (3,)  # one cell without a cell axis
    with pytest.raises(ValueError, match="shape"):
        c.multipliers(np.ones((4, 2)))
    with pytest.raises(InputError, match="quadrature"):
        get_closure("pn", Basis("monomial", 1, 4), gauss_legendre(2))  # 2 nodes cannot resolve degree 4
