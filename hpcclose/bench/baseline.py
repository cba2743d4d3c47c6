"""A plain Numba M_N solver for the slab: the yardstick hpcclose's 1D step is measured against.

Written the straightforward way on purpose, in the style of a first implementation: every cell solves
its own Newton problem (plain Cholesky, Armijo backtracking, warm start from the last stage, libm exp),
the ansatz is stored at every node of every cell, then the same kinetic upwind flux (first order or
minmod(θ) slopes), isotropic scattering and SSP-RK2 as hpcclose. No regularisation, no realizability
checks, no diagnostics: what it leaves out is what hpcclose's step must pay for and still win against.

``hpcclose bench baseline`` (:mod:`.versus`) runs it next to hpcclose on the same input and checks that
both compute the same solution to the Newton tolerance.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

_NG = 2  # ghost cells per side


@njit(cache=True)
def _newton(u, a, m, w, tol, max_iter, G, g, H, d, at):
    """min_α ⟨e^{α·m}⟩ − α·u from the start ``a`` (overwritten); stops at ‖⟨m G⟩ − u‖₂ ≤ tol·u0.
    Returns the iterations taken (−1 if ``max_iter`` ran out or the line search failed)."""
    Q, n = m.shape
    for it in range(max_iter + 1):
        phi = 0.0
        for q in range(Q):
            z = 0.0
            for k in range(n):
                z += a[k] * m[q, k]
            G[q] = w[q] * np.exp(z)
            phi += G[q]
        for k in range(n):
            s = 0.0
            for q in range(Q):
                s += G[q] * m[q, k]
            g[k] = s - u[k]
            phi -= a[k] * u[k]
        if np.sqrt(np.sum(g * g)) <= tol * u[0]:
            return it
        if it == max_iter:
            return -1
        # Hessian ⟨m mᵀ G⟩, Cholesky H = L Lᵀ in place, then L Lᵀ d = −g
        for j in range(n):
            for k in range(j + 1):
                s = 0.0
                for q in range(Q):
                    s += G[q] * m[q, j] * m[q, k]
                H[j, k] = s
        for j in range(n):
            for k in range(j + 1):
                s = H[j, k]
                for p in range(k):
                    s -= H[j, p] * H[k, p]
                if j == k and not s > 0.0:
                    return -1  # not positive definite to rounding
                H[j, k] = np.sqrt(s) if j == k else s / H[k, k]
        for j in range(n):
            s = -g[j]
            for p in range(j):
                s -= H[j, p] * d[p]
            d[j] = s / H[j, j]
        for j in range(n - 1, -1, -1):
            s = d[j]
            for p in range(j + 1, n):
                s -= H[p, j] * d[p]
            d[j] = s / H[j, j]
        slope = np.sum(g * d)
        t = 1.0
        while True:  # Armijo backtracking on φ
            for k in range(n):
                at[k] = a[k] + t * d[k]
            phit = 0.0
            for q in range(Q):
                z = 0.0
                for k in range(n):
                    z += at[k] * m[q, k]
                phit += w[q] * np.exp(z)
            for k in range(n):
                phit -= at[k] * u[k]
            if phit <= phi + 1e-4 * t * slope + 1e-14 * (abs(phi) + u[0]) or t < 1e-12:  # rounding allowed
                break
            t *= 0.5
        if t < 1e-12:
            return -1
        a[:] = at
    return -1


@njit(parallel=True, cache=True)
def _closure(u, alpha, m, w, tol, max_iter):
    """α of every cell, warm-started from ``alpha``; returns the number of cells that did not converge."""
    ncells, n = u.shape
    Q = m.shape[0]
    failed = 0
    for i in prange(ncells):
        G, g, d, at = np.empty(Q), np.empty(n), np.empty(n), np.empty(n)
        H = np.empty((n, n))
        if _newton(u[i], alpha[i], m, w, tol, max_iter, G, g, H, d, at) < 0:
            failed += 1
    return failed


@njit(cache=True)
def _minmod(a, b, c):
    if a > 0.0 and b > 0.0 and c > 0.0:
        return min(a, min(b, c))
    if a < 0.0 and b < 0.0 and c < 0.0:
        return max(a, max(b, c))
    return 0.0


@njit(parallel=True, cache=True)
def _rhs(u, alpha, m, w, mu, dx, order, theta, left, right, periodic, sigma_s, iso, f, du):
    """du = −∂x F + σs (u0 iso − u): ansatz at every node of every cell (ghosts from the walls or
    periodic), then the upwind flux of the reconstructed nodal values through every face."""
    nx, n = u.shape
    Q = m.shape[0]
    for i in prange(nx):
        for q in range(Q):
            z = 0.0
            for k in range(n):
                z += alpha[i, k] * m[q, k]
            f[i + _NG, q] = np.exp(z)
    for g in range(_NG):
        for q in range(Q):
            f[g, q] = f[nx + g, q] if periodic else left[q]
            f[nx + _NG + g, q] = f[_NG + g, q] if periodic else right[q]
    for i in prange(nx):
        for k in range(n):
            du[i, k] = sigma_s * (u[i, 0] * iso[k] - u[i, k])
        for side in range(2):  # the faces i − ½ (side 0) and i + ½ (side 1) of cell i
            b = i + 1 + side  # the face lies between extended cells b and b + 1
            for q in range(Q):
                fa, fb, fc, fd = f[b - 1, q], f[b, q], f[b + 1, q], f[b + 2, q]
                if order == 1:
                    face = fb if mu[q] > 0.0 else fc
                elif mu[q] > 0.0:
                    face = fb + 0.5 * _minmod(theta * (fb - fa), 0.5 * (fc - fa), theta * (fc - fb))
                else:
                    face = fc - 0.5 * _minmod(theta * (fc - fb), 0.5 * (fd - fb), theta * (fd - fc))
                flux = w[q] * mu[q] * face / dx
                for k in range(n):
                    du[i, k] += (flux if side == 0 else -flux) * m[q, k]


class BaselineSolver:
    """The plain solver on a 1D problem: ``step(dt)`` advances the owned moments ``u`` by SSP-RK2."""

    def __init__(self, u, m, w, mu, dx, order, theta, left, right, periodic, sigma_s, iso, tol, max_iter=100):
        self.u = np.array(u, dtype=float)
        self.m, self.w, self.mu, self.iso = (np.ascontiguousarray(a, dtype=float) for a in (m, w, mu, iso))
        self.left, self.right = (np.ascontiguousarray(a, dtype=float) for a in (left, right))
        self.dx, self.order, self.theta, self.periodic = float(dx), int(order), float(theta), bool(periodic)
        self.sigma_s, self.tol, self.max_iter = float(sigma_s), float(tol), int(max_iter)
        # cold start: the isotropic density with the cell's u0
        self.alpha = np.zeros_like(self.u)
        self.alpha[:, 0] = np.log(self.u[:, 0] / self.w.sum())
        self.f = np.empty((self.u.shape[0] + 2 * _NG, self.w.size))
        self.du, self.v = np.empty_like(self.u), np.empty_like(self.u)
        self.failed = 0

    def _L(self, u):
        self.failed += _closure(u, self.alpha, self.m, self.w, self.tol, self.max_iter)
        _rhs(u, self.alpha, self.m, self.w, self.mu, self.dx, self.order, self.theta, self.left, self.right,
             self.periodic, self.sigma_s, self.iso, self.f, self.du)
        return self.du

    def step(self, dt: float) -> None:
        """v = u + Δt L(u); u ← ½ u + ½ (v + Δt L(v))."""
        self.v[...] = self.u + dt * self._L(self.u)
        self.u[...] = 0.5 * self.u + 0.5 * (self.v + dt * self._L(self.v))
