"""Per-cell products whose result must not depend on the batch: the ansatz's moments ⟨m f_α⟩ (the
realizability reconstruction u ← ⟨m G_α(u)⟩) and a batch of rows times a small matrix (P_N's α = M⁻¹u).

Hand-written rather than numpy's ``@``: a BLAS matrix (or matrix-vector) product rounds a row differently
depending on how many rows the matrix has (its blocking and edge kernels; measured with OpenBLAS for
rows of 6 or more), so a state — and everything after it — would change in the last bit with the number
of ranks. Here each cell's sums run in one fixed order, whatever the batch; the GPU step's kernel calls the
same per-cell function.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .fastmath import exp_full
from .jit import PARALLEL


@njit(inline="always", cache=True)
def ansatz_moments_cell(alpha, i, mT, w, linear, u):
    """u[i] = Σ_q w_q m_q f_q with f_q = exp(α_i·m_q) (or α_i·m_q for a linear ansatz); mT is (n, Q)."""
    n, Q = mT.shape
    for k in range(n):
        u[i, k] = 0.0
    for q in range(Q):
        z = 0.0
        for k in range(n):
            z += alpha[i, k] * mT[k, q]
        f = w[q] * (z if linear else exp_full(z))
        for k in range(n):
            u[i, k] += f * mT[k, q]


@njit(**PARALLEL)
def ansatz_moments(alpha, mT, w, linear):
    """(ncells, n) moments of the ansatz with multipliers alpha (ncells, n), one cell per iteration."""
    u = np.empty_like(alpha)
    for i in prange(alpha.shape[0]):
        ansatz_moments_cell(alpha, i, mT, w, linear, u)
    return u


@njit(**PARALLEL)
def cellwise_product(a, b):
    """a @ b for a (ncells, k) batch and a small (k, n) matrix, each row's sums in a fixed order."""
    out = np.empty((a.shape[0], b.shape[1]))
    for i in prange(a.shape[0]):
        for k in range(b.shape[1]):
            s = 0.0
            for j in range(a.shape[1]):
                s += a[i, j] * b[j, k]
            out[i, k] = s
    return out
