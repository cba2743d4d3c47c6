"""Moment residuals r_i = ‖⟨m exp(α_i·m)⟩ − u_i‖₂ / u_i0 of an exponential ansatz, batched over cells.

The hybrid closure accepts a network's α where r ≤ tol. Evaluated with the normalised α (α0 − log u0),
so the exponentials stay O(1); exponents are clamped at ``ZCLAMP`` (no overflow inside exp), and a cell
with a non-finite α or a residual that overflows gets +inf, so ``r <= tol`` is False for every unusable
α. Cells are processed in chunks of ``CHUNK``, stored cell-fastest (the inner loops run over the cells
of a chunk with unit stride and vectorise, like the network kernels), each chunk on one thread.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from .fastmath import fma, safe_exp
from .jit import PARALLEL, SERIAL

# Cells per chunk: the scratch, (2n + 1) × CHUNK doubles, stays in L1/L2.
CHUNK = 128
# Exponents above this are clamped (no overflow inside exp).
ZCLAMP = 700.0


@njit(**PARALLEL)
def moment_residuals(alpha, u, mT, w, out):
    """out[i] = ‖⟨m exp(α_i·m)⟩ − u_i‖₂ / u_i0 for every cell (parallel over chunks of cells).

    alpha, u (ncells, n) C-contiguous; mT (n, Q) basis values at the nodes, w (Q,) weights; out (ncells,).
    """
    n = u.shape[1]
    nchunks = (u.shape[0] + CHUNK - 1) // CHUNK
    for ch in prange(nchunks):
        a = np.empty((n, CHUNK))
        om = np.empty((n, CHUNK))
        acc = np.empty((n, CHUNK))
        g = np.empty(CHUNK)
        residual_chunk(alpha, u, mT, w, out, ch * CHUNK, a, om, acc, g)


@njit(**SERIAL)
def residual_chunk(alpha, u, mT, w, out, c0, a, om, acc, g):
    """The residuals of cells c0 … c0 + C − 1 (fewer at the end); a, om, acc (n, C) and g (C,) are
    scratch. Nothing is allocated and each cell's arithmetic is independent of the others', so a CUDA
    thread calls it with C = 1."""
    n = u.shape[1]
    Q = w.size
    nc = min(g.shape[0], u.shape[0] - c0)
    # normalised α and ω = u/u0, cell-fastest
    for c in range(nc):
        u0 = u[c0 + c, 0]
        a[0, c] = alpha[c0 + c, 0] - math.log(u0)
        for j in range(1, n):
            a[j, c] = alpha[c0 + c, j]
        for j in range(n):
            om[j, c] = u[c0 + c, j] / u0
            acc[j, c] = 0.0
    # ⟨m G⟩ node by node: G = w_q exp(α·m_q) for the whole chunk, then one FMA per component
    for q in range(Q):
        for c in range(nc):
            g[c] = a[0, c] * mT[0, q]
        for j in range(1, n):
            mv = mT[j, q]
            for c in range(nc):
                g[c] = fma(a[j, c], mv, g[c])
        wq = w[q]
        for c in range(nc):
            g[c] = wq * safe_exp(min(g[c], ZCLAMP))
        for j in range(n):
            mv = mT[j, q]
            for c in range(nc):
                acc[j, c] = fma(g[c], mv, acc[j, c])
    for c in range(nc):
        r = 0.0
        finite = True
        for j in range(n):
            e = acc[j, c] - om[j, c]
            r += e * e
            finite = finite and math.isfinite(a[j, c])
        out[c0 + c] = math.sqrt(r) if (finite and math.isfinite(r)) else np.inf
