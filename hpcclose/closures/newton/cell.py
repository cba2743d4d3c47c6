"""The robust path of the Newton closure: one normalised cell, damped Newton with the adaptive change of
basis.

Damped Newton
-------------
Cholesky H = L Lᵀ (hand-written), step by two triangular solves, Armijo backtracking on φ (c = 1e−4,
halving, ≤ 50 halvings; the rounding level of φ is tolerated so that the last, quadratically convergent
steps are not rejected by noise), stopping test ‖∇φ‖₂ ≤ tol on the normalised problem, i.e.
‖⟨m G⟩ − u‖₂ ≤ tol·u0, evaluated at the α that is returned.

Adaptive change of basis
------------------------
:func:`newton_cell` continues from the fast path's iterate (:mod:`.lanes`) with the adaptive change of
basis of Alldredge, Hauck, O'Leary & Tits (2014, JCP 258): it iterates in a basis p = T m of the same
space, each iteration forming H_p = ⟨p pᵀ G⟩ from the basis values at the nodes, factoring H_p = L Lᵀ
and replacing p ← L⁻¹ p, T ← L⁻¹ T, in which the Hessian at the current point is the identity; the step
is Δα = −Tᵀ T ∇φ. The ill-conditioning is carried by the accumulated factor T instead of being re-formed
and re-factored in H every iteration. (Measured: for 1D M2 the plain Cholesky step still converges at
distance 1e−6 from ∂R with 3000 nodes, so here the change of basis is a safeguard; the cells handed over
to it are mostly those of N ≥ 4 with large α.) Option ``change_basis``: "auto" (default: switch when
min L_jj² < ``ACB_SWITCH`` · max H_jj, i.e. condition ≳ 1e8), "always" (every cell on the robust path
from the first iteration) or "never" (no change of basis anywhere).

Safe arithmetic
---------------
Trial exponents above ``ZMAX`` = 500 are rejected before exp is evaluated, exp itself
(:func:`~hpcclose.kernels.fastmath.safe_exp`: Cody–Waite reduction + degree-13 polynomial with FMAs,
≤ 2 ulp, 0 below −708, branch-free so it vectorises) cannot overflow, and every non-finite value ends the
attempt; no inf or NaN reaches the caller.

Failure detection
-----------------
A non-positive Cholesky pivot, a failed line search, a non-finite value or the iteration cap end an
attempt. So does φ falling below its lower bound over realizable moments: with m0 ≡ 1 and ⟨G⟩ = 1 at the
optimum, φ* = 1 − ⟨G log G⟩ ≥ 1 + log min_q w_q, so φ(α) below that proves the moments are not
realizable under the quadrature (φ is unbounded below) and the cell moves on to regularisation at once
instead of spending k0 iterations.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from ...kernels.dots import dot, dot3
from ...kernels.fastmath import fma, safe_exp
from ...kernels.jit import SERIAL
from .constants import (
    ARMIJO_C,
    CHOLESKY,
    CONVERGED,
    EPS,
    LINESEARCH,
    MAX_HALVINGS,
    MAX_ITER,
    NONFINITE,
    UNBOUNDED,
    ZMAX,
)


@njit(**SERIAL)
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
            z[q] = fma(aj, mT[j, q], z[q])
    nbad = 0
    for q in range(Qp):
        if not (z[q] <= ZMAX):  # also NaN
            nbad += 1
    if nbad > 0:
        return np.inf, 0.0, 0.0
    for q in range(Qp):
        G[q] = safe_exp(z[q])
    S = dot(G, w, Qp)
    av = 0.0
    A = 0.0
    for j in range(n):
        av += alpha[j] * v[j]
        A += abs(alpha[j])
    return S - av, S, A


# Rows of the scratch arrays Z, V, M of newton_cell (a CUDA caller allocates the same shapes itself).
WS_ROWS = (3, 4, 2)


@njit(**SERIAL)
def make_workspace(n, Qp, nb):
    """Scratch for :func:`newton_cell`: Z (3, Qp), P (n, Qp), V (4, n), Y (nb,), M (2, n, n)."""
    rz, rv, rm = WS_ROWS
    return np.empty((rz, Qp)), np.empty((n, Qp)), np.empty((rv, n)), np.empty(nb), np.empty((rm, n, n))


@njit(**SERIAL)
def newton_cell(data, ws, v, alpha, tol, max_iter, acb_switch):
    """Solve min φ for one normalised cell (v0 = 1), in place of ``alpha`` (the initial point).

    Parameters
    ----------
    data : the tuple from :func:`kernel_data` (mT, w, wbT, C, Cg, phi_floor, mmax, …).
    ws : the tuple from :func:`make_workspace`.
    v : (n,) moments with v0 = 1; alpha : (n,) initial multipliers, overwritten with the last accepted
        iterate (always finite).
    tol : stopping tolerance on ‖∇φ‖₂; max_iter : Newton iterations allowed.
    acb_switch : change basis when min L_jj² < acb_switch · max H_jj (0: never, inf: from the start).

    Returns
    -------
    (status, iterations): status CONVERGED (0) or a failure code (see ``STATUS_NAMES``).
    """
    mT, w, wbT, C, Cg, phi_floor, mmax = data[:7]
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
                y[l] = dot(G, wbT[l], Qp)
            for j in range(n):
                s = -v[j]
                for l in range(nb):
                    s = fma(Cg[j, l], y[l], s)
                gm[j] = s
                for k in range(j + 1):
                    s = 0.0
                    for l in range(nb):
                        s = fma(C[j, k, l], y[l], s)
                    H[j, k] = s
        else:
            for q in range(Qp):
                wg[q] = w[q] * G[q]
            for j in range(n):
                gm[j] = dot(wg, mT[j], Qp) - v[j]
                for k in range(j + 1):
                    H[j, k] = dot3(wg, P[j], P[k], Qp)
        gn2 = 0.0
        for j in range(n):
            gn2 += gm[j] * gm[j]
        if not (gn2 < np.inf):
            return NONFINITE, it
        if math.sqrt(gn2) <= tol:
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
            ljj = math.sqrt(s)
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
                        P[i, q] = fma(lik, P[k, q], P[i, q])
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
