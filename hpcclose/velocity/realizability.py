"""Realizability of moment vectors: is there a positive density with these moments?

For a basis that carries a discrete measure (the run's quadrature), and in 2D beyond N = 2, the question is
asked of that measure: see :mod:`.cone` (this module dispatches). Otherwise, for the continuous measure:
moments are normalised (ω = u/u0) and mapped to monomial moments ū, then tested with the classical
conditions: in 1D the truncated Hausdorff moment problem on [−1, 1] (Hankel matrices of ū and of its
localised sequences must be positive definite, Curto–Fialkow; equivalent to Kershaw's inequalities,
[B] eq. 79); in 2D M1 ‖ω1‖ < 1, and M2 the covariance conditions Σ − ω1ω1ᵀ ≻ 0 and tr Σ < 1
(the z-moments of a density symmetric in z on the sphere, Monreal).

The *margin* is the smallest eigenvalue over these matrices: positive inside, zero on ∂R, negative
outside. For 1D M1 it is exactly the Euclidean distance 1 − |ω1|. :func:`m2_boundary_distance`
gives the exact Euclidean distance for 1D M2 (monomial), the measure used by [B] Table 2.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from numba import njit, prange

if TYPE_CHECKING:
    from .basis import Basis


def normalised_monomial(basis: Basis, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(u0, ū/u0) with ū the monomial moments of ``u``; u0 ≤ 0 gives NaN moments."""
    u = np.atleast_2d(np.asarray(u, dtype=float))
    # ū = T⁻¹ u; nothing to do for monomial bases (T = I), which the time loop checks every step
    mono = u.copy() if basis.kind == "monomial" else u @ np.linalg.inv(basis.to_monomial).T
    # m_0 ≡ 1 in every basis, so ū0 = u0 exactly: take it from u (the solve may leave round-off that
    # turns u0 = 0 into ±1e−18 and the margin into a huge finite number instead of −inf)
    mono[..., 0] = u[..., 0]
    u0 = mono[..., 0]
    with np.errstate(divide="ignore", invalid="ignore"):
        w = np.where(u0[..., None] > 0, mono / u0[..., None], np.nan)
    return u0, w


def _smallest_eigenvalue(m: np.ndarray) -> np.ndarray:
    """λ_min of stacked symmetric matrices; closed forms for 1×1 and 2×2 (the common M1/M2 cases run
    every time step, where LAPACK's per-matrix overhead would dominate)."""
    k = m.shape[-1]
    if k == 1:
        return m[..., 0, 0]
    if k == 2:
        a, b, c = m[..., 0, 0], m[..., 0, 1], m[..., 1, 1]
        return 0.5 * (a + c) - np.hypot(0.5 * (a - c), b)
    return np.linalg.eigvalsh(m)[..., 0]


def _min_eig(mats: list[np.ndarray]) -> np.ndarray:
    return np.min(np.stack([_smallest_eigenvalue(m) for m in mats], axis=-1), axis=-1)


def _mats_2d(w: np.ndarray, N: int) -> list[np.ndarray]:
    if N == 0:
        return [np.ones(w.shape[:-1] + (1, 1))]
    ux, uy = w[..., 1], w[..., 2]
    if N == 1:
        return [(1.0 - np.hypot(ux, uy))[..., None, None]]
    # N = 2 (beyond, :func:`margin` asks the discrete test: there are no closed-form conditions)
    sxx, sxy, syy = w[..., 3], w[..., 4], w[..., 5]
    cov = np.stack([np.stack([sxx - ux * ux, sxy - ux * uy], -1),
                    np.stack([sxy - ux * uy, syy - uy * uy], -1)], -2)
    return [cov, (1.0 - sxx - syy)[..., None, None]]


@njit(cache=True)
def _jacobi_min_eig(m: np.ndarray) -> float:
    """λ_min of a symmetric matrix by cyclic Jacobi rotations, in place (``m`` is destroyed): no allocation,
    accurate to round-off of ‖m‖ like LAPACK's, a few sweeps for the ≤ 5 × 5 Hankel matrices of N ≤ 9."""
    k = m.shape[0]
    # entries at round-off of the matrix (1e−15 of its Frobenius norm, a few ulps) are dropped: the
    # eigenvalues move by no more than that, what LAPACK's answer differs by anyway; the sweeps then end
    floor = 0.0
    for p in range(k):
        for q in range(k):
            floor += m[p, q] * m[p, q]
    floor = 1e-15 * np.sqrt(floor)
    for _ in range(50):
        rotated = False
        for p in range(k - 1):
            for q in range(p + 1, k):
                apq = m[p, q]
                if not abs(apq) > floor:  # (NaN too: it comes out below)
                    continue
                rotated = True
                theta = (m[q, q] - m[p, p]) / (2.0 * apq)
                t = (1.0 if theta >= 0 else -1.0) / (abs(theta) + np.sqrt(theta * theta + 1.0))
                c = 1.0 / np.sqrt(t * t + 1.0)
                s = t * c
                for r in range(k):  # columns p, q
                    mrp, mrq = m[r, p], m[r, q]
                    m[r, p], m[r, q] = c * mrp - s * mrq, s * mrp + c * mrq
                for r in range(k):  # rows p, q
                    mpr, mqr = m[p, r], m[q, r]
                    m[p, r], m[q, r] = c * mpr - s * mqr, s * mpr + c * mqr
        if not rotated:
            break
    lo = np.inf
    for p in range(k):
        if m[p, p] != m[p, p]:
            return np.nan
        lo = min(lo, m[p, p])
    return lo


@njit(cache=True, inline="always")
def _sym_min_eig(m: np.ndarray) -> float:
    k = m.shape[0]
    if k == 1:
        return m[0, 0]
    if k == 2:
        return 0.5 * (m[0, 0] + m[1, 1]) - np.hypot(0.5 * (m[0, 0] - m[1, 1]), m[0, 1])
    return _jacobi_min_eig(m)


@njit(parallel=True, cache=True)
def _margin_1d(u: np.ndarray, tinv_t: np.ndarray, N: int, out: np.ndarray) -> None:
    """Per cell, the Hankel matrices whose definiteness characterises moments of order ≤ N on [−1, 1]:
    N = 2k: [w_{i+j}]_{i,j≤k} and [w_{i+j} − w_{i+j+2}]_{i,j<k}; N = 2k+1: [w_{i+j} ± w_{i+j+1}]_{i,j≤k};
    ``out`` gets their smallest eigenvalue. Fused in Numba because closures check their input with it
    (``check=True``), where building stacked matrices with numpy cost more than the closure itself; one
    workspace per chunk of cells, no allocation per cell (LAPACK's eigvalsh per cell cost ~1 µs)."""
    ncells, n = u.shape
    k = N // 2
    sa = k + 1
    sb = k if N % 2 == 0 else k + 1
    chunk = 256
    for c in prange((ncells + chunk - 1) // chunk):
        w = np.empty(n)
        a = np.empty((sa, sa))
        b = np.empty((max(sb, 1), max(sb, 1)))
        for i in range(c * chunk, min(ncells, (c + 1) * chunk)):
            u0 = u[i, 0]
            if not u0 > 0.0:
                out[i] = -np.inf if u0 <= 0.0 else np.nan
                continue
            for j in range(n):
                acc = 0.0
                for l in range(n):
                    acc += u[i, l] * tinv_t[l, j]
                w[j] = acc / u0
            w[0] = 1.0
            finite = True
            for j in range(n):
                finite = finite and np.isfinite(w[j])
            if not finite:
                out[i] = np.nan
                continue
            for r in range(sa):
                for col in range(sa):
                    a[r, col] = w[r + col] if N % 2 == 0 else w[r + col] + w[r + col + 1]
            lo = _sym_min_eig(a) if N > 0 else 1.0
            if sb > 0:
                for r in range(sb):
                    for col in range(sb):
                        b[r, col] = w[r + col] - w[r + col + 2] if N % 2 == 0 else w[r + col] - w[r + col + 1]
                lo = min(lo, _sym_min_eig(b))
            out[i] = lo


def margin(basis: Basis, u: np.ndarray, alpha: np.ndarray | None = None) -> np.ndarray:
    """Smallest eigenvalue of the realizability matrices of the normalised moments (−inf if u0 ≤ 0); the
    depth in the cone of the measure's nodes where the basis carries one, or is 2D with N > 2 (there
    ``alpha``, multipliers of an ansatz near u, only speeds the test up: :meth:`.Cone.margin`)."""
    if basis.measure is not None or (basis.dim == 2 and basis.N > 2):
        u2 = np.atleast_2d(np.asarray(u, dtype=float)).reshape(-1, basis.n)
        out = basis.cone.margin(u2, None if alpha is None else np.reshape(alpha, u2.shape))
        return out.reshape(np.shape(u)[:-1]) if np.ndim(u) > 1 else out.reshape(())
    if basis.dim == 1:
        u2 = np.ascontiguousarray(np.atleast_2d(np.asarray(u, dtype=float)).reshape(-1, basis.n))
        out = np.empty(u2.shape[0])
        _margin_1d(u2, np.ascontiguousarray(np.linalg.inv(basis.to_monomial).T), basis.N, out)
        return out.reshape(np.shape(u)[:-1]) if np.ndim(u) > 1 else out.reshape(())
    u0, w = normalised_monomial(basis, u)
    mats = _mats_2d(w, basis.N)
    with np.errstate(invalid="ignore"):
        out = _min_eig([np.nan_to_num(m, nan=0.0) for m in mats])
    out = np.where(u0 > 0, out, -np.inf)
    return out.reshape(np.shape(u)[:-1]) if np.ndim(u) > 1 else out.reshape(())


def m2_boundary_distance(w1: np.ndarray, w2: np.ndarray) -> np.ndarray:
    """Euclidean distance of normalised 1D monomial M2 moments (w1, w2) to ∂R (negative outside).

    ∂R = {w2 = 1, |w1| ≤ 1} ∪ {w2 = w1², |w1| ≤ 1}. The nearest point on the parabola solves the
    cubic 2t³ + (1 − 2 w2) t − w1 = 0 (stationarity of (t − w1)² + (t² − w2)²).
    """
    w1, w2 = np.broadcast_arrays(np.asarray(w1, float), np.asarray(w2, float))
    d_top = np.hypot(np.maximum(np.abs(w1) - 1.0, 0.0), 1.0 - w2)
    # real roots of the depressed cubics t³ + p t + q = 0, all at once (Cardano / trigonometric form)
    p, q = (0.5 - w2).ravel(), (-0.5 * w1).ravel()
    disc = (q / 2) ** 2 + (p / 3) ** 3
    with np.errstate(invalid="ignore", divide="ignore"):
        sq = np.sqrt(np.maximum(disc, 0.0))
        one = np.cbrt(-q / 2 + sq) + np.cbrt(-q / 2 - sq)
        r = 2.0 * np.sqrt(np.maximum(-p / 3, 0.0))
        phi = np.arccos(np.clip(3 * q / (p * r + (p == 0)), -1.0, 1.0)) / 3
        three = r[:, None] * np.cos(phi[:, None] - 2 * np.pi * np.arange(3) / 3)
    t = np.where((disc < 0)[:, None], three, one[:, None])
    t = np.clip(t, -1.0, 1.0)
    d_par = np.min(np.hypot(t - w1.ravel()[:, None], t * t - w2.ravel()[:, None]), axis=1)
    # the parabola's end points (±1, 1) are always candidates (clipped roots cover them too)
    d_par = np.minimum(d_par, np.hypot(np.abs(w1.ravel()) - 1.0, 1.0 - w2.ravel())).reshape(w1.shape)
    inside = (w2 > w1 * w1) & (w2 < 1.0)
    d = np.minimum(d_top, d_par)
    return np.where(inside, d, -d)
