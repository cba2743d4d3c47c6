"""The per-cell tests of :mod:`.cone` in Numba: one batched pass over the cells, allocation-free per cell.

Each parallel work item (a chunk of cells) allocates one workspace and reuses it for all its cells; the
sums over the nodes use the four-chain dot products of :mod:`hpcclose.kernels.dots` on node arrays
zero-padded to a multiple of four (padding nodes carry ŵ = 0, so they add nothing), and BLAS for the
Hessian Σ e q qᵀ into the workspace (2–3× faster than four-chain dot products for n = 6…15, measured).
Per cell, in this order:

1. the normalisation ω' = S u/u0 (O(n²)) and the reach test: the P_N density is ≥ 1 − B|ω'_{1:}| (nearly
   isotropic cells);
2. where the caller passes the closure's multipliers α of the cell (those of the last stage: a state close
   to this one), the certificate search (:func:`_search`) from a = Rα + log(Σw/u0) e_0, i.e. the closure's
   own density in the cone's coordinates, with :data:`WARM_STEPS` tries at most (the first decides 94–100 %
   of the anisotropic cells of the M2/M4 line source);
3. the P_N density ω'·q (O(Qn)), then the certificate search from the projection of its logarithm;
4. the necessary conditions (an upper bound), which reject clearly non-realizable states.

Any start is valid for a certificate (the density ŵ e^{a·q}(1 + d·q) has exactly the moments ω' whatever a
is), so step 2 only decides cells sooner: it never accepts a state steps 3–4 would reject. What neither
decides is left undecided (+inf) for the exact test.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from ..kernels.dots import dot
from ..kernels.fastmath import exp_row
from ..kernels.jit import PARALLEL, SERIAL

#: Damped Newton steps from the closure's multipliers before the search from the P_N density takes over.
WARM_STEPS = 2
#: Armijo parameters of the damped steps (sufficient decrease, smallest step).
_ARMIJO, _MIN_STEP = 1e-4, 1e-6
#: The search starts from log max(p, _FLOOR · max p), p the P_N density (measured on the line source: fewest steps).
_FLOOR = 1e-3
#: Cells per parallel work item (one workspace each).
_CHUNK = 256


def padded(nodes: np.ndarray, wn: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(qᵀ (n, Qp), q (Qp, n), ŵ (Qp,)) zero-padded to a multiple of four nodes, C-contiguous."""
    Q, n = nodes.shape
    Qp = (Q + 3) // 4 * 4
    q, w = np.zeros((Qp, n)), np.zeros(Qp)
    q[:Q], w[:Q] = nodes, wn
    return np.ascontiguousarray(q.T), q, w


@njit(**SERIAL)
def _workspace(n, Qp):
    """(p, z, e, corr, scratch) over the nodes; (a, d, r, trial) over the basis; the n × n matrix h, the
    weighted node vectors e qᵀ (n, Qp) and the cell's ω' (n,)."""
    return (np.empty(Qp), np.empty(Qp), np.empty(Qp), np.empty(Qp), np.empty(Qp),
            np.empty(n), np.empty(n), np.empty(n), np.empty(n), np.empty((n, n)), np.empty((n, Qp)), np.empty(n))


@njit(**SERIAL)
def _cholesky_solve(h, r, d):
    """d ← H⁻¹ r, H (symmetric, lower triangle used) overwritten by its Cholesky factor L; False if H is not
    numerically positive definite. Right-looking factorisation and column-oriented substitutions: the
    inner loops run down columns of L without a reduction."""
    n = h.shape[0]
    for k in range(n):
        if not h[k, k] > 1e-300:
            return False
        h[k, k] = np.sqrt(h[k, k])
        for i in range(k + 1, n):
            h[i, k] /= h[k, k]
        for j in range(k + 1, n):
            for i in range(j, n):
                h[i, j] -= h[i, k] * h[j, k]
    d[:] = r
    for k in range(n):  # L y = r
        d[k] /= h[k, k]
        for i in range(k + 1, n):
            d[i] -= h[i, k] * d[k]
    for k in range(n - 1, -1, -1):  # Lᵀ d = y
        d[k] /= h[k, k]
        for i in range(k):
            d[i] -= h[k, i] * d[k]
    return True


@njit(**SERIAL)
def _combine(coef, nodes_t, out):
    """out ← Σ_j coef[j] nodes_t[j] (a function of the basis at every node); loops without reductions."""
    out[:] = 0.0
    for j in range(nodes_t.shape[0]):
        cj = coef[j]
        row = nodes_t[j]
        for q in range(out.shape[0]):
            out[q] += cj * row[q]


@njit(**SERIAL)
def _ansatz(a, nodes_t, wn, z, e, scratch):
    """z ← q·a and e ← ŵ e^z at every node; returns Σ e (inf on overflow)."""
    _combine(a, nodes_t, z)
    e[:] = z
    exp_row(e, scratch)
    total = 0.0
    for q in range(e.shape[0]):
        e[q] *= wn[q]
        total += e[q]
    return total


@njit(**SERIAL)
def _residual(omega, nodes_t, e, r):
    """r ← ω' − Σ e q."""
    Qp = nodes_t.shape[1]
    for j in range(r.shape[0]):
        r[j] = omega[j] - dot(e, nodes_t[j], Qp)


@njit(**SERIAL)
def _hessian(nodes_t, nodes, e, weighted, h):
    """H ← Σ e q qᵀ (BLAS, into ``h``)."""
    for j in range(nodes_t.shape[0]):
        for q in range(nodes_t.shape[1]):
            weighted[j, q] = e[q] * nodes_t[j, q]
    np.dot(weighted, nodes, h)


@njit(**SERIAL)
def _lowest(e, wn, corr, Q, relative):
    """min over the real nodes of e^{a·q} + c·q (``relative``: e^{a·q}(1 + c·q)), from e = ŵ e^{a·q} and
    corr = c·q; −inf if any value is NaN (a certificate must hold at every node)."""
    lo = np.inf
    for q in range(Q):
        v = e[q] / wn[q] * (1.0 + corr[q]) if relative else e[q] / wn[q] + corr[q]
        if v != v:
            return -np.inf
        lo = min(lo, v)
    return lo


@njit(**SERIAL)
def _search(omega, nodes_t, nodes, wn, Q, a, steps, ws):
    """The certificate search from ``a`` (updated in place), at most ``steps`` tries; −inf if none succeeds.
    Each try has the residual r = ω' − ⟨q e^{a·q}⟩ and two densities with exactly the moments ω':
    ŵ(e^{a·q} + r·q) (q is orthonormal under ŵ; O(Qn), decides most cells near a converged ansatz) and
    ŵ e^{a·q}(1 + d·q), d = H⁻¹r (the Newton correction). Either is a certificate if it is ≥ 0 at every node:
    the lower bound returned is its smallest value over ŵ. Otherwise a damped Newton step of the entropy
    dual φ(a) = Σ ŵ e^{a·q} − a·ω'."""
    z, e, corr, scratch, d, r, trial, h, weighted = ws[1], ws[2], ws[3], ws[4], ws[6], ws[7], ws[8], ws[9], ws[10]
    phi = _ansatz(a, nodes_t, wn, z, e, scratch) - np.dot(a, omega)
    for _ in range(steps):
        if not np.isfinite(phi):
            return -np.inf
        _residual(omega, nodes_t, e, r)
        _combine(r, nodes_t, corr)
        lo = _lowest(e, wn, corr, Q, False)
        if lo > 0.0:
            return lo
        _hessian(nodes_t, nodes, e, weighted, h)
        if not _cholesky_solve(h, r, d):
            return -np.inf
        _combine(d, nodes_t, corr)
        lo = _lowest(e, wn, corr, Q, True)
        if lo > 0.0:
            return lo
        slope = -np.dot(d, r)
        s = 1.0
        while True:
            for j in range(a.shape[0]):
                trial[j] = a[j] + s * d[j]
            new = _ansatz(trial, nodes_t, wn, z, e, scratch) - np.dot(trial, omega)
            if new <= phi + _ARMIJO * s * slope or s < _MIN_STEP:
                break
            s *= 0.5
        a[:] = trial
        phi = new
    return -np.inf


@njit(**SERIAL)
def _certify(omega, nodes_t, nodes, wn, Q, steps, ws):
    """A lower bound on the depth (−inf if none is found): the P_N density if positive at every node, else
    the certificate search from the projection of log max(p, 1e−3 max p) (fewer steps than from a = 0)."""
    p, a = ws[0], ws[5]
    _combine(omega, nodes_t, p)
    lo, top = np.inf, -np.inf
    for q in range(Q):
        lo, top = min(lo, p[q]), max(top, p[q])
    if lo > 0.0 or steps == 0:
        return lo if lo > 0.0 else -np.inf
    a[:] = 0.0
    for q in range(Q):
        lp = np.log(max(p[q], _FLOOR * top)) * wn[q]
        for j in range(a.shape[0]):
            a[j] += lp * nodes_t[j, q]
    return _search(omega, nodes_t, nodes, wn, Q, a, steps, ws)


@njit(**SERIAL)
def _warm(omega, alpha, from_basis, shift, nodes_t, nodes, wn, Q, ws):
    """The certificate from the closure's multipliers α (in the basis): a = Rα + shift e_0; −inf if α is not
    finite or no certificate is found within :data:`WARM_STEPS`."""
    a = ws[5]
    n = a.shape[0]
    for j in range(n):
        s = 0.0
        for l in range(n):
            s += from_basis[j, l] * alpha[l]
        a[j] = s
    a[0] += shift
    for j in range(n):
        if not np.isfinite(a[j]):
            return -np.inf
    return _search(omega, nodes_t, nodes, wn, Q, a, WARM_STEPS, ws)


@njit(**SERIAL)
def _upper_bound(omega, tests, sizes):
    """min over the necessary-condition matrices of λ_min(L(ω')) (inf if there are none)."""
    n = omega.shape[0]
    hi = np.inf
    off = 0
    for k in sizes:
        mat = np.zeros((k, k))
        for i in range(k):
            for j in range(k):
                s = 0.0
                base = off + (i * k + j) * n
                for l in range(n):
                    s += tests[base + l] * omega[l]
                mat[i, j] = s
        hi = min(hi, np.linalg.eigvalsh(mat)[0])
        off += k * k * n
    return hi


@njit(**SERIAL)
def _normalised(u, to_orth_t, omega):
    """ω' ← to_orth (u/u0); NaN if u (or ω') is not finite, −inf if u0 ≤ 0, else 0."""
    n, u0 = u.shape[0], u[0]
    for j in range(n):
        if not np.isfinite(u[j]):
            return np.nan
    if not u0 > 0.0:
        return -np.inf
    # row by row of the matrix: the inner loop runs along a row without a reduction (vectorised), and
    # every ω'_j still sums its terms in the order l = 0, 1, …
    omega[:] = 0.0
    for l in range(n):
        ul = u[l]
        for j in range(n):
            omega[j] += ul * to_orth_t[l, j]
    for j in range(n):
        omega[j] /= u0
        if not np.isfinite(omega[j]):  # moments too large to normalise
            return np.nan
    return 0.0


@njit(**PARALLEL)
def decide(u, alpha, from_basis, log_weight, to_orth_t, nodes_t, nodes, wn, Q, tests, sizes, reach, steps,
           reject_below, out):
    """Per cell, the depth bound into ``out`` (+inf: undecided, for the exact test).
    ``alpha``: the closure's multipliers per cell, or an empty (0, n) array (no warm start);
    ``from_basis`` R (a = Rα); ``log_weight`` log Σw; nodes and weights padded (:func:`padded`), Q real."""
    ncells, n = u.shape
    warm = alpha.shape[0] == ncells
    for c in prange((ncells + _CHUNK - 1) // _CHUNK):
        ws = _workspace(n, nodes_t.shape[1])
        omega = ws[11]
        for i in range(c * _CHUNK, min(ncells, (c + 1) * _CHUNK)):
            flag = _normalised(u[i], to_orth_t, omega)
            if flag != 0.0:
                out[i] = flag
                continue
            spread = 0.0
            for j in range(1, n):
                spread += omega[j] * omega[j]
            lo = 1.0 - reach * np.sqrt(spread)
            if lo > 0.0:  # nearly isotropic: the P_N density is positive at every node
                out[i] = lo
                continue
            if warm:
                lo = _warm(omega, alpha[i], from_basis, log_weight - np.log(u[i, 0]), nodes_t, nodes, wn,
                           Q, ws)
            if not lo > 0.0:
                lo = _certify(omega, nodes_t, nodes, wn, Q, steps, ws)
            if lo > 0.0:
                out[i] = lo
                continue
            hi = _upper_bound(omega, tests, sizes)
            out[i] = hi if hi < reject_below else np.inf
