"""Numba inference of the entropy networks (mlp, icnn): h̃, its exact gradient α̃ and α0, batched over
cells.

Entropy networks: forward z_k = σ(Wz z_{k−1} + Wx x + b), keeping sigmoid(a_k); backward by hand:
δ_k = g_k ⊙ sigmoid(a_k), g_{k−1} = Wzᵀ δ_k, g_x += Wxᵀ δ_k (the linear output layer starts with g = 1);
then α̃ = out_scale · mean_s F_s Pᵀ g_x (chain rule through x = P(F_s ω̃ − μ)).

Weights are read as scalars and broadcast (one FMA per weight and cell); the activations of a layer are
ping-ponged between two buffers and only the sigmoids of every layer are kept for the backward pass.
The activation of a neuron is two short loops over the chunk (the exps, then the rest) rather than one
long one, so the out-of-order core keeps more of the long exp → division → polynomial chains in flight.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from ...kernels.fastmath import fma, safe_exp, softplus_sigmoid
from ...kernels.jit import PARALLEL, SERIAL
from .cpu_chunk import CHUNK, alpha0_normalisation, input_map, load_chunk, store
from .export import Network

GRADIENT, NORMALISATION = 0, 1
MODES = {"gradient": GRADIENT, "normalisation": NORMALISATION}


@njit(**SERIAL)
def _activate(z, S, o, units, nc):
    """z[j, c] ← softplus(z[j, c]), S[o + j, c] ← sigmoid(z[j, c]) for j < units, c < nc.

    Two short loops per neuron instead of one long one (e = exp(−|a|) first, parked in S, then the
    rest): each iteration's exp → division → polynomial chain is long, and the out-of-order core
    overlaps more iterations of two short bodies than of one long one (≈ 15 % faster)."""
    for j in range(units):
        for c in range(nc):
            S[o + j, c] = safe_exp(-abs(z[j, c]))
        for c in range(nc):
            sp, sg = softplus_sigmoid(z[j, c], S[o + j, c])
            z[j, c] = sp
            S[o + j, c] = sg


@njit(**SERIAL)
def _rows(dst, src, theta, off, sj, si, nout, nin, nc):
    """dst[j, c] += Σ_i theta[off + j·sj + i·si] src[i, c] for j < nout, c < nc (one FMA per weight and
    cell, vectorised over the cells). sj, si = (nin, 1) for W·src with W (nout, nin) row-major, and
    (1, nout) for Wᵀ·src with W (nin, nout). The FMAs of a cell are chained in the order of i, so the
    result does not depend on the blocking."""
    # Four inputs per pass: one load and one store of dst[j] per four FMAs instead of per FMA (the loop
    # is bound by loads/stores), and two output rows per pass share the four input loads: 1.6x on the
    # 45-wide MLP of [A] over one FMA per pass, ~7 % on the 15-wide ICNN, where the activations dominate.
    nin4 = nin - nin % 4
    nout2 = nout - nout % 2
    # two output rows share each load of four input rows
    for j in range(0, nout2, 2):
        o0 = off + j * sj
        o1 = o0 + sj
        for i in range(0, nin4, 4):
            w00 = theta[o0 + i * si]
            w01 = theta[o0 + (i + 1) * si]
            w02 = theta[o0 + (i + 2) * si]
            w03 = theta[o0 + (i + 3) * si]
            w10 = theta[o1 + i * si]
            w11 = theta[o1 + (i + 1) * si]
            w12 = theta[o1 + (i + 2) * si]
            w13 = theta[o1 + (i + 3) * si]
            for c in range(nc):
                s0 = src[i, c]
                s1 = src[i + 1, c]
                s2 = src[i + 2, c]
                s3 = src[i + 3, c]
                a0 = fma(w00, s0, dst[j, c])
                a1 = fma(w10, s0, dst[j + 1, c])
                a0 = fma(w01, s1, a0)
                a1 = fma(w11, s1, a1)
                a0 = fma(w02, s2, a0)
                a1 = fma(w12, s2, a1)
                dst[j, c] = fma(w03, s3, a0)
                dst[j + 1, c] = fma(w13, s3, a1)
        for i in range(nin4, nin):
            w0 = theta[o0 + i * si]
            w1 = theta[o1 + i * si]
            for c in range(nc):
                dst[j, c] = fma(w0, src[i, c], dst[j, c])
                dst[j + 1, c] = fma(w1, src[i, c], dst[j + 1, c])
    for j in range(nout2, nout):
        o0 = off + j * sj
        for i in range(0, nin4, 4):
            w0 = theta[o0 + i * si]
            w1 = theta[o0 + (i + 1) * si]
            w2 = theta[o0 + (i + 2) * si]
            w3 = theta[o0 + (i + 3) * si]
            for c in range(nc):
                acc = fma(w0, src[i, c], dst[j, c])
                acc = fma(w1, src[i + 1, c], acc)
                acc = fma(w2, src[i + 2, c], acc)
                dst[j, c] = fma(w3, src[i + 3, c], acc)
        for i in range(nin4, nin):
            w0 = theta[o0 + i * si]
            for c in range(nc):
                dst[j, c] = fma(w0, src[i, c], dst[j, c])



@njit(**PARALLEL)
def dense_multipliers(table, noff, theta, P, mu, signs, out_shift, out_scale, mtil, logw, u, mode, alpha,
                      hout):
    """α (ncells, n) and h̃ (ncells,) of an entropy network for the moments u (ncells, n).

    table (L, 7) int64 per layer: units, inputs from the previous layer (0: none), offset of Wz in theta,
    has Wx (0/1), offset of Wx, offset of b, activation (1 softplus, 0 linear); noff (L + 1,): first row
    of each layer in the sigmoid buffer; theta: all weights, row-major. P (d, d), mu (d,): input map;
    signs (S, d): symmetry flips; mtil (d, Q), logw (Q,): basis (without m0) and log-weights at the nodes;
    mode: GRADIENT or NORMALISATION.
    """
    ncells, n = u.shape
    L = table.shape[0]
    maxw = 1
    for k in range(L):
        maxw = max(maxw, table[k, 0])
    nchunks = (ncells + CHUNK - 1) // CHUNK
    for ch in prange(nchunks):
        c0 = ch * CHUNK
        # each array on its own: views of shared blocks were 1.7 % slower on the ICNN (same-tree A/B)
        d = n - 1
        scratch = (np.empty((noff[L], CHUNK)), np.empty((maxw, CHUNK)), np.empty((maxw, CHUNK)),
                   (np.empty((d, CHUNK)), np.empty((d, CHUNK)), np.empty((d, CHUNK)), np.empty((d, CHUNK))),
                   (np.empty(CHUNK), np.empty(CHUNK), np.empty(CHUNK), np.empty(CHUNK)),
                   np.empty((mtil.shape[1], CHUNK)))
        dense_chunk(table, noff, theta, P, mu, signs, out_shift, out_scale, mtil, logw, u, mode, alpha, hout,
                    c0, min(CHUNK, ncells - c0), scratch)


@njit(**SERIAL)
def dense_chunk(table, noff, theta, P, mu, signs, out_shift, out_scale, mtil, logw, u, mode, alpha, hout, c0,
                nc, scratch):
    """The cells c0 … c0 + nc − 1 of :func:`dense_multipliers`, with caller-provided scratch (nothing is
    allocated, so a CUDA thread can call it with nc = 1): S (neurons, C) the sigmoids of every layer,
    za, zb (widest, C) the ping-pong activations, (d, C) arrays for ω̃, x, g_x, α̃, (C,) arrays for h̃,
    α0, a sum and log u0, zbuf (Q, C); C ≥ nc. Every cell's arithmetic is independent of the others' (the FMAs of
    a cell are chained in the same order for any nc), so a thread gets the CPU's values."""
    S, za, zb, X, V, zbuf = scratch
    om, x, gx, at = X
    h, a0, ssum, logu0 = V
    d = om.shape[0]
    L = table.shape[0]
    ns = signs.shape[0]
    inv_ns = 1.0 / ns
    for c in range(nc):
        h[c] = 0.0
        for l in range(d):
            at[l, c] = 0.0
    load_chunk(u, c0, nc, om, logu0)
    for s in range(ns):
        sg = signs[s]
        input_map(P, mu, sg, om, x, nc)
        # --- forward: z_k = σ(Wz z_{k−1} + Wx x + b) -------------------------------------------
        zin, zout = za, zb
        for k in range(L):
            units, nz, owz, hasx, owx, ob, act = (table[k, 0], table[k, 1], table[k, 2], table[k, 3],
                                                  table[k, 4], table[k, 5], table[k, 6])
            for j in range(units):
                bj = theta[ob + j]
                for c in range(nc):
                    zout[j, c] = bj
            if nz > 0:
                _rows(zout, zin, theta, owz, nz, 1, units, nz, nc)
            if hasx:
                _rows(zout, x, theta, owx, d, 1, units, d, nc)
            if act:
                _activate(zout, S, noff[k], units, nc)
            zin, zout = zout, zin
        for c in range(nc):
            h[c] += zin[0, c]
        # --- backward (the output unit is linear: g = 1) ---------------------------------------
        for i in range(d):
            for c in range(nc):
                gx[i, c] = 0.0
        g, gp = za, zb
        for c in range(nc):
            g[0, c] = 1.0
        for k in range(L - 1, -1, -1):
            units, nz, owz, hasx, owx, ob, act = (table[k, 0], table[k, 1], table[k, 2], table[k, 3],
                                                  table[k, 4], table[k, 5], table[k, 6])
            if act:
                o = noff[k]
                for j in range(units):
                    for c in range(nc):
                        g[j, c] *= S[o + j, c]
            if hasx:
                _rows(gx, g, theta, owx, 1, d, d, units, nc)
            if nz > 0:
                for i in range(nz):
                    for c in range(nc):
                        gp[i, c] = 0.0
                _rows(gp, g, theta, owz, 1, nz, nz, units, nc)
                g, gp = gp, g
        # α̃ += F Pᵀ g_x
        for l in range(d):
            for i in range(d):
                p = P[i, l] * sg[l]
                for c in range(nc):
                    at[l, c] = fma(p, gx[i, c], at[l, c])
    # --- output scaling and α0 ----------------------------------------------------------------
    scale = out_scale * inv_ns
    for c in range(nc):
        h[c] = out_shift + scale * h[c]
    for l in range(d):
        for c in range(nc):
            at[l, c] *= scale
    if mode == GRADIENT:
        for c in range(nc):
            a0[c] = h[c] + 1.0
        for l in range(d):
            for c in range(nc):
                a0[c] -= om[l, c] * at[l, c]
    else:
        alpha0_normalisation(at, mtil, logw, zbuf, ssum, a0, nc)
    store(alpha, hout, c0, nc, at, a0, h, logu0)


def pack_dense(net: Network) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(table, noff, theta) of an entropy network for :func:`dense_multipliers`."""
    if net.d == 0:
        raise ValueError("a network closure needs N ≥ 1")
    parts, rows, noff, off = [], [], [0], 0

    def push(a):
        nonlocal off
        parts.append(np.ascontiguousarray(a, dtype=float).ravel())
        start = off
        off += a.size
        return start

    for L in net.layers:
        owz = push(L.Wz) if L.Wz is not None else 0
        owx = push(L.Wx) if L.Wx is not None else 0
        ob = push(L.b)
        nz = 0 if L.Wz is None else L.Wz.shape[1]
        rows.append((L.units, nz, owz, int(L.Wx is not None), owx, ob, int(L.activation == "softplus")))
        noff.append(noff[-1] + L.units)
    table = np.array(rows, dtype=np.int64)
    theta = np.concatenate(parts) if parts else np.zeros(0)
    return table, np.array(noff, dtype=np.int64), theta
