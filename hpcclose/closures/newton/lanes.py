"""The fast path of the Newton closure: plain Cholesky–Newton for many cells at once, one SIMD lane per
cell.

``lanes`` cells (128 for 30 nodes) iterate together, so every per-node loop runs over contiguous lanes
and vectorises without reassociating a single sum (``fastmath`` stays off); a lane whose cell finishes
takes the next cell. Gradient and Hessian come from the moments y_l = ⟨b_l G⟩ of the distinct products
b_l of basis functions, mapped by the exact coefficient tensor of :mod:`.data`. exp is evaluated once per
node and trial point, and the values of the accepted trial are those of the next gradient and Hessian.
The fast path hands a cell over to the robust path (:mod:`.cell`) when its Hessian is ill-conditioned
(min L_jj² < ``acb_switch`` · max H_jj, i.e. condition ≳ 1e8 by default) or when anything fails.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from ...kernels.fastmath import fma, safe_exp
from ...kernels.jit import SERIAL
from .constants import (
    ARMIJO_C,
    CHOLESKY,
    CONVERGED,
    EPS,
    ILLCONDITIONED,
    LINESEARCH,
    MAX_HALVINGS,
    MAX_ITER,
    NONFINITE,
    UNBOUNDED,
    ZMAX,
)

# Lane states of newton_lanes.
_EMPTY, _EVAL_INIT, _SEARCH, _NEED_DIR = 0, 1, 2, 3
_TAKE = -2  # lane code: empty lane that asks for a cell; -1: nothing to do
# Rows of the scratch of lanes_solve: (n, L) arrays, float and int per-lane vectors (see lanes_scratch;
# a CUDA caller allocates the same shapes itself).
LANE_ROWS = (8, 14, 9)


@njit(**SERIAL)
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
                    if not math.isfinite(alpha[i, j]):
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


@njit(inline="always", **SERIAL)
def _fma4(acc, r0, r1, r2, r3, c0, c1, c2, c3):
    """acc[k] += r0[k] c0, then r1[k] c1, r2[k] c2, r3[k] c3, each with one rounding (FMA), over the lanes:
    four terms of a sum per load and store of acc, in the order one term per pass would add them."""
    for k in range(acc.shape[0]):
        acc[k] = fma(r3[k], c3, fma(r2[k], c2, fma(r1[k], c1, fma(r0[k], c0, acc[k]))))


@njit(**SERIAL)
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
    # four components per pass (one load and store of z per four FMAs), each sum still in component order
    for q in range(nq):
        m0q = mT[0, q]
        zq = z[q]
        for k in range(L):
            zq[k] = at[0, k] * m0q
        j = 1
        while j + 4 <= n:
            _fma4(zq, at[j], at[j + 1], at[j + 2], at[j + 3], mT[j, q], mT[j + 1, q], mT[j + 2, q], mT[j + 3, q])
            j += 4
        for jr in range(j, n):
            mjq = mT[jr, q]
            for k in range(L):
                zq[k] = fma(at[jr, k], mjq, zq[k])
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
            St[k] = fma(wq, Gt[q, k], St[k])
    for k in range(L):
        phit[k] = St[k] + phit[k] if bad[k] == 0 else np.inf


@njit(**SERIAL)
def _lanes_gradient(wbT, Gs, nq, G, V, y, gm, gn2):
    """For every lane: y = ⟨b G⟩ (the distinct products), ∇φ = Cg y − V and ‖∇φ‖² (vectorised over lanes;
    Gs: the non-zeros of Cg, summed in the order of the dense sum)."""
    nb, Qp = wbT.shape
    n, L = V.shape
    starts, cols, vals = Gs
    # four nodes per pass over the sums: one load and store of y per four FMAs (one per FMA was bound by
    # loads and stores, at ~20 % of the FMA peak); each sum still runs over the nodes in order
    for l in range(nb):
        for k in range(L):
            y[l, k] = 0.0
    q = 0
    while q + 4 <= nq:
        for l in range(nb):
            _fma4(y[l], G[q], G[q + 1], G[q + 2], G[q + 3], wbT[l, q], wbT[l, q + 1], wbT[l, q + 2], wbT[l, q + 3])
        q += 4
    for qr in range(q, nq):
        for l in range(nb):
            wbl = wbT[l, qr]
            for k in range(L):
                y[l, k] = fma(wbl, G[qr, k], y[l, k])
    for k in range(L):
        gn2[k] = 0.0
    for j in range(n):
        for k in range(L):
            gm[j, k] = -V[j, k]
        for e in range(starts[j], starts[j + 1]):
            c = vals[e]
            l = cols[e]
            for k in range(L):
                gm[j, k] = fma(c, y[l, k], gm[j, k])
        for k in range(L):
            gn2[k] += gm[j, k] * gm[j, k]


@njit(**SERIAL)
def _lanes_direction(Hs, y, gm, H, invd, dd, da, slope, hmax, pmin, okc, tmp):
    """For every lane: the Hessian from y, its Cholesky factor and the Newton step (vectorised over lanes;
    lanes whose Cholesky fails get okc = 0 and a harmless step). Only the non-zero terms of the product
    tensor are summed (Hs), in the order of the dense sum."""
    n, L = gm.shape
    starts, cols, vals = Hs
    for k in range(L):
        hmax[k] = 0.0
        pmin[k] = np.inf
        okc[k] = 1
        slope[k] = 0.0
    e0 = 0
    for j in range(n):
        for p in range(j + 1):
            for k in range(L):
                H[j, p, k] = 0.0
            for e in range(starts[e0], starts[e0 + 1]):
                c = vals[e]
                l = cols[e]
                for k in range(L):
                    H[j, p, k] = fma(c, y[l, k], H[j, p, k])
            e0 += 1
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
            ljj = math.sqrt(s)
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


@njit(**SERIAL)
def real_nodes(w):
    """Nodes up to the last non-zero weight: the zero-weight padding nodes need no lanes."""
    nq = w.shape[0]
    while nq > 1 and w[nq - 1] == 0.0:
        nq -= 1
    return nq


@njit(**SERIAL)
def lanes_scratch(n, nb, nq, L):
    """Scratch of :func:`lanes_solve` for ``L`` lanes: (F (8, n, L), y (nb, L), H (n, n, L), ZG (2, nq, L),
    s (14, L), iv (9, L) int64). A caller without an allocator (a CUDA thread) passes arrays of these
    shapes instead."""
    rf, rs, ri = LANE_ROWS
    return (np.empty((rf, n, L)), np.empty((nb, L)), np.empty((n, n, L)), np.empty((2, nq, L)),
            np.empty((rs, L)), np.empty((ri, L), np.int64))


@njit(**SERIAL)
def newton_lanes(data, omega, alpha, warm, alpha_cold, tol, k0, acb_switch, lo, hi, L, iters, status):
    """Fast path for cells lo … hi−1 with ``L`` lanes: :func:`lanes_solve` with freshly allocated scratch."""
    n = omega.shape[1]
    scratch = lanes_scratch(n, data[2].shape[0], real_nodes(data[1]), L)
    lanes_solve(data, omega, alpha, warm, alpha_cold, tol, k0, acb_switch, lo, hi, iters, status, scratch)


@njit(**SERIAL)
def lanes_solve(data, omega, alpha, warm, alpha_cold, tol, k0, acb_switch, lo, hi, iters, status, scratch):
    """Fast path for cells lo … hi−1: plain Cholesky–Newton with Armijo, L cells at a time (L, and the
    number of real nodes nq, from the shapes of ``scratch``, see :func:`lanes_scratch`).

    Every cell occupies one lane; all per-node loops run over the lanes (contiguous, so they vectorise
    without reassociating any sum), and a lane whose cell finishes takes the next cell of the queue. A
    cell leaves with ``status`` CONVERGED, or with a code that hands it to the robust path
    (:func:`newton_cell`): ILLCONDITIONED (min L_jj² < acb_switch · max H_jj: continue with the change
    of basis from the current α), MAX_ITER (k0 spent), UNBOUNDED, CHOLESKY, LINESEARCH or NONFINITE.
    ``alpha`` (in: warm starts if ``warm``) receives the last accepted iterate, ``iters`` the steps.
    Every lane's arithmetic is independent of the others', so results do not depend on L (a CUDA
    thread runs it with L = 1 and gets the CPU's iterates).
    """
    mT, w, wbT, C, Cg, phi_floor, mmax, h0, h1, h2, g0, g1, g2 = data
    Hs = (h0, h1, h2)  # the non-zeros of the product tensor (data.py)
    Gs = (g0, g1, g2)
    n, Qp = mT.shape
    F, y, H, ZG, sv, iv = scratch
    L = F.shape[2]
    nq = ZG.shape[1]
    # named views of the scratch: per-component (n, L) arrays, per-lane vectors
    V, al, at, da, dnew, dd, gm, invd = F[0], F[1], F[2], F[3], F[4], F[5], F[6], F[7]
    z, G = ZG[0], ZG[1]
    phi, S, A, t, slope, dslope, phit, St = sv[0], sv[1], sv[2], sv[3], sv[4], sv[5], sv[6], sv[7]
    At, noise, hmax, pmin, gn2, tmp = sv[8], sv[9], sv[10], sv[11], sv[12], sv[13]
    cell, state, it, halv, cold, bad, okc, acc, code = iv[0], iv[1], iv[2], iv[3], iv[4], iv[5], iv[6], \
        iv[7], iv[8]
    for k in range(L):
        cell[k] = 0
        state[k] = 0
        it[k] = 0
        halv[k] = 0
        cold[k] = 0
        bad[k] = 0
        okc[k] = 0
        acc[k] = 0
        code[k] = _TAKE
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
        # lanes that just accepted a point, which are the ones that use the result). The Hessian and step
        # only if some lane goes on iterating: often every lane has converged at its first point
        _lanes_gradient(wbT, Gs, nq, G, V, y, gm, gn2)
        step = False
        for k in range(L):
            if state[k] == _NEED_DIR and math.sqrt(gn2[k]) > tol and gn2[k] < np.inf and it[k] < k0:
                step = True
        if step:
            _lanes_direction(Hs, y, gm, H, invd, dd, dnew, dslope, hmax, pmin, okc, tmp)
        for k in range(L):
            code[k] = -1
            if state[k] != _NEED_DIR:
                continue
            if math.sqrt(gn2[k]) <= tol:
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
