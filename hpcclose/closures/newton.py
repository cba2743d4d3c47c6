"""The M_N closure by Newton's method on the Maxwell–Boltzmann dual problem ("newton").

For every cell, minimise (SCIENCE.md §2)

    φ(α) = ⟨exp(α·m)⟩ − α·u,     ∇φ = ⟨m e^{α·m}⟩ − u,     ∇²φ = ⟨m mᵀ e^{α·m}⟩,

with ⟨·⟩ the closure's quadrature. The solver matches the moments of the *discrete* measure: a moment
vector outside the convex hull of the basis values at the nodes has no solution even if it is realizable
for the exact integral (1D M2 with 30 Gauss–Legendre nodes: u2/u0 > μ_max² ≈ 0.9937, or just above the
parabola between two nodes). Such cells are caught by isotropic regularisation (below) and reported.

Algorithm (per cell, batched over cells in Numba with ``prange``)
-----------------------------------------------------------------
1. **Normalise**: solve for ω = u/u0 (ω0 = 1), then α0 += log u0 (exact because m0 ≡ 1). A warm start is
   converted the other way (α0 −= log u0); the cold start is the isotropic density α = (−log Σw, 0, …),
   whose moments are ``basis.isotropic(1, quad)`` exactly.
2. **Newton with Cholesky**: Hessian H = ⟨m mᵀ G⟩, hand-written Cholesky H = L Lᵀ, step by two triangular
   solves. The Hessian and gradient come from the moments y_l = ⟨b_l G⟩ of the distinct *products*
   b_l of basis functions (monomials of degree ≤ 2N: 2N+1 of them in 1D instead of n(n+1)/2 + n sums),
   mapped by the exact coefficient tensor C (H_jk = Σ_l C_jkl y_l; 0/1 entries for monomial bases).
3. **Adaptive change of basis** (Alldredge, Hauck, O'Leary, Tits 2014, JCP 258): once the Cholesky
   pivots show an ill-conditioned Hessian (min L_jj² < ``ACB_SWITCH`` · max H_jj, i.e. condition
   number ≳ 1e8, which happens near ∂R), the cell switches to iterating in a basis p = T m of the same
   space: each iteration forms H_p = ⟨p pᵀ G⟩ directly from the basis values at the nodes, factors
   H_p = L Lᵀ and replaces p ← L⁻¹ p, T ← L⁻¹ T, in which the Hessian at the current point is the
   identity; the step is Δα = −Tᵀ T ∇φ. The ill-conditioning is carried by the accumulated T instead of
   being re-formed in H every iteration, so the step stays accurate where the plain Cholesky step loses
   digits (condition ~ 1/distance² to ∂R). Option ``change_basis``: "auto" (default, as described),
   "always" (from the first iteration) or "never".
4. **Armijo backtracking** on φ (c = 1e−4, halving, at most 50 halvings). The rounding level of φ is
   tolerated so that the last quadratically convergent steps are not rejected by noise. Trial exponents
   above ``ZMAX`` = 500 are rejected before exp is evaluated, and exp itself (a vectorisable
   Cody–Waite + degree-13 polynomial, ≤ 2 ulp, returns 0 below −708) cannot overflow, so no inf/NaN
   can appear. The exp values of the accepted trial are reused for the next gradient and Hessian: one
   exp pass per iteration when the full step is taken.
5. **Stopping test** ‖∇φ‖₂ ≤ tol on the normalised problem, i.e. ‖⟨m G⟩ − u‖₂ ≤ tol·u0, evaluated at the
   α that is returned (the test is about what the caller gets).
6. **Failure detection**: a non-positive Cholesky pivot, a failed line search, a non-finite value or the
   iteration cap end an attempt. So does φ falling below its lower bound over realizable moments: with
   m0 ≡ 1 and ⟨G⟩ = 1 at the optimum, φ* = 1 − ⟨G log G⟩ ≥ 1 + log min_q w_q; φ(α) below that proves
   the moments are not realizable under the quadrature (φ is unbounded below), so the solver moves on
   to regularisation at once instead of spending k0 iterations.
7. **Isotropic regularisation**: if the first attempt (at most ``k0`` iterations) fails, retry from the
   cold start with v = (1 − r) ω + r ω_iso for r in ``regularisation`` in order (at most ``max_iter``
   iterations each). The returned α then belongs to the regularised moments; ``stats.regularised`` and
   ``stats.reg_r`` record the cells and their r. If every r fails, the cell gets the (finite) isotropic
   α and is listed in ``stats.failed`` with its moments (and a warning is logged).

Cost of the input check
-----------------------
``check=True`` (default) calls :meth:`Closure.check_realizable`, a batched numpy eigenvalue test of the
Hankel matrices: ≈ 0.6 µs a cell for 1D M2 (measured, one core), about half the cost of a warm-started
solve. A simulation that already guarantees realizable states can pass ``check=False``: then only
finiteness and u0 > 0 are checked (a few ns a cell) and non-realizable cells are regularised and
reported in the stats instead of raising.

Kernels for other code
----------------------
:func:`kernel_data` packs a basis and quadrature into the arrays the kernels take; :func:`newton_cell`
solves one normalised cell with scratch from :func:`make_workspace`; :func:`newton_batch` is the parallel
batched solver with regularisation. All are ``@njit`` functions, callable from other Numba code (e.g. a
hybrid closure's fallback). Layout: node arrays are transposed (components × nodes) and zero-padded to a
multiple of 8 nodes (zero weights: sums are unchanged), so the per-node loops vectorise.
"""

from __future__ import annotations

import logging
import numbers

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
# Cells per work chunk of the parallel loop: scratch arrays are allocated once per chunk.
CHUNK = 128
# Node arrays are zero-padded to a multiple of this (vector width × unroll of the node loops).
PAD = 8

# Status codes of newton_cell (newton_batch stores the one of the unregularised attempt per cell).
CONVERGED, MAX_ITER, LINESEARCH, CHOLESKY, NONFINITE, UNBOUNDED = 0, 1, 2, 3, 4, 5
STATUS_NAMES = ("converged", "max_iter", "line search failed", "Cholesky failed", "non-finite",
                "unbounded (not realizable under the quadrature)")

DEFAULT_REGULARISATION = (1e-8, 1e-6, 1e-4, 1e-3, 1e-2, 5e-2, 0.1, 0.5, 1.0)


# ---------------------------------------------------------------------------------------------------
# Scalar building blocks (inlined into the kernels)
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
_C8, _C9, _C10, _C11, _C12, _C13 = 1 / 40320, 1 / 362880, 1 / 3628800, 1 / 39916800, 1 / 479001600, 1 / 6227020800


@njit(inline="always", **_JIT)
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


@njit(inline="always", **_JIT)
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


@njit(inline="always", **_JIT)
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


@njit(inline="always", **_JIT)
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
    """Scratch for :func:`newton_cell`: Z (3, Qp), P (n, Qp), V (5, n), Y (nb,), M (2, n, n)."""
    return np.empty((3, Qp)), np.empty((n, Qp)), np.empty((5, n)), np.empty(nb), np.empty((2, n, n))


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
    hdiag = V[4]
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
            hdiag[j] = H[j, j]
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


@njit(parallel=True, cache=True, fastmath=False, error_model="numpy")
def newton_batch(data, omega, alpha, warm, tol, k0, max_iter, acb_switch, regs, omega_iso, alpha_cold,
                 iters, reg_index, status):
    """Batched normalised solve with isotropic regularisation, parallel over cells.

    Parameters
    ----------
    data : the tuple from :func:`kernel_data`.
    omega : (ncells, n) normalised moments (ω0 = 1).
    alpha : (ncells, n) in: warm starts (used where ``warm`` and finite), out: normalised multipliers.
    tol, k0, max_iter, acb_switch : as in :func:`newton_cell` (k0 caps the unregularised attempt,
        max_iter every regularised one).
    regs : (nr,) regularisation parameters r, tried in order; omega_iso : (n,) isotropic moments.
    alpha_cold : (n,) cold start (isotropic multipliers), also the answer for failed cells.
    iters, reg_index, status : (ncells,) outputs: Newton iterations over all attempts; index into
        ``regs`` of the successful regularisation (−1: none needed, −2: failed); status of the first
        (unregularised) attempt.
    """
    ncells, n = omega.shape
    mT = data[0]
    Qp = mT.shape[1]
    nb = data[2].shape[0]
    nchunks = (ncells + CHUNK - 1) // CHUNK
    for c in prange(nchunks):
        ws = make_workspace(n, Qp, nb)
        a = np.empty(n)
        vr = np.empty(n)
        for i in range(c * CHUNK, min(ncells, (c + 1) * CHUNK)):
            use_warm = warm
            if warm:
                for j in range(n):
                    if not np.isfinite(alpha[i, j]):
                        use_warm = False
            for j in range(n):
                a[j] = alpha[i, j] if use_warm else alpha_cold[j]
            st, total = newton_cell(data, ws, omega[i], a, tol, k0, acb_switch)
            status[i] = st
            reg_index[i] = -1
            if st != CONVERGED:
                reg_index[i] = -2
                for k in range(regs.size):
                    r = regs[k]
                    for j in range(n):
                        vr[j] = (1.0 - r) * omega[i, j] + r * omega_iso[j]
                        a[j] = alpha_cold[j]
                    st2, it2 = newton_cell(data, ws, vr, a, tol, max_iter, acb_switch)
                    total += it2
                    if st2 == CONVERGED:
                        reg_index[i] = k
                        break
                if reg_index[i] == -2:
                    for j in range(n):
                        a[j] = alpha_cold[j]
            for j in range(n):
                alpha[i, j] = a[j]
            iters[i] = total


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
            e = tuple(x + y for x, y in zip(ea, eb))
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
        raise InputError(f"newton closure: option {name!r} must be a number in ({lo:g}, {hi:g}], got {value!r}")
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
    check : True: raise :class:`RealizabilityError` on non-realizable input (≈ 0.6 µs a cell in 1D M2);
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
            a = np.array(alpha0, dtype=float).reshape(u2.shape) if np.size(alpha0) == u2.size else None
            if a is None:
                raise ValueError(f"newton closure: alpha0 has shape {np.shape(alpha0)}, moments {u.shape}")
            a[:, 0] -= logu0
        else:
            a = None
        alpha, stats = self.solve_normalised(omega, a, moments=u2)
        alpha[:, 0] += logu0
        return (alpha[0] if single else alpha), stats

    def solve_normalised(self, omega: np.ndarray, alpha: np.ndarray | None = None,
                         moments: np.ndarray | None = None) -> tuple[np.ndarray, ClosureStats]:
        """Solve for normalised moments ω (ω0 = 1; not checked); ``alpha``: warm start (overwritten).

        ``moments`` (default ω) is what ``stats.failed_moments`` reports.
        """
        omega = np.ascontiguousarray(omega, dtype=float)
        ncells = omega.shape[0]
        warm = alpha is not None
        alpha = np.ascontiguousarray(alpha, dtype=float) if warm else np.empty_like(omega)
        iters = np.zeros(ncells, np.int64)
        reg_index = np.zeros(ncells, np.int64)
        status = np.zeros(ncells, np.int64)
        if ncells:
            newton_batch(self.data, omega, alpha, warm, self.tol, self.k0, self.max_iter, self.acb_switch,
                         self.regularisation, self.omega_iso, self.alpha_cold, iters, reg_index, status)
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
            log.warning("newton closure: %d cell(s) not solved even with r = %g (first: cell %d, u = %s); "
                        "they get isotropic multipliers", failed.size,
                        self.regularisation[-1] if self.regularisation.size else 0.0, failed[0], src[failed[0]])
        return alpha, stats

    def _check_input(self, u: np.ndarray) -> None:
        """Finite moments with u0 > 0 always (cheap); full realizability only with ``check``."""
        bad = ~np.isfinite(u).all(axis=1) | ~(u[:, 0] > 0)
        if bad.any():
            cells = np.flatnonzero(bad)
            shown = ", ".join(f"cell {c}: u={np.array2string(u[c], precision=4)}" for c in cells[:3])
            more = f" (and {cells.size - 3} more)" if cells.size > 3 else ""
            raise RealizabilityError(f"newton closure input: {cells.size} moment vector(s) non-finite or with "
                                     f"u0 ≤ 0: {shown}{more}", cells, u[cells])
        if self.check:
            self.check_realizable(u, where="newton closure input")
