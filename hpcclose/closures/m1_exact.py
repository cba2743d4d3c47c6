"""Closed-form slab M1 closure ("m1_exact"): the inverse Langevin function.

For the basis m = (1, μ) on μ ∈ [−1, 1] the Maxwell–Boltzmann ansatz G = exp(α0 + α1 μ) has the moments

    u0 = e^{α0} · 2 sinh(α1)/α1,      u1/u0 = L(α1) = coth α1 − 1/α1   (Langevin function),

so α1 = L⁻¹(u1/u0) and α0 = log(u0 α1 / (2 sinh α1)) (SCIENCE.md §2).

**Exact integral, not quadrature.** These formulas use the exact integral ∫₋₁¹, so this closure is the
*exact-integral* M1 closure. The Newton closure ("newton") instead solves ⟨m e^{α·m}⟩_Q = u under its
quadrature Q; both agree only as far as Q integrates e^{α0 + α1 μ}: under a 10-point Gauss–Legendre rule
the moments of this closure's α are off by 2e−16 at |α1| ≈ 1, 4e−7 at |α1| = 10 and 0.5 (relative) at
|α1| = 100 (|u1|/u0 = 0.99). The inherited :meth:`ansatz` and
:meth:`moments` evaluate the ansatz at the closure's quadrature nodes (what the flux kernels use), so
``moments(multipliers(u))`` reproduces u only to the quadrature error of the rule for that α;
:meth:`exact_moments` gives the exact integrals, and :meth:`entropy` uses them (h = α·u − ⟨G⟩ exact).

Accuracy. α1 is found from a rational first guess (Jedynak 2015, max. relative error 1.5 %) polished
by Newton until the step is below ``tol`` (default 1e−13) relative. Near the origin L is evaluated by
its Taylor series (no cancellation in coth α − 1/α); for |u1|/u0 > ½ the equation is solved in the form
1 − L(α) = 1/α − 2/(e^{2α} − 1) = 1 − |u1|/u0 = (u0 − |u1|)/u0, which keeps full relative accuracy of
α1 up to |u1|/u0 → 1 (|α1| ~ 1e7 at |u1|/u0 = 1 − 1e−7). α0 = (log u0 + log|α1| − log1p(−e^{−2|α1|}))
− |α1| is formed with one rounding of the large term, and nothing overflows. The representation itself
limits accuracy near the boundary: α0 ≈ −|α1| is a float, so the moments of the returned α are exact
only to half its spacing, relative: 9.1e−13 at |u1|/u0 = 0.9999 (|α1| ≈ 1e4), 1.2e−10 at 0.9999999.
The tests compare with the exact integral (scipy.integrate.quad) to max(1e−12, that limit).
"""

from __future__ import annotations

from fractions import Fraction
from math import comb, factorial

import numpy as np
from pydantic import Field

from ..errors import InputError
from ..velocity import Basis, Quadrature
from .base import Closure, ClosureOptions, ClosureStats

# Taylor series of the Langevin function: L(a) = Σ_{k≥1} c_k a^{2k−1}, c_k = 2^{2k} B_{2k} / (2k)!
_NSERIES = 12


def _langevin_coefficients(nterms: int) -> np.ndarray:
    """c_1 … c_nterms in exact rational arithmetic (scipy.special.bernoulli is only ~1e−12 accurate)."""
    bern = [Fraction(1)]
    for m in range(1, 2 * nterms + 1):
        bern.append(-sum(comb(m + 1, k) * bern[k] for k in range(m)) / (m + 1))
    return np.array([float(Fraction(4**k) * bern[2 * k] / factorial(2 * k)) for k in range(1, nterms + 1)])


_LCOEF = _langevin_coefficients(_NSERIES)
# Below this |a| the series is used (relative truncation error ~ (0.5/π)^24 ≈ 1e−19).
_SERIES_MAX = 0.5
# Above this |u1|/u0 the equation is written for 1 − L (see module docstring).
_UPPER_X = 0.5


def _langevin_series(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """L(a) and L'(a) by the Taylor series (|a| ≤ _SERIES_MAX)."""
    a2 = a * a
    val = np.zeros_like(a)
    der = np.zeros_like(a)
    for k in range(_NSERIES - 1, -1, -1):  # Horner in a²
        val = val * a2 + _LCOEF[k]
        der = der * a2 + (2 * k + 1) * _LCOEF[k]
    return val * a, der


def _csch2(a: np.ndarray) -> np.ndarray:
    """1/sinh²(a) for a > 0 without overflow: (2 e^{−a} / (1 − e^{−2a}))²."""
    return (2.0 * np.exp(-a) / -np.expm1(-2.0 * a)) ** 2


def langevin(a: np.ndarray) -> np.ndarray:
    """L(a) = coth a − 1/a, accurate to a few ulp for every real a (odd function)."""
    a = np.asarray(a, dtype=float)
    s = np.abs(a)
    small = s <= _SERIES_MAX
    out = np.empty_like(s)
    out[small] = _langevin_series(s[small])[0]
    big = s[~small]
    out[~small] = 1.0 - _one_minus_langevin(big)
    return np.copysign(out, a)


def _one_minus_langevin(a: np.ndarray) -> np.ndarray:
    """1 − L(a) = 1/a − 2/(e^{2a} − 1) for a > 0 (relative accuracy kept as a → ∞)."""
    with np.errstate(over="ignore"):
        return 1.0 / a - 2.0 / np.expm1(2.0 * a)


def _log_2sinhc_minus_a(a: np.ndarray) -> np.ndarray:
    """c(a) = log(2 sinh(a)/a) − a for a ≥ 0 (so log ⟨e^{α0 + α1 μ}⟩ = (α0 + |α1|) + c(|α1|)).

    Stable for a → 0 (series of log(sinh a / a)) and a → ∞ (c = log1p(−e^{−2a}) − log a, of size log a).
    Splitting off −a lets α0 = (log u0 − c) − a be formed with a single rounding of the large term,
    and α0 + a is exact in floating point (Sterbenz) when the moments are evaluated.
    """
    a = np.asarray(a, dtype=float)
    out = np.empty_like(a)
    small = a <= 1.0
    s = a[small]
    with np.errstate(invalid="ignore", divide="ignore"):
        log_sinhc = np.where(s > 1e-4, np.log(np.sinh(s) / np.where(s > 0, s, 1.0)),
                             s * s / 6.0 - s**4 / 180.0)
    out[small] = np.log(2.0) + log_sinhc - s
    b = a[~small]
    out[~small] = np.log1p(-np.exp(-2.0 * b)) - np.log(b)
    return out


def inverse_langevin(x: np.ndarray, y: np.ndarray | None = None, tol: float = 1e-13,
                     maxiter: int = 30) -> tuple[np.ndarray, np.ndarray]:
    """a with L(a) = x for |x| < 1, vectorised; returns (a, Newton iterations per entry).

    ``y`` = 1 − |x| may be passed when it is known more accurately than from x (e.g. (u0 − |u1|)/u0):
    near |x| = 1, a ≈ 1/y and its relative accuracy is that of y.
    """
    x = np.asarray(x, dtype=float)
    ax = np.abs(x)
    y = 1.0 - ax if y is None else np.asarray(y, dtype=float)
    # Jedynak (2015): L⁻¹(x) ≈ x (3 − 2.6x + 0.7x²) / ((1 − x)(1 + 0.1x)), relative error < 1.5 %
    with np.errstate(divide="ignore"):
        a = ax * (3.0 - 2.6 * ax + 0.7 * ax * ax) / (y * (1.0 + 0.1 * ax))
    upper = ax > _UPPER_X
    iters = np.zeros(x.shape, dtype=np.int64)
    active = ax > 0.0  # a = 0 is exact for x = 0
    for it in range(1, maxiter + 1):
        if not active.any():
            break
        idx = np.flatnonzero(active)
        ai = a[idx]
        step = np.empty_like(ai)
        up = upper[idx]
        # lower branch: r = L(a) − x (series near 0, else 1 − (1 − L))
        lo = ~up
        al = ai[lo]
        ser = al <= _SERIES_MAX
        r = np.empty_like(al)
        d = np.empty_like(al)
        r[ser], d[ser] = _langevin_series(al[ser])
        an = al[~ser]
        r[~ser] = 1.0 - _one_minus_langevin(an)
        d[~ser] = 1.0 / (an * an) - _csch2(an)
        step[lo] = (r - ax[idx][lo]) / d
        # upper branch: r = (1 − L(a)) − y, r' = −L'(a)
        au = ai[up]
        r = _one_minus_langevin(au) - y[idx][up]
        d = -(1.0 / (au * au) - _csch2(au))
        step[up] = r / d
        anew = ai - step
        anew = np.where(anew > 0.0, anew, 0.5 * ai)  # safeguard: stay in a > 0
        a[idx] = anew
        iters[idx] = it
        done = np.abs(anew - ai) <= tol * anew
        active[idx[done]] = False
    a = np.where(ax > 0.0, a, 0.0)
    return np.copysign(a, x), iters


class M1ExactClosure(Closure):
    """Exact-integral slab M1 closure (1D, N = 1) by the inverse Langevin function; see module doc."""

    name = "m1_exact"

    class Options(ClosureOptions):
        """``[closure.m1_exact]``: Newton tolerance on the inverse Langevin function, iteration cap."""

        tol: float = Field(1e-13, gt=0.0, lt=1e-3)
        maxiter: int = Field(30, ge=1)

    def __init__(self, basis: Basis, quad: Quadrature, **options):
        o = self.parse_options(options)
        if basis.dim != 1 or basis.N != 1:
            raise InputError(
                f"closure 'm1_exact' is the slab M1 closure (1D, N=1); got the {basis.kind} basis "
                f"in {basis.dim}D with N={basis.N}: use closure 'newton' instead")
        if quad.dim != 1:
            raise InputError(f"closure 'm1_exact' needs a 1D quadrature, got {quad.name} ({quad.dim}D)")
        super().__init__(basis, quad)
        self.tol, self.maxiter = o.tol, o.maxiter

    def multipliers(self, u: np.ndarray, alpha0: np.ndarray | None = None) -> tuple[np.ndarray, ClosureStats]:
        """α (ncells, 2) of exp(α0 + α1 μ) with exact moments u; ``alpha0`` (warm start) is ignored."""
        u, shape = self.as_cells(u, "m1_exact")
        self.check_realizable(u, where="m1_exact")
        u0, u1 = u[:, 0], u[:, 1]
        x = u1 / u0
        y = (u0 - np.abs(u1)) / u0  # 1 − |x| without rounding when |x| → 1
        a1, iters = inverse_langevin(x, y, tol=self.tol, maxiter=self.maxiter)
        a = np.abs(a1)
        alpha = np.empty_like(u)
        alpha[:, 1] = a1
        alpha[:, 0] = (np.log(u0) - _log_2sinhc_minus_a(a)) - a
        stats = ClosureStats(ncells=u.shape[0],
                             iterations_mean=float(iters.mean()) if iters.size else 0.0,
                             iterations_max=int(iters.max()) if iters.size else 0)
        return alpha.reshape(shape), stats

    def exact_moments(self, alpha: np.ndarray) -> np.ndarray:
        """Exact moments ∫₋₁¹ (1, μ) e^{α0 + α1 μ} dμ (no quadrature), shape like ``alpha``."""
        alpha = np.asarray(alpha, dtype=float)
        a0, a1 = alpha[..., 0], alpha[..., 1]
        a = np.abs(a1)
        with np.errstate(over="ignore"):
            m0 = np.exp((a0 + a) + _log_2sinhc_minus_a(a))
        return np.stack([m0, m0 * langevin(a1)], axis=-1)

    def entropy(self, u: np.ndarray, alpha: np.ndarray | None = None) -> np.ndarray:
        """h(u) = α·u − ∫ e^{α·m} (exact integral; = α·u − u0 at α = α̂(u))."""
        if alpha is None:
            alpha, _ = self.multipliers(u)
        return np.einsum("ij,ij->i", alpha, u) - self.exact_moments(alpha)[:, 0]
