"""The M_N closure by Newton's method on the Maxwell–Boltzmann dual problem ("newton").

For every cell, minimise (SCIENCE.md §2)

    φ(α) = ⟨exp(α·m)⟩ − α·u,     ∇φ = ⟨m e^{α·m}⟩ − u,     ∇²φ = ⟨m mᵀ e^{α·m}⟩,

with ⟨·⟩ the closure's quadrature. The solver matches the moments of the *discrete* measure: a moment
vector outside the convex hull of the basis values at the nodes has no solution even if it is realizable
for the exact integral (1D M2 with 30 Gauss–Legendre nodes: u2/u0 > μ_max² ≈ 0.9937, or just above the
parabola between two nodes; about 1 % of moments drawn uniformly from the realizable set). Such cells are
caught by isotropic regularisation (below) and reported in the stats, never returned silently.

Algorithm
---------
1. **Normalise**: solve for ω = u/u0 (ω0 = 1), then α0 += log u0 (exact because m0 ≡ 1). A warm start is
   converted the other way (α0 −= log u0); the cold start is the isotropic density α = (−log Σw, 0, …),
   whose moments are ``basis.isotropic(1, quad)`` exactly.
2. **Damped Newton**: Cholesky H = L Lᵀ (hand-written), step by two triangular solves, Armijo
   backtracking on φ (c = 1e−4, halving, ≤ 50 halvings; the rounding level of φ is tolerated so that the
   last, quadratically convergent steps are not rejected by noise), stopping test ‖∇φ‖₂ ≤ tol on the
   normalised problem, i.e. ‖⟨m G⟩ − u‖₂ ≤ tol·u0, evaluated at the α that is returned.
3. **Fast path** (:func:`newton_lanes`): ``lanes`` cells (128 for 30 nodes) iterate together, one SIMD
   lane per cell, so every per-node loop runs over contiguous lanes and vectorises without
   reassociating a single sum (``fastmath`` stays off); a lane whose cell finishes takes the next cell.
   Gradient and Hessian come from the moments y_l = ⟨b_l G⟩ of the distinct products b_l of basis
   functions (monomials of degree ≤ 2N: 5 sums instead of 9 for 1D M2), mapped by an exact coefficient
   tensor (0/1 for monomial bases). exp is evaluated once per node and trial point, and the values of
   the accepted trial are those of the next gradient and Hessian. The fast path hands a cell over to the
   robust path when its Hessian is ill-conditioned (min L_jj² < ``ACB_SWITCH`` · max H_jj, i.e.
   condition ≳ 1e8) or when anything fails.
4. **Robust path** (:func:`newton_cell`, one cell at a time): continues from the fast path's iterate with
   the **adaptive change of basis** of Alldredge, Hauck, O'Leary & Tits (2014, JCP 258): it iterates in
   a basis p = T m of the same space, each iteration forming H_p = ⟨p pᵀ G⟩ from the basis values at the
   nodes, factoring H_p = L Lᵀ and replacing p ← L⁻¹ p, T ← L⁻¹ T, in which the Hessian at the current
   point is the identity; the step is Δα = −Tᵀ T ∇φ. The ill-conditioning is carried by the accumulated
   factor T instead of being re-formed and re-factored in H every iteration. (Measured: for 1D M2 the
   plain Cholesky step still converges at distance 1e−6 from ∂R with 3000 nodes, so here the change of
   basis is a safeguard; the cells handed over to it are mostly those of N ≥ 4 with large α.) Option
   ``change_basis``: "auto" (default, as described), "always" (every cell on the robust path from the
   first iteration) or "never" (no change of basis anywhere).
5. **Safe arithmetic**: trial exponents above ``ZMAX`` = 500 are rejected before exp is evaluated, exp
   itself (:func:`safe_exp`: Cody–Waite reduction + degree-13 polynomial with FMAs, ≤ 2 ulp, 0 below
   −708, branch-free so it vectorises) cannot overflow, and every non-finite value ends the attempt; no
   inf or NaN reaches the caller.
6. **Failure detection**: a non-positive Cholesky pivot, a failed line search, a non-finite value or the
   iteration cap end an attempt. So does φ falling below its lower bound over realizable moments: with
   m0 ≡ 1 and ⟨G⟩ = 1 at the optimum, φ* = 1 − ⟨G log G⟩ ≥ 1 + log min_q w_q, so φ(α) below that proves
   the moments are not realizable under the quadrature (φ is unbounded below) and the cell moves on to
   regularisation at once instead of spending k0 iterations.
7. **Isotropic regularisation**: if the first attempt (fast + robust path, at most ``k0`` iterations)
   fails, the cell is retried from the cold start with v = (1 − r) ω + r ω_iso for r in
   ``regularisation`` in order (at most ``max_iter`` iterations each); the unsolved cells of the whole
   batch go through each r together, so they still fill the lanes. The returned α then belongs to the
   regularised moments; ``stats.regularised``/``stats.reg_r`` record the cells and their r. If every r
   fails the cell gets the (finite) isotropic α and is listed in ``stats.failed`` with its moments (and a
   warning is logged).

Parallelism: each attempt runs ``prange`` over chunks of cells (:func:`solve_chunk` per chunk), on
``numba.get_num_threads()`` threads. Results do not depend on the thread count or the chunking.

Cost of the input check
-----------------------
``check=True`` (default) calls :meth:`Closure.check_realizable`, a batched numpy eigenvalue test of the
Hankel matrices: 0.15–0.2 µs a cell for 1D M2 on one core (2e4 cells; measured), i.e. 15–25 % of a
warm-started solve (≈ 0.8 µs) and ≈ 10 % of a cold one. A simulation that already guarantees realizable
states can pass ``check=False``: then only finiteness and u0 > 0 are checked (a few ns a cell) and
non-realizable cells are regularised and reported in the stats instead of raising.

Kernels for other code
----------------------
:func:`kernel_data` packs a basis and quadrature into the tuple the kernels take (node arrays transposed,
components × nodes, and zero-padded to a multiple of 8 nodes with zero weights, so sums are unchanged).
Numba code can call :func:`newton_cell` (one normalised cell, scratch from :func:`make_workspace`) or
:func:`solve_chunk` (one attempt for a range of cells); :func:`newton_batch` is the Python-level
parallel driver with regularisation that :class:`NewtonClosure` uses.
"""

from __future__ import annotations

import logging
import numbers

import numba
import numpy as np
from numba import njit, prange, types
from numba.extending import intrinsic

from ..errors import InputError, RealizabilityError
from ..velocity import Basis, Quadrature
from .base import Closure, ClosureStats

log = logging.getLogger(__name__)

_JIT = dict(cache=True, fastmath=False, nogil=True, error_model="numpy")

# Trial exponents above this are rejected (e^500 ≈ 1e217: sums and Hessian entries stay finite).
ZMAX = 500.0
ARMIJO_C = 1e-4
MAX_HALVINGS = 50
EPS = 2.220446049250313e-16
# Switch to the adaptive change of basis when min L_jj² < ACB_SWITCH · max H_jj (condition ≳ 1e8).
ACB_SWITCH = 1e-8
CHANGE_BASIS = {"auto": ACB_SWITCH, "always": np.inf, "never": 0.0}
# Fast path: at most this many cells share the node loops (lanes), and a parallel work item holds at
# most CHUNK_LANES × lanes cells (fewer when that leaves threads idle).
MAX_LANES = 128
CHUNK_LANES = 16
# Node arrays are zero-padded to a multiple of this (vector width × unroll of the node loops).
PAD = 8

# Status codes of newton_cell (newton_batch stores the one of the unregularised attempt per cell).
CONVERGED, MAX_ITER, LINESEARCH, CHOLESKY, NONFINITE, UNBOUNDED, ILLCONDITIONED, NOT_STARTED = range(8)
STATUS_NAMES = ("converged", "max_iter", "line search failed", "Cholesky failed", "non-finite",
                "unbounded (not realizable under the quadrature)",
                "ill-conditioned (handed to the robust path)", "not started")

DEFAULT_REGULARISATION = (1e-8, 1e-6, 1e-4, 1e-3, 1e-2, 5e-2, 0.1, 0.5, 1.0)


# ---------------------------------------------------------------------------------------------------
# Scalar building blocks (small: LLVM inlines them into the kernels)
# ---------------------------------------------------------------------------------------------------
@intrinsic
def _fma(typingctx, a, b, c):
    """a·b + c with one rounding (llvm.fma; a single instruction on FMA hardware)."""
    sig = types.float64(types.float64, types.float64, types.float64)

    def codegen(context, builder, signature, args):
        return builder.fma(*args)

    return sig, codegen


@intrinsic
def _as_bits(typingctx, x):
    sig = types.uint64(types.float64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(types.uint64))

    return sig, codegen


@intrinsic
def _from_bits(typingctx, x):
    sig = types.float64(types.uint64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(types.float64))

    return sig, codegen


_INVLN2 = 1.4426950408889634
_LN2HI = 6.93147180369123816490e-01  # trailing zeros: k·LN2HI is exact for |k| < 2^20
_LN2LO = 1.90821492927058770002e-10
_SHIFT = 6755399441055744.0  # 1.5·2^52: x + SHIFT rounds x to an integer held in the low bits
_C2, _C3, _C4, _C5, _C6, _C7 = 1 / 2, 1 / 6, 1 / 24, 1 / 120, 1 / 720, 1 / 5040
_C8, _C9, _C10 = 1 / 40320, 1 / 362880, 1 / 3628800
_C11, _C12, _C13 = 1 / 39916800, 1 / 479001600, 1 / 6227020800


@njit(**_JIT)
def safe_exp(x):
    """exp(x) for x ≤ 709 to ≤ 2 ulp; 0 for x < −708. Branch-free, so loops over nodes vectorise.

    Cody–Waite reduction x = k ln2 + r, |r| ≤ ln2/2, Taylor polynomial of degree 13 (truncation
    < 5e−18) by Estrin's scheme with FMAs, 2^k from the exponent bits. Callers keep x ≤ ZMAX.
    """
    kd = x * _INVLN2 + _SHIFT
    ki = _as_bits(kd)
    k = kd - _SHIFT
    r = _fma(-k, _LN2HI, x)
    r = _fma(-k, _LN2LO, r)
    r2 = r * r
    r4 = r2 * r2
    q0 = _fma(r2, _fma(r, _C3, _C2), r + 1.0)
    q1 = _fma(r2, _fma(r, _C7, _C6), _fma(r, _C5, _C4))
    q2 = _fma(r2, _fma(r, _C11, _C10), _fma(r, _C9, _C8))
    q3 = _fma(r, _C13, _C12)
    p = _fma(r4 * r4, _fma(r4, q3, q2), _fma(r4, q1, q0))
    scale = _from_bits((ki + np.uint64(1023)) << np.uint64(52))
    return p * scale if x >= -708.0 else 0.0


@njit(**_JIT)
def _dot_row(a, B, row, Qp):
    """Σ_q a[q] B[row, q] with four partial sums (Qp a multiple of 4)."""
    s0 = 0.0
    s1 = 0.0
    s2 = 0.0
    s3 = 0.0
    for i in range(Qp >> 2):
        q = 4 * i
        s0 = _fma(a[q], B[row, q], s0)
        s1 = _fma(a[q + 1], B[row, q + 1], s1)
        s2 = _fma(a[q + 2], B[row, q + 2], s2)
        s3 = _fma(a[q + 3], B[row, q + 3], s3)
    return (s0 + s1) + (s2 + s3)


@njit(**_JIT)
def _dot(a, b, Qp):
    """Σ_q a[q] b[q] with four partial sums."""
    s0 = 0.0
    s1 = 0.0
    s2 = 0.0
    s3 = 0.0
    for i in range(Qp >> 2):
        q = 4 * i
        s0 = _fma(a[q], b[q], s0)
        s1 = _fma(a[q + 1], b[q + 1], s1)
        s2 = _fma(a[q + 2], b[q + 2], s2)
        s3 = _fma(a[q + 3], b[q + 3], s3)
    return (s0 + s1) + (s2 + s3)


@njit(**_JIT)
def _dot3_rows(a, B, j, k, Qp):
    """Σ_q a[q] B[j, q] B[k, q] with four partial sums."""
    s0 = 0.0
    s1 = 0.0
    s2 = 0.0
    s3 = 0.0
    for i in range(Qp >> 2):
        q = 4 * i
        s0 = _fma(a[q] * B[j, q], B[k, q], s0)
        s1 = _fma(a[q + 1] * B[j, q + 1], B[k, q + 1], s1)
        s2 = _fma(a[q + 2] * B[j, q + 2], B[k, q + 2], s2)
        s3 = _fma(a[q + 3] * B[j, q + 3], B[k, q + 3], s3)
    return (s0 + s1) + (s2 + s3)


@njit(**_JIT)
def _evaluate(alpha, mT, w, v, z, G):
    """G = exp(α·m) at the nodes; returns (φ(α), S = Σ w G, Σ_j |α_j|), or φ = +inf without touching G
    if an exponent exceeds ZMAX or is not finite."""
    n, Qp = mT.shape
    a0 = alpha[0]
    for q in range(Qp):
        z[q] = a0 * mT[0, q]
    for j in range(1, n):
        aj = alpha[j]
        for q in range(Qp):
            z[q] = _fma(aj, mT[j, q], z[q])
    nbad = 0
    for q in range(Qp):
        if not (z[q] <= ZMAX):  # also NaN
            nbad += 1
    if nbad > 0:
        return np.inf, 0.0, 0.0
    for q in range(Qp):
        G[q] = safe_exp(z[q])
    S = _dot(G, w, Qp)
    av = 0.0
    A = 0.0
    for j in range(n):
        av += alpha[j] * v[j]
        A += abs(alpha[j])
    return S - av, S, A


# ---------------------------------------------------------------------------------------------------
# Kernels
# ---------------------------------------------------------------------------------------------------
@njit(**_JIT)
def make_workspace(n, Qp, nb):
    """Scratch for :func:`newton_cell`: Z (3, Qp), P (n, Qp), V (4, n), Y (nb,), M (2, n, n)."""
    return np.empty((3, Qp)), np.empty((n, Qp)), np.empty((4, n)), np.empty(nb), np.empty((2, n, n))


@njit(**_JIT)
def newton_cell(data, ws, v, alpha, tol, max_iter, acb_switch):
    """Solve min φ for one normalised cell (v0 = 1), in place of ``alpha`` (the initial point).

    Parameters
    ----------
    data : the tuple from :func:`kernel_data` (mT, w, wbT, C, Cg, phi_floor, mmax).
    ws : the tuple from :func:`make_workspace`.
    v : (n,) moments with v0 = 1; alpha : (n,) initial multipliers, overwritten with the last accepted
        iterate (always finite).
    tol : stopping tolerance on ‖∇φ‖₂; max_iter : Newton iterations allowed.
    acb_switch : change basis when min L_jj² < acb_switch · max H_jj (0: never, inf: from the start).

    Returns
    -------
    (status, iterations): status CONVERGED (0) or a failure code (see ``STATUS_NAMES``).
    """
    mT, w, wbT, C, Cg, phi_floor, mmax = data
    Z, P, V, y, M = ws
    n, Qp = mT.shape
    nb = wbT.shape[0]
    z = Z[0]
    G = Z[1]
    Gt = Z[2]
    wg = Z[0]  # z is free while the gradient and Hessian are formed
    gm = V[0]
    d = V[1]
    dalpha = V[2]
    at = V[3]
    H = M[0]
    T = M[1]

    phi, S, A = _evaluate(alpha, mT, w, v, z, G)
    if not (phi < np.inf):
        return NONFINITE, 0
    acb = False
    it = 0
    while True:
        # --- gradient (original basis) and Hessian (original or working basis) -------------------
        if not acb:
            for l in range(nb):
                y[l] = _dot_row(G, wbT, l, Qp)
            for j in range(n):
                s = -v[j]
                for l in range(nb):
                    s = _fma(Cg[j, l], y[l], s)
                gm[j] = s
                for k in range(j + 1):
                    s = 0.0
                    for l in range(nb):
                        s = _fma(C[j, k, l], y[l], s)
                    H[j, k] = s
        else:
            for q in range(Qp):
                wg[q] = w[q] * G[q]
            for j in range(n):
                gm[j] = _dot_row(wg, mT, j, Qp) - v[j]
                for k in range(j + 1):
                    H[j, k] = _dot3_rows(wg, P, j, k, Qp)
        gn2 = 0.0
        for j in range(n):
            gn2 += gm[j] * gm[j]
        if not (gn2 < np.inf):
            return NONFINITE, it
        if np.sqrt(gn2) <= tol:
            return CONVERGED, it
        if it >= max_iter:
            return MAX_ITER, it
        it += 1

        # --- Cholesky H = L Lᵀ in place (lower triangle) -------------------------------------------
        hmax = 0.0
        for j in range(n):
            hmax = max(hmax, H[j, j])
        pmin = np.inf
        for j in range(n):
            s = H[j, j]
            for k in range(j):
                s -= H[j, k] * H[j, k]
            if not (s > 0.0) or not (s < np.inf):
                return CHOLESKY, it
            pmin = min(pmin, s)
            ljj = np.sqrt(s)
            H[j, j] = ljj
            inv = 1.0 / ljj
            for i in range(j + 1, n):
                s = H[i, j]
                for k in range(j):
                    s -= H[i, k] * H[j, k]
                H[i, j] = s * inv

        if not acb and pmin < acb_switch * hmax:
            # start the change of basis here: T = I, P = m, then the common update below
            acb = True
            for i in range(n):
                for c in range(n):
                    T[i, c] = 0.0
                T[i, i] = 1.0
                for q in range(Qp):
                    P[i, q] = mT[i, q]

        if acb:
            # T ← L⁻¹ T, p ← L⁻¹ p (forward substitution), d = −T ∇φ, Δα = Tᵀ d
            for c in range(n):
                for i in range(n):
                    s = T[i, c]
                    for k in range(i):
                        s -= H[i, k] * T[k, c]
                    T[i, c] = s / H[i, i]
            for i in range(n):
                for k in range(i):
                    lik = -H[i, k]
                    for q in range(Qp):
                        P[i, q] = _fma(lik, P[k, q], P[i, q])
                inv = 1.0 / H[i, i]
                for q in range(Qp):
                    P[i, q] *= inv
            for i in range(n):
                s = 0.0
                for j in range(n):
                    s += T[i, j] * gm[j]
                d[i] = -s
            for j in range(n):
                s = 0.0
                for i in range(n):
                    s += T[i, j] * d[i]
                dalpha[j] = s
        else:
            # L d = −∇φ, Lᵀ Δα = d
            for i in range(n):
                s = -gm[i]
                for k in range(i):
                    s -= H[i, k] * d[k]
                d[i] = s / H[i, i]
            for i in range(n - 1, -1, -1):
                s = d[i]
                for k in range(i + 1, n):
                    s -= H[k, i] * dalpha[k]
                dalpha[i] = s / H[i, i]
        slope = 0.0
        for j in range(n):
            slope += gm[j] * dalpha[j]
        if not (slope < 0.0) or not (slope > -np.inf):
            return NONFINITE, it

        # --- Armijo backtracking; the rounding level of φ is tolerated -----------------------------
        noise = 4.0 * EPS * (Qp + A * mmax) * (S + 1.0)
        t = 1.0
        accepted = False
        phit = np.inf
        St = 0.0
        At = 0.0
        for _ in range(MAX_HALVINGS):
            for j in range(n):
                at[j] = alpha[j] + t * dalpha[j]
            phit, St, At = _evaluate(at, mT, w, v, z, Gt)
            if phit <= phi + ARMIJO_C * t * slope + noise:
                accepted = True
                break
            t *= 0.5
        if not accepted:
            return LINESEARCH, it
        for j in range(n):
            alpha[j] = at[j]
        G, Gt = Gt, G
        phi = phit
        S = St
        A = At
        if phi < phi_floor:
            return UNBOUNDED, it


# ---------------------------------------------------------------------------------------------------
# Fast path: many cells at once, one SIMD lane per cell
# ---------------------------------------------------------------------------------------------------
# Lane states of newton_lanes.
_EMPTY, _EVAL_INIT, _SEARCH, _NEED_DIR = 0, 1, 2, 3
_TAKE = -2  # lane code: empty lane that asks for a cell; -1: nothing to do


@njit(**_JIT)
def _lanes_refill(code, cell, state, it, cold, al, at, V, alpha, status, iters, omega, warm, alpha_cold,
                  nactive, nxt, hi):
    """Write out the lanes whose ``code`` is a status (≥ 0), then give every such lane (and every lane
    with code ``_TAKE``) the next cell of the queue nxt … hi−1, or retire it."""
    n, L = al.shape
    for k in range(L):
        if code[k] == -1:
            continue
        if code[k] >= 0:
            i = cell[k]
            for j in range(n):
                alpha[i, j] = al[j, k]
            status[i] = code[k]
            iters[i] = it[k]
        code[k] = -1
        if nxt < hi:
            i = nxt
            nxt += 1
            cell[k] = i
            state[k] = _EVAL_INIT
            it[k] = 0
            use_warm = warm
            if warm:
                for j in range(n):
                    if not np.isfinite(alpha[i, j]):
                        use_warm = False
            cold[k] = 0 if use_warm else 1
            for j in range(n):
                at[j, k] = alpha[i, j] if use_warm else alpha_cold[j]
                al[j, k] = at[j, k]
                V[j, k] = omega[i, j]
        else:
            state[k] = _EMPTY
            cell[k] = -1
            nactive -= 1
            for j in range(n):
                at[j, k] = alpha_cold[j]
    return nactive, nxt


@njit(**_JIT)
def _lanes_trial(mT, w, nq, at, V, z, Gt, St, phit, At, bad):
    """Evaluate every lane at its trial point: Gt = exp(m·at), φ, Σ w Gt, Σ|at| (φ = inf if bad).
    Only the first ``nq`` (real, not padding) nodes are visited."""
    n, Qp = mT.shape
    L = at.shape[1]
    for k in range(L):
        St[k] = 0.0
        At[k] = 0.0
        phit[k] = 0.0
        bad[k] = 0
    for j in range(n):
        for k in range(L):
            phit[k] -= at[j, k] * V[j, k]
            At[k] += abs(at[j, k])
    for q in range(nq):
        m0q = mT[0, q]
        for k in range(L):
            z[q, k] = at[0, k] * m0q
        for j in range(1, n):
            mjq = mT[j, q]
            for k in range(L):
                z[q, k] = _fma(at[j, k], mjq, z[q, k])
    zf = z.reshape(-1)
    Gf = Gt.reshape(-1)
    anybad = 0
    for x in range(zf.size):
        if not (zf[x] <= ZMAX):  # also NaN
            anybad += 1
    if anybad > 0:  # rare: find the lanes, keep their exponents harmless
        for q in range(nq):
            for k in range(L):
                if not (z[q, k] <= ZMAX):
                    bad[k] = 1
                    z[q, k] = 0.0
    for x in range(zf.size):
        Gf[x] = safe_exp(zf[x])
    for q in range(nq):
        wq = w[q]
        for k in range(L):
            St[k] = _fma(wq, Gt[q, k], St[k])
    for k in range(L):
        phit[k] = St[k] + phit[k] if bad[k] == 0 else np.inf


@njit(**_JIT)
def _lanes_direction(wbT, C, Cg, nq, G, V, y, gm, H, invd, dd, da, gn2, slope, hmax, pmin, okc, tmp):
    """For every lane: y = ⟨b G⟩, ∇φ, Hessian, its Cholesky factor and the Newton step (vectorised over
    lanes; lanes whose Cholesky fails get okc = 0 and a harmless step)."""
    nb, Qp = wbT.shape
    n, L = V.shape
    for l in range(nb):
        for k in range(L):
            y[l, k] = 0.0
    for q in range(nq):
        for l in range(nb):
            wbl = wbT[l, q]
            for k in range(L):
                y[l, k] = _fma(wbl, G[q, k], y[l, k])
    for k in range(L):
        gn2[k] = 0.0
        hmax[k] = 0.0
        pmin[k] = np.inf
        okc[k] = 1
        slope[k] = 0.0
    for j in range(n):
        for k in range(L):
            gm[j, k] = -V[j, k]
        for l in range(nb):
            c = Cg[j, l]
            if c != 0.0:
                for k in range(L):
                    gm[j, k] = _fma(c, y[l, k], gm[j, k])
        for k in range(L):
            gn2[k] += gm[j, k] * gm[j, k]
        for p in range(j + 1):
            for k in range(L):
                H[j, p, k] = 0.0
            for l in range(nb):
                c = C[j, p, l]
                if c != 0.0:
                    for k in range(L):
                        H[j, p, k] = _fma(c, y[l, k], H[j, p, k])
        for k in range(L):
            hmax[k] = max(hmax[k], H[j, j, k])
    # Cholesky H = L Lᵀ (lower triangle, in place), 1/L_jj in invd
    for j in range(n):
        for k in range(L):
            tmp[k] = H[j, j, k]
        for p in range(j):
            for k in range(L):
                tmp[k] -= H[j, p, k] * H[j, p, k]
        for k in range(L):
            s = tmp[k]
            if not (s > 0.0 and s < np.inf):
                okc[k] = 0
                s = 1.0
            pmin[k] = min(pmin[k], s)
            ljj = np.sqrt(s)
            H[j, j, k] = ljj
            invd[j, k] = 1.0 / ljj
        for i in range(j + 1, n):
            for k in range(L):
                tmp[k] = H[i, j, k]
            for p in range(j):
                for k in range(L):
                    tmp[k] -= H[i, p, k] * H[j, p, k]
            for k in range(L):
                H[i, j, k] = tmp[k] * invd[j, k]
    # L dd = −∇φ, Lᵀ da = dd, slope = ∇φ·da
    for i in range(n):
        for k in range(L):
            tmp[k] = -gm[i, k]
        for p in range(i):
            for k in range(L):
                tmp[k] -= H[i, p, k] * dd[p, k]
        for k in range(L):
            dd[i, k] = tmp[k] * invd[i, k]
    for i in range(n - 1, -1, -1):
        for k in range(L):
            tmp[k] = dd[i, k]
        for p in range(i + 1, n):
            for k in range(L):
                tmp[k] -= H[p, i, k] * da[p, k]
        for k in range(L):
            da[i, k] = tmp[k] * invd[i, k]
    for j in range(n):
        for k in range(L):
            slope[k] += gm[j, k] * da[j, k]


@njit(**_JIT)
def newton_lanes(data, omega, alpha, warm, alpha_cold, tol, k0, acb_switch, lo, hi, L, iters, status):
    """Fast path for cells lo … hi−1: plain Cholesky–Newton with Armijo, ``L`` cells at a time.

    Every cell occupies one lane; all per-node loops run over the lanes (contiguous, so they vectorise
    without reassociating any sum), and a lane whose cell finishes takes the next cell of the queue. A
    cell leaves with ``status`` CONVERGED, or with a code that hands it to the robust path
    (:func:`newton_cell`): ILLCONDITIONED (min L_jj² < acb_switch · max H_jj: continue with the change
    of basis from the current α), MAX_ITER (k0 spent), UNBOUNDED, CHOLESKY, LINESEARCH or NONFINITE.
    ``alpha`` (in: warm starts if ``warm``) receives the last accepted iterate, ``iters`` the steps.
    """
    mT, w, wbT, C, Cg, phi_floor, mmax = data
    n, Qp = mT.shape
    nb = wbT.shape[0]
    V = np.empty((n, L))
    al = np.empty((n, L))
    at = np.empty((n, L))
    da = np.empty((n, L))
    dnew = np.empty((n, L))
    dd = np.empty((n, L))
    gm = np.empty((n, L))
    invd = np.empty((n, L))
    y = np.empty((nb, L))
    H = np.empty((n, n, L))
    nq = Qp  # the padding nodes (zero weight) need no lanes
    while nq > 1 and w[nq - 1] == 0.0:
        nq -= 1
    z = np.empty((nq, L))
    G = np.empty((nq, L))
    phi = np.empty(L)
    S = np.empty(L)
    A = np.empty(L)
    t = np.empty(L)
    slope = np.empty(L)
    dslope = np.empty(L)
    phit = np.empty(L)
    St = np.empty(L)
    At = np.empty(L)
    noise = np.empty(L)
    hmax = np.empty(L)
    pmin = np.empty(L)
    gn2 = np.empty(L)
    tmp = np.empty(L)
    cell = np.zeros(L, np.int64)
    state = np.zeros(L, np.int64)
    it = np.zeros(L, np.int64)
    halv = np.zeros(L, np.int64)
    cold = np.zeros(L, np.int64)
    bad = np.zeros(L, np.int64)
    okc = np.zeros(L, np.int64)
    acc = np.zeros(L, np.int64)
    code = np.full(L, _TAKE, np.int64)
    for k in range(L):
        for j in range(n):
            at[j, k] = alpha_cold[j]
            al[j, k] = alpha_cold[j]
            V[j, k] = 0.0
    nactive, nxt = _lanes_refill(code, cell, state, it, cold, al, at, V, alpha, status, iters, omega, warm,
                                 alpha_cold, L, lo, hi)
    while nactive > 0:
        # --- trial points: first evaluation of a cell, or a line-search step ---------------------------
        # (straight into G: a rejected trial's values are never needed, the step is already known)
        _lanes_trial(mT, w, nq, at, V, z, G, St, phit, At, bad)
        for k in range(L):
            acc[k] = 0
            code[k] = -1
            if state[k] == _EVAL_INIT:
                if bad[k] == 0:
                    acc[k] = 1
                elif cold[k] == 0:  # an unusable warm start: start cold
                    cold[k] = 1
                    for j in range(n):
                        at[j, k] = alpha_cold[j]
                else:
                    code[k] = NONFINITE
            elif state[k] == _SEARCH:
                if phit[k] <= phi[k] + ARMIJO_C * t[k] * slope[k] + noise[k]:
                    acc[k] = 1
                else:
                    halv[k] += 1
                    if halv[k] >= MAX_HALVINGS:
                        code[k] = LINESEARCH
                    else:
                        t[k] *= 0.5
                        for j in range(n):
                            at[j, k] = al[j, k] + t[k] * da[j, k]
            if acc[k] == 1:
                for j in range(n):
                    al[j, k] = at[j, k]
                phi[k] = phit[k]
                S[k] = St[k]
                A[k] = At[k]
                state[k] = _NEED_DIR
                if phit[k] < phi_floor:
                    code[k] = UNBOUNDED
        nactive, nxt = _lanes_refill(code, cell, state, it, cold, al, at, V, alpha, status, iters, omega,
                                     warm, alpha_cold, nactive, nxt, hi)

        # --- gradient, stopping test, Newton direction ------------------------------------------------
        need = 0
        for k in range(L):
            if state[k] == _NEED_DIR:
                need += 1
        if need == 0:
            continue
        # (into dnew/dslope: lanes in a line search keep their step and slope; G is only valid for the
        # lanes that just accepted a point, which are the ones that use the result)
        _lanes_direction(wbT, C, Cg, nq, G, V, y, gm, H, invd, dd, dnew, gn2, dslope, hmax, pmin, okc, tmp)
        for k in range(L):
            code[k] = -1
            if state[k] != _NEED_DIR:
                continue
            if np.sqrt(gn2[k]) <= tol:
                code[k] = CONVERGED
            elif not (gn2[k] < np.inf):
                code[k] = NONFINITE
            elif it[k] >= k0:
                code[k] = MAX_ITER
            elif okc[k] == 0:
                code[k] = CHOLESKY
            elif pmin[k] < acb_switch * hmax[k]:
                code[k] = ILLCONDITIONED
            elif not (dslope[k] < 0.0 and dslope[k] > -np.inf):
                code[k] = NONFINITE
            else:
                it[k] += 1
                t[k] = 1.0
                halv[k] = 0
                noise[k] = 4.0 * EPS * (Qp + A[k] * mmax) * (S[k] + 1.0)
                slope[k] = dslope[k]
                for j in range(n):
                    da[j, k] = dnew[j, k]
                    at[j, k] = al[j, k] + da[j, k]
                state[k] = _SEARCH
        nactive, nxt = _lanes_refill(code, cell, state, it, cold, al, at, V, alpha, status, iters, omega,
                                     warm, alpha_cold, nactive, nxt, hi)


@njit(**_JIT)
def solve_chunk(data, omega, alpha, warm, tol, kmax, acb_switch, alpha_cold, lanes, lo, hi, iters, status):
    """One attempt for the cells lo … hi−1, serially: the fast path (:func:`newton_lanes`), then the
    robust path (:func:`newton_cell`, change of basis when ill-conditioned) for the cells it hands over,
    within ``kmax`` iterations in all. UNBOUNDED and MAX_ITER cells skip the robust path (hopeless
    without regularisation). Arguments as in :func:`newton_batch`; ``iters``/``status`` are per cell.
    Unsolved cells keep the last accepted iterate in ``alpha``.
    """
    n = omega.shape[1]
    if acb_switch < np.inf:
        nl = min(lanes, (hi - lo + 15) // 16 * 16)
        newton_lanes(data, omega, alpha, warm, alpha_cold, tol, kmax, acb_switch, lo, hi, nl, iters, status)
    else:
        for i in range(lo, hi):
            status[i] = NOT_STARTED
            iters[i] = 0
    ws = make_workspace(n, data[0].shape[1], data[2].shape[0])
    a = np.empty(n)
    for i in range(lo, hi):
        st = status[i]
        if st == CONVERGED or st == UNBOUNDED or st == MAX_ITER or iters[i] >= kmax:
            continue
        use = st != NOT_STARTED or warm
        for j in range(n):
            if not np.isfinite(alpha[i, j]):
                use = False
        for j in range(n):
            a[j] = alpha[i, j] if use else alpha_cold[j]
        st, it = newton_cell(data, ws, omega[i], a, tol, kmax - iters[i], acb_switch)
        iters[i] += it
        status[i] = st
        for j in range(n):
            alpha[i, j] = a[j]


def _batch_parallel(solve, data, omega, alpha, warm, tol, kmax, acb_switch, alpha_cold, lanes, chunk, iters,
                    status):
    """The parallel loop over chunks; ``solve`` is :func:`solve_chunk`, passed as a first-class function
    (a function pointer): linking its code into this parallel kernel would make Numba optimise the whole
    solver a second time (≈ 15 s more compile time, measured) for no speed."""
    ncells = omega.shape[0]
    nchunks = (ncells + chunk - 1) // chunk
    for c in prange(nchunks):
        lo = c * chunk
        hi = min(ncells, lo + chunk)
        solve(data, omega, alpha, warm, tol, kmax, acb_switch, alpha_cold, lanes, lo, hi, iters, status)


_PARALLEL = {}


def _parallel_kernel(data):
    """The parallel kernel for this layout of ``data`` (compiled, or loaded from the cache, once)."""
    key = numba.typeof(data)
    if key not in _PARALLEL:
        f2, f1, i1 = types.float64[:, ::1], types.float64[::1], types.int64[::1]
        head = (key, f2, f2, types.boolean, types.float64, types.int64, types.float64, f1, types.int64)
        chunk_sig = types.none(*head, types.int64, types.int64, i1, i1)
        sig = types.none(types.FunctionType(chunk_sig), *head, types.int64, i1, i1)
        jit = njit(sig, parallel=True, cache=True, fastmath=False, error_model="numpy")
        _PARALLEL[key] = jit(_batch_parallel)
    return _PARALLEL[key]


def newton_batch(data, omega, alpha, warm, tol, k0, max_iter, acb_switch, regs, omega_iso, alpha_cold,
                 lanes, chunk, iters, reg_index, status):
    """Batched normalised solve with isotropic regularisation; each attempt runs in parallel (Numba
    ``prange`` over chunks of cells, :func:`solve_chunk` each).

    Parameters
    ----------
    data : the tuple from :func:`kernel_data`.
    omega : (ncells, n) normalised moments (ω0 = 1), C-contiguous.
    alpha : (ncells, n) in: warm starts (used where ``warm`` and finite), out: normalised multipliers.
    warm : bool; tol : stopping tolerance on ‖∇φ‖₂; k0 : iterations of the unregularised attempt (fast
        and robust path together); max_iter : iterations of each regularised attempt.
    acb_switch : as in :func:`newton_cell`; inf skips the fast path (change of basis from the start).
    regs : (nr,) regularisation parameters r, tried in order; omega_iso : (n,) isotropic moments.
    alpha_cold : (n,) cold start (isotropic multipliers), also the answer for failed cells.
    lanes, chunk : cells solved together by :func:`newton_lanes`, cells per parallel work item.
    iters, reg_index, status : (ncells,) int64 outputs: Newton iterations over all attempts; index into
        ``regs`` of the successful regularisation (−1: none needed, −2: failed); final status of the
        unregularised attempt.

    The unsolved cells of all chunks are regularised together, r by r (so they still fill the lanes):
    their moments (1 − r) ω + r ω_iso are solved from the cold start. Numba code can call
    :func:`solve_chunk` (one attempt for a range of cells) or :func:`newton_cell` (one cell).
    """
    kernel = _parallel_kernel(data)
    kernel(solve_chunk, data, omega, alpha, bool(warm), float(tol), int(k0), float(acb_switch), alpha_cold,
           int(lanes), int(chunk), iters, status)
    reg_index[:] = -1
    pend = np.flatnonzero(status != CONVERGED)
    if pend.size == 0:
        return
    nodes = data[0][:, data[1] > 0]  # basis values at the real (not padding) nodes
    r_low = _separation_bound(alpha[pend], omega[pend], omega_iso, nodes, status[pend])
    for k, r in enumerate(regs):
        if pend.size == 0:
            break
        todo = r > r_low  # the others are proven outside the discrete realizable set at this r
        cells = pend[todo]
        if cells.size == 0:
            continue
        vr = np.ascontiguousarray((1.0 - r) * omega[cells] + r * omega_iso)
        ar = np.empty_like(vr)
        itr = np.zeros(cells.size, np.int64)
        sr = np.zeros(cells.size, np.int64)
        kernel(solve_chunk, data, vr, ar, False, float(tol), int(max_iter), float(acb_switch), alpha_cold,
               int(lanes), int(chunk), itr, sr)
        iters[cells] += itr
        ok = sr == CONVERGED
        alpha[cells[ok]] = ar[ok]
        reg_index[cells[ok]] = k
        r_low[todo] = np.maximum(r_low[todo], _separation_bound(ar, omega[cells], omega_iso, nodes, sr))
        keep = np.ones(pend.size, bool)
        keep[np.flatnonzero(todo)[ok]] = False
        pend, r_low = pend[keep], r_low[keep]
    alpha[pend] = alpha_cold
    reg_index[pend] = -2


def _separation_bound(alpha, omega, omega_iso, nodes, status):
    """For cells that failed as UNBOUNDED: the r below which (1 − r) ω + r ω_iso is provably outside the
    discrete realizable set (0 for the others).

    φ(α) < 1 + log min w implies α·v > max_q α·m_q (since ⟨e^{α·m}⟩ ≥ w_q e^{max α·m_q}), so the
    hyperplane {x : α·x = max_q α·m_q} separates the failed moments v from the convex hull of the nodes'
    basis values; every point of the segment towards ω_iso with α·v_r > max_q α·m_q is outside as well,
    i.e. every r < (α·ω − max α·m_q) / (α·ω − α·ω_iso). Skipping those r cannot change the r that
    succeeds: it only saves the attempts that must fail.
    """
    h_max = (alpha @ nodes).max(axis=1)
    h_w = np.einsum("ij,ij->i", alpha, omega)
    h_iso = alpha @ omega_iso
    with np.errstate(divide="ignore", invalid="ignore"):
        r = (h_w - h_max) / (h_w - h_iso)
    valid = (status == UNBOUNDED) & (h_w > h_max) & (h_w > h_iso) & np.isfinite(r)
    # a hair below the bound: rounding must not skip an r that is feasible
    return np.where(valid, r * (1.0 - 1e-9), 0.0)


# ---------------------------------------------------------------------------------------------------
# Kernel data
# ---------------------------------------------------------------------------------------------------
def _product_tensor(basis: Basis, m: np.ndarray, quad: Quadrature):
    """Product basis b (monomials of degree ≤ 2N) and C, Cg with m_j m_k = Σ_l C_jkl b_l, m_j = Σ_l Cg_jl b_l.

    Built from ``basis.to_monomial`` (exact 0/1 for monomial bases); verified at the nodes, and if the
    identity does not hold to rounding (it always should for polynomial bases) the distinct pair
    products themselves are used as b.
    """
    n = basis.n
    mono = Basis("monomial", basis.dim, basis.N).exponents
    prod = Basis("monomial", basis.dim, 2 * basis.N)
    index = {e: l for l, e in enumerate(prod.exponents)}
    Tm = basis.to_monomial
    if basis.kind == "monomial":
        Tm = np.eye(n)
    C = np.zeros((n, n, prod.n))
    Cg = np.zeros((n, prod.n))
    for a, ea in enumerate(mono):
        Cg[:, index[ea]] += Tm[:, a]
        for b, eb in enumerate(mono):
            e = tuple(x + y for x, y in zip(ea, eb, strict=True))
            C[:, :, index[e]] += np.outer(Tm[:, a], Tm[:, b])
    bvals = prod.evaluate(quad)  # (Q, nb)
    pairs = np.einsum("qj,qk->qjk", m, m)
    scale = np.abs(pairs).max() + 1.0
    ok = (np.abs(np.einsum("jkl,ql->qjk", C, bvals) - pairs).max() <= 1e-12 * scale
          and np.abs(bvals @ Cg.T - m).max() <= 1e-12 * scale)
    if ok:
        return bvals, C, Cg
    # generic fallback: b = the n basis functions and their n(n+1)/2 pair products
    funcs = [m[:, j] for j in range(n)] + [m[:, j] * m[:, k] for j in range(n) for k in range(j + 1)]
    bvals = np.stack(funcs, axis=1)
    nb = bvals.shape[1]
    C = np.zeros((n, n, nb))
    Cg = np.zeros((n, nb))
    Cg[np.arange(n), np.arange(n)] = 1.0
    l = n
    for j in range(n):
        for k in range(j + 1):
            C[j, k, l] = C[k, j, l] = 1.0
            l += 1
    return bvals, C, Cg


def kernel_data(basis: Basis, quad: Quadrature) -> tuple:
    """The tuple (mT, w, wbT, C, Cg, phi_floor, mmax) the kernels take.

    mT (n, Qp): basis values, transposed and zero-padded to Qp = multiple of ``PAD`` nodes; w (Qp,):
    weights (zero on padding); wbT (nb, Qp): weights × product basis; C (n, n, nb), Cg (n, nb): see
    :func:`_product_tensor`; phi_floor: lower bound of φ for realizable normalised moments (−inf if
    m0 ≢ 1); mmax: max |m| (scales the rounding level of φ).
    """
    m = np.asarray(basis.evaluate(quad), dtype=float)
    Q, n = m.shape
    Qp = -(-Q // PAD) * PAD
    mT = np.zeros((n, Qp))
    mT[:, :Q] = m.T
    w = np.zeros(Qp)
    w[:Q] = quad.weights
    bvals, C, Cg = _product_tensor(basis, m, quad)
    wbT = np.zeros((bvals.shape[1], Qp))
    wbT[:, :Q] = (bvals * quad.weights[:, None]).T
    if np.allclose(m[:, 0], 1.0, rtol=0.0, atol=1e-14):
        phi_floor = 1.0 + float(np.log(quad.weights.min())) - 1e-6
    else:
        phi_floor = -np.inf
    return (np.ascontiguousarray(mT), w, np.ascontiguousarray(wbT), np.ascontiguousarray(C),
            np.ascontiguousarray(Cg), phi_floor, float(np.abs(m).max()))


# ---------------------------------------------------------------------------------------------------
# The closure
# ---------------------------------------------------------------------------------------------------
def _real_option(name: str, value, lo: float, hi: float) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value) \
            or not lo < value <= hi:
        raise InputError(f"newton closure: option {name!r} must be a number in ({lo:g}, {hi:g}], "
                         f"got {value!r}")
    return float(value)


def _int_option(name: str, value, lo: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < lo:
        raise InputError(f"newton closure: option {name!r} must be an integer ≥ {lo}, got {value!r}")
    return int(value)


class NewtonClosure(Closure):
    """Maxwell–Boltzmann M_N closure by a robust batched Newton solver (see the module docstring).

    Options (as an input file passes them)
    --------------------------------------
    tol : 1e−9, on ‖⟨m G⟩ − u‖₂ / u0.
    max_iter : 100, iteration cap of each regularised attempt.
    k0 : 50, iterations of the unregularised attempt before regularising (≤ max_iter).
    regularisation : increasing r in (0, 1], default (1e−8, 1e−6, 1e−4, 1e−3, 1e−2, 5e−2, 0.1, 0.5, 1).
    check : True: raise :class:`RealizabilityError` on non-realizable input (≈ 0.2 µs a cell in 1D M2);
        False: only finiteness and u0 > 0 are checked and non-realizable cells are regularised.
    change_basis : "auto" (default), "always" or "never" (adaptive change of basis, see module doc).
    """

    name = "newton"

    def __init__(self, basis: Basis, quad: Quadrature, tol: float = 1e-9, max_iter: int = 100, k0: int = 50,
                 regularisation=DEFAULT_REGULARISATION, check: bool = True, change_basis: str = "auto",
                 **unknown):
        if unknown:
            raise InputError(f"newton closure: unknown option(s) {', '.join(map(repr, sorted(unknown)))}; "
                             "valid: tol, max_iter, k0, regularisation, check, change_basis")
        super().__init__(basis, quad)
        self.tol = _real_option("tol", tol, 0.0, 1.0)
        self.max_iter = _int_option("max_iter", max_iter, 1)
        self.k0 = _int_option("k0", k0, 1)
        if self.k0 > self.max_iter:
            raise InputError(f"newton closure: option 'k0' ({self.k0}) must not exceed 'max_iter' "
                             f"({self.max_iter})")
        try:
            regs = np.asarray(regularisation, dtype=float).reshape(-1)
        except (TypeError, ValueError):
            raise InputError("newton closure: option 'regularisation' must be a list of numbers, "
                             f"got {regularisation!r}") from None
        if not (np.all(np.isfinite(regs)) and np.all(regs > 0) and np.all(regs <= 1)
                and np.all(np.diff(regs) > 0)):
            raise InputError("newton closure: option 'regularisation' must be increasing values in (0, 1], "
                             f"got {regularisation!r}")
        self.regularisation = regs
        if not isinstance(check, (bool, np.bool_)):
            raise InputError(f"newton closure: option 'check' must be true or false, got {check!r}")
        self.check = bool(check)
        if change_basis not in CHANGE_BASIS:
            raise InputError(f"newton closure: option 'change_basis' must be one of "
                             f"{', '.join(map(repr, CHANGE_BASIS))}, got {change_basis!r}")
        self.change_basis = change_basis
        self.acb_switch = float(CHANGE_BASIS[change_basis])

        self.data = kernel_data(basis, quad)
        self.omega_iso = np.ascontiguousarray(basis.isotropic(1.0, quad), dtype=float)
        self.alpha_cold = np.zeros(self.n)
        self.alpha_cold[0] = -np.log(self.w.sum())
        self.last_status = np.zeros(0, np.int64)

    # --- the batched call -------------------------------------------------------------------------
    def multipliers(self, u: np.ndarray, alpha0: np.ndarray | None = None) -> tuple[np.ndarray, ClosureStats]:
        """α (ncells, n) with ⟨m e^{α·m}⟩ = u to ``tol``·u0 (or of the regularised moments, see stats)."""
        u = np.asarray(u, dtype=float)
        single = u.ndim == 1
        u2 = u.reshape(1, -1) if single else u
        if u2.ndim != 2 or u2.shape[1] != self.n:
            raise ValueError(f"newton closure: moments must have shape (ncells, {self.n}), got {u.shape}")
        self._check_input(u2)
        u0 = u2[:, 0]
        omega = np.ascontiguousarray(u2 / u0[:, None])
        logu0 = np.log(u0)
        if alpha0 is not None:
            if np.shape(alpha0) != u.shape:
                raise ValueError(f"newton closure: alpha0 has shape {np.shape(alpha0)}, moments {u.shape}")
            a = np.array(alpha0, dtype=float).reshape(u2.shape)  # a copy: the caller's array is not touched
            a[:, 0] -= logu0
        else:
            a = None
        alpha, stats = self.solve_normalised(omega, a, moments=u2)
        alpha[:, 0] += logu0
        return (alpha[0] if single else alpha), stats

    def entropy(self, u: np.ndarray, alpha: np.ndarray | None = None) -> np.ndarray:
        """h(u) = α·u − u0 per cell: at the dual optimum ⟨e^{α·m}⟩ = u0 (m0 ≡ 1), so no pass over the
        quadrature is needed (the difference is bounded by the stopping tolerance, tol·u0)."""
        u = np.asarray(u, dtype=float).reshape(-1, self.n)
        if alpha is None:
            alpha, _ = self.multipliers(u)
        return np.einsum("ij,ij->i", np.asarray(alpha).reshape(u.shape), u) - u[:, 0]

    def solve_normalised(self, omega: np.ndarray, alpha: np.ndarray | None = None,
                         moments: np.ndarray | None = None) -> tuple[np.ndarray, ClosureStats]:
        """Solve for normalised moments ω (ω0 = 1; not checked). ``alpha``: normalised warm starts (rows
        that are not finite start cold), updated in place when C-contiguous float64; the solution is
        returned either way. ``moments`` (default ω) is what ``stats.failed_moments`` reports.
        """
        omega = np.ascontiguousarray(omega, dtype=float)
        ncells = omega.shape[0]
        warm = alpha is not None
        alpha = np.ascontiguousarray(alpha, dtype=float) if warm else np.empty_like(omega)
        iters = np.zeros(ncells, np.int64)
        reg_index = np.zeros(ncells, np.int64)
        status = np.zeros(ncells, np.int64)
        if ncells:
            lanes, chunk = self._lanes(ncells)
            newton_batch(self.data, omega, alpha, warm, self.tol, self.k0, self.max_iter, self.acb_switch,
                         self.regularisation, self.omega_iso, self.alpha_cold, lanes, chunk, iters, reg_index,
                         status)
        self.last_status = status
        regularised = np.flatnonzero(reg_index >= 0)
        failed = np.flatnonzero(reg_index == -2)
        src = omega if moments is None else moments
        stats = ClosureStats(
            ncells=ncells,
            iterations_mean=float(iters.mean()) if ncells else 0.0,
            iterations_max=int(iters.max()) if ncells else 0,
            regularised=regularised,
            reg_r=self.regularisation[reg_index[regularised]],
            failed=failed,
            failed_moments=np.array(src[failed], copy=True),
        )
        if failed.size:
            rmax = self.regularisation[-1] if self.regularisation.size else 0.0
            log.warning("newton closure: %d cell(s) not solved even with r = %g (first: cell %d, u = %s); "
                        "they get isotropic multipliers", failed.size, rmax, failed[0], src[failed[0]])
        return alpha, stats

    def _lanes(self, ncells: int) -> tuple[int, int]:
        """Lanes of the fast path (a multiple of 16, ≲ 4096 node values per array) and cells per work item
        (≥ 4 items per thread when there are enough cells)."""
        Qp = self.data[0].shape[1]
        lanes = int(np.clip((4096 // Qp) // 16 * 16, 16, MAX_LANES))
        per_item = -(-ncells // (4 * numba.get_num_threads()))
        return lanes, max(lanes, min(CHUNK_LANES * lanes, per_item))

    def _check_input(self, u: np.ndarray) -> None:
        """Finite moments with u0 > 0 always (cheap); full realizability only with ``check``."""
        bad = ~np.isfinite(u).all(axis=1) | ~(u[:, 0] > 0)
        if bad.any():
            cells = np.flatnonzero(bad)
            shown = ", ".join(f"cell {c}: u={np.array2string(u[c], precision=4)}" for c in cells[:3])
            more = f" (and {cells.size - 3} more)" if cells.size > 3 else ""
            raise RealizabilityError(f"newton closure input: {cells.size} moment vector(s) non-finite or "
                                     f"with u0 ≤ 0: {shown}{more}", cells, u[cells])
        if self.check:
            self.check_realizable(u, where="newton closure input")
