"""The pieces of the network kernels' chunk loop that the entropy networks (:mod:`.cpu_dense`) and the
monotone ResNet (:mod:`.cpu_resnet`) share: load a chunk of cells, map it to the network input, α0 by
normalisation, store the results.

Inside a chunk every quantity is stored *cell-fastest* (x[component, cell], …), so each inner loop runs
over the cells of the chunk with unit stride and vectorises.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from ...kernels.fastmath import fma, safe_exp
from ...kernels.jit import SERIAL

# Cells per chunk: scratch is (neurons × CHUNK) doubles, ≈ 160 kB for a 15 × 7 ICNN and ≈ 320 kB for
# the 4 × 45 MLP (both fit a 512 kB L2). 128 rather than 64 halves the per-loop overheads: 1.05–1.16x on
# the MLP, 1.2–1.3x on the 10 × 7 ICNN (same-process comparison, one core).
CHUNK = 128


@njit(**SERIAL)
def load_chunk(u, c0, nc, om, logu0):
    """ω̃ (d, nc) cell-fastest and log u0 for cells c0 … c0 + nc − 1."""
    d = om.shape[0]
    for c in range(nc):
        u0 = u[c0 + c, 0]
        inv = 1.0 / u0
        logu0[c] = math.log(u0)
        for l in range(d):
            om[l, c] = u[c0 + c, l + 1] * inv


@njit(**SERIAL)
def input_map(P, mu, sg, om, x, nc):
    """x = P (F ω̃ − μ) for one sign vector F = sg."""
    d = om.shape[0]
    for i in range(d):
        for c in range(nc):
            x[i, c] = 0.0
        for l in range(d):
            p = P[i, l] * sg[l]
            pm = P[i, l] * mu[l]
            for c in range(nc):
                x[i, c] += p * om[l, c] - pm


@njit(**SERIAL)
def alpha0_normalisation(at, mtil, logw, zbuf, ssum, out, nc):
    """out[c] = −log Σ_q w_q exp(α̃_c·m̃_q) (log-sum-exp over the nodes; every loop runs over cells)."""
    d, Q = mtil.shape
    for c in range(nc):
        out[c] = -np.inf
        ssum[c] = 0.0
    for q in range(Q):
        lw = logw[q]
        for c in range(nc):
            zbuf[q, c] = lw
        for l in range(d):
            mv = mtil[l, q]
            for c in range(nc):
                zbuf[q, c] = fma(at[l, c], mv, zbuf[q, c])
        for c in range(nc):
            out[c] = max(out[c], zbuf[q, c])
    for q in range(Q):
        for c in range(nc):
            ssum[c] += safe_exp(zbuf[q, c] - out[c])
    for c in range(nc):
        out[c] = -(out[c] + math.log(ssum[c]))


@njit(**SERIAL)
def store(alpha, hout, c0, nc, at, a0, h, logu0):
    """α (α0 + log u0, α̃) and h̃ of the chunk's cells into the output arrays (cell rows)."""
    d = at.shape[0]
    for c in range(nc):
        alpha[c0 + c, 0] = a0[c] + logu0[c]
        for l in range(d):
            alpha[c0 + c, l + 1] = at[l, c]
        hout[c0 + c] = h[c]

