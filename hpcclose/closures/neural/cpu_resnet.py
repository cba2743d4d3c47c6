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


# Rows of resnet_chunk's scratch: (W, C) activations, (⌈W/2⌉, C) tail activations, (d, C) arrays for the
# output, ω̃, x, α̃, and per-cell values α0, h̃, log u0, a sum; a CUDA caller allocates the same shapes.
RESNET_ROWS = (3, 2, 4, 4)


@njit(**PARALLEL)
def resnet_multipliers(hW, hb, bs1, bt1, bW1, bb1, bs2, bt2, bW2, bb2, ts1, tt1, tW1, tb1, ts2, tt2, tW2, tb2,
                       P, mu, signs, out_shift, out_scale, mtil, logw, u, alpha, hout):
    """α (ncells, n) of a monotone ResNet ([B eq. 74], batch norms folded) for the moments u; α0 by
    normalisation. hout receives h̃ = α_n·(1, ω̃) − 1 (the entropy of the normalised ansatz, ⟨G⟩ = 1)."""
    ncells, n = u.shape
    rw, rt, rd, rv = RESNET_ROWS
    nchunks = (ncells + CHUNK - 1) // CHUNK
    for ch in prange(nchunks):
        c0 = ch * CHUNK
        scratch = (np.empty((rw, hW.shape[0], CHUNK)), np.empty((rt, tW1.shape[0], CHUNK)),
                   np.empty((rd, n - 1, CHUNK)), np.empty((rv, CHUNK)), np.empty((mtil.shape[1], CHUNK)))
        resnet_chunk(hW, hb, bs1, bt1, bW1, bb1, bs2, bt2, bW2, bb2, ts1, tt1, tW1, tb1, ts2, tt2, tW2, tb2, P,
                     mu, signs, out_shift, out_scale, mtil, logw, u, alpha, hout, c0, min(CHUNK, ncells - c0),
                     scratch)


@njit(**SERIAL)
def resnet_chunk(hW, hb, bs1, bt1, bW1, bb1, bs2, bt2, bW2, bb2, ts1, tt1, tW1, tb1, ts2, tt2, tW2, tb2, P, mu,
                 signs, out_shift, out_scale, mtil, logw, u, alpha, hout, c0, nc, scratch):
    """The cells c0 … c0 + nc − 1 of :func:`resnet_multipliers` with caller-provided scratch (shapes as
    that kernel allocates them, C ≥ nc; nothing is allocated, so a CUDA thread can call it with nc = 1).
    Every cell's arithmetic is independent of the others'."""
    Zs, Ts, Ds, Vs, zbuf = scratch
    z, y, y2 = Zs[0], Zs[1], Zs[2]
    t, t2 = Ts[0], Ts[1]
    o, om, x, at = Ds[0], Ds[1], Ds[2], Ds[3]
    a0, h, logu0, ssum = Vs[0], Vs[1], Vs[2], Vs[3]
    d = om.shape[0]
    W = hW.shape[0]
    half = tW1.shape[0]
    nblocks = bW1.shape[0]
    ns = signs.shape[0]
    for l in range(d):
        for c in range(nc):
            at[l, c] = 0.0
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
