"""Numba inference of the monotone ResNet ([B eq. 74], batch norms folded): α̃ directly (forward only),
α0 by normalisation, batched over cells.

Layout: a dense head (W, d), ResNet blocks BN → softplus → dense → BN → softplus → dense plus the skip,
a tail BN → softplus → dense(⌈W/2⌉) → BN → softplus → dense(d); the weights are the arrays of
:data:`~.export.MONOTONE_KEYS`, in that order.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from ...kernels.fastmath import softplus
from ...kernels.jit import PARALLEL, SERIAL
from .cpu_chunk import CHUNK, alpha0_normalisation, input_map, load_chunk, store


@njit(**SERIAL)
def _affine_softplus(scale, shift, src, dst, width, nc):
    """dst[j] = softplus(scale_j src[j] + shift_j) for j < width (a folded batch norm, then softplus)."""
    for j in range(width):
        a = scale[j]
        b = shift[j]
        for c in range(nc):
            dst[j, c] = softplus(a * src[j, c] + b)


@njit(**SERIAL)
def _matvec(W, b, src, dst, nc):
    """dst = W src + b (cell-fastest)."""
    nout, nin = W.shape
    for j in range(nout):
        bj = b[j]
        for c in range(nc):
            dst[j, c] = bj
        for i in range(nin):
            wv = W[j, i]
            for c in range(nc):
                dst[j, c] += wv * src[i, c]


@njit(**PARALLEL)
def resnet_multipliers(hW, hb, bs1, bt1, bW1, bb1, bs2, bt2, bW2, bb2, ts1, tt1, tW1, tb1, ts2, tt2, tW2, tb2,
                       P, mu, signs, out_shift, out_scale, mtil, logw, u, alpha, hout):
    """α (ncells, n) of a monotone ResNet ([B eq. 74], batch norms folded) for the moments u; α0 by
    normalisation. hout receives h̃ = α_n·(1, ω̃) − 1 (the entropy of the normalised ansatz, ⟨G⟩ = 1)."""
    ncells, n = u.shape
    d = n - 1
    W = hW.shape[0]
    half = tW1.shape[0]
    nblocks = bW1.shape[0]
    ns = signs.shape[0]
    Q = mtil.shape[1]
    nchunks = (ncells + CHUNK - 1) // CHUNK
    for ch in prange(nchunks):
        c0 = ch * CHUNK
        nc = min(CHUNK, ncells - c0)
        z = np.empty((W, CHUNK))
        y = np.empty((W, CHUNK))
        y2 = np.empty((W, CHUNK))
        t = np.empty((half, CHUNK))
        t2 = np.empty((half, CHUNK))
        o = np.empty((d, CHUNK))
        om = np.empty((d, CHUNK))
        x = np.empty((d, CHUNK))
        at = np.zeros((d, CHUNK))
        a0 = np.empty(CHUNK)
        h = np.empty(CHUNK)
        logu0 = np.empty(CHUNK)
        ssum = np.empty(CHUNK)
        zbuf = np.empty((Q, CHUNK))
        load_chunk(u, c0, nc, om, logu0)
        for s in range(ns):
            sg = signs[s]
            input_map(P, mu, sg, om, x, nc)
            _matvec(hW, hb, x, z, nc)
            for k in range(nblocks):
                _affine_softplus(bs1[k], bt1[k], z, y, W, nc)
                _matvec(bW1[k], bb1[k], y, y2, nc)
                _affine_softplus(bs2[k], bt2[k], y2, y, W, nc)
                _matvec(bW2[k], bb2[k], y, y2, nc)
                for j in range(W):
                    for c in range(nc):
                        z[j, c] += y2[j, c]
            _affine_softplus(ts1, tt1, z, y, W, nc)
            _matvec(tW1, tb1, y, t, nc)
            _affine_softplus(ts2, tt2, t, t2, half, nc)
            _matvec(tW2, tb2, t2, o, nc)
            for l in range(d):
                for c in range(nc):
                    at[l, c] += sg[l] * o[l, c]
        scale = out_scale / ns
        for l in range(d):
            for c in range(nc):
                at[l, c] = out_shift[l] + scale * at[l, c]
        alpha0_normalisation(at, mtil, logw, zbuf, ssum, a0, nc)
        for c in range(nc):
            h[c] = a0[c] - 1.0
        for l in range(d):
            for c in range(nc):
                h[c] += at[l, c] * om[l, c]
        store(alpha, hout, c0, nc, at, a0, h, logu0)
