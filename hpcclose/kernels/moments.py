"""Per-cell products whose result must not depend on the batch: the ansatz's moments ⟨m f_α⟩ (the
realizability reconstruction u ← ⟨m G_α(u)⟩) and a batch of rows times a small matrix (P_N's α = M⁻¹u).

Hand-written rather than numpy's ``@``: a BLAS matrix (or matrix-vector) product rounds a row differently
depending on how many rows the matrix has (its blocking and edge kernels; measured with OpenBLAS for
rows of 6 or more), so a state — and everything after it — would change in the last bit with the number
of ranks. Here each cell's sums run in one fixed order, whatever the batch.

The moments run in chunks of :data:`CHUNK` cells stored cell-fastest, so the loops over the cells of a
chunk vectorise (each lane one cell: its arithmetic is unchanged), as in :mod:`.residuals`. The GPU step's
kernel calls :func:`ansatz_moments_cell`, one cell per thread, with the same operations in the same order
(and :func:`.fastmath.exp_full`, bitwise :func:`.fastmath.exp_row`): the two agree bitwise (tested).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .fastmath import exp_full, exp_row, fma
from .jit import PARALLEL, SERIAL

# Cells per chunk: the scratch, (2n + 2) × CHUNK doubles, stays in L1/L2.
CHUNK = 128


@njit(inline="always", cache=True)
def ansatz_moments_cell(alpha, i, mT, w, linear, u):
    """u[i] = Σ_q w_q m_q f_q with f_q = exp(α_i·m_q) (or α_i·m_q for a linear ansatz); mT is (n, Q)."""
    n, Q = mT.shape
    for k in range(n):
        u[i, k] = 0.0
    for q in range(Q):
        z = alpha[i, 0] * mT[0, q]
        for k in range(1, n):
            z = fma(alpha[i, k], mT[k, q], z)
        f = w[q] * (z if linear else exp_full(z))
        for k in range(n):
            u[i, k] = fma(f, mT[k, q], u[i, k])


@njit(**SERIAL)
def _moments_chunk(alpha, mT, w, linear, u, c0, a, acc, g, t):
    """:func:`ansatz_moments_cell` for cells c0 … c0 + C − 1 at once; a, acc (n, C), g, t (C,) scratch."""
    n, Q = mT.shape
    nc = min(g.shape[0], alpha.shape[0] - c0)
    for c in range(nc):
        for k in range(n):
            a[k, c] = alpha[c0 + c, k]
            acc[k, c] = 0.0
    gc, tc = g[:nc], t[:nc]
    for q in range(Q):
        m0 = mT[0, q]
        for c in range(nc):
            gc[c] = a[0, c] * m0
        for k in range(1, n):
            mk = mT[k, q]
            for c in range(nc):
                gc[c] = fma(a[k, c], mk, gc[c])
        if not linear:
            exp_row(gc, tc)
        wq = w[q]
        for k in range(n):
            mk = mT[k, q]
            for c in range(nc):
                acc[k, c] = fma(wq * gc[c], mk, acc[k, c])
    for c in range(nc):
        for k in range(n):
            u[c0 + c, k] = acc[k, c]


@njit(**PARALLEL)
def ansatz_moments(alpha, mT, w, linear):
    """(ncells, n) moments of the ansatz with multipliers alpha (ncells, n), in chunks of cells."""
    ncells, n = alpha.shape
    u = np.empty_like(alpha)
    for ch in prange((ncells + CHUNK - 1) // CHUNK):
        _moments_chunk(alpha, mT, w, linear, u, ch * CHUNK, np.empty((n, CHUNK)), np.empty((n, CHUNK)),
                       np.empty(CHUNK), np.empty(CHUNK))
    return u


@njit(**SERIAL)
def _product_chunk(a, b, out, c0, at, acc):
    """out[c] = a[c] @ b for cells c0 … c0 + C − 1, cell-fastest; at (k, C), acc (n, C) scratch."""
    nc = min(at.shape[1], a.shape[0] - c0)
    for c in range(nc):
        for j in range(a.shape[1]):
            at[j, c] = a[c0 + c, j]
    for k in range(b.shape[1]):
        for c in range(nc):
            acc[k, c] = 0.0
    for j in range(a.shape[1]):
        for k in range(b.shape[1]):
            bjk = b[j, k]
            for c in range(nc):
                acc[k, c] = fma(at[j, c], bjk, acc[k, c])
    for c in range(nc):
        for k in range(b.shape[1]):
            out[c0 + c, k] = acc[k, c]


@njit(**PARALLEL)
def cellwise_product(a, b):
    """a @ b for a (ncells, k) batch and a small (k, n) matrix, each row's sums over j in a fixed order
    (in chunks of cells, cell-fastest)."""
    out = np.empty((a.shape[0], b.shape[1]))
    for ch in prange((a.shape[0] + CHUNK - 1) // CHUNK):
        _product_chunk(a, b, out, ch * CHUNK, np.empty((a.shape[1], CHUNK)), np.empty((b.shape[1], CHUNK)))
    return out
