"""Numba inference for network closures: forward pass, exact gradient and α0, batched over cells.

No TensorFlow: the weights come from a :class:`~.export.Network` (a model file). All kernels are
``@njit(parallel=True, cache=True)`` with a ``prange`` over chunks of ``CHUNK`` cells, float64.

Layout for SIMD
---------------
Inside a chunk every quantity is stored *cell-fastest*: activations Z[neuron, cell], the input
x[component, cell], … so each inner loop runs over the cells of the chunk with unit stride and the same
weight, which LLVM vectorises (4 doubles per AVX2 instruction). The transcendental functions dominate,
so each neuron costs exactly one exp: with e = exp(−|a|) (argument ≤ 0, never overflows)

    softplus(a) = max(a, 0) + log1p(e),      sigmoid(a) = softplus′(a) = (a ≥ 0 ? 1 : e) / (1 + e),

where exp is the branch-free Cody–Waite/polynomial ``safe_exp`` of the Newton closure (≤ 2 ulp) and
log1p on [0, 1] is the fdlibm reduction (f ∈ [√½ − 1, √2 − 1], s = f/(2 + f), degree-14 minimax in s,
error < 1e−16 absolute), written with selects only, so both vectorise (no libm calls, no SVML needed).
The divisions of s and of the sigmoid share one reciprocal, and the activation of a neuron is two short
loops over the chunk (the exps, then the rest) rather than one long one, so the out-of-order core keeps
more of the long exp → division → polynomial chains in flight.

Weights are read as scalars and broadcast (one FMA per weight and cell); the activations of a layer are
ping-ponged between two buffers and only the sigmoids of every layer are kept for the backward pass.
Helpers are separate ``@njit`` functions (not inlined at the Numba level): that halves the compile time
(≈ 13 s for the dense kernel on a 2-core machine, once: ``cache=True``) at no measured run-time cost.

Throughput (15 × 7 ICNN, 1D M2, 30-point rule, NUMBA_NUM_THREADS=1, one core of the shared 2-core
development machine): ≈ 8.6–10e5 moments/s with α0 by normalisation (network, gradient, α0 and the
30-node log-sum-exp; docs/benchmarks.md). About half of the time goes to the softplus/sigmoid
evaluations, the rest to the weight loops (≈ 12 GFMA/s on the 45-wide layers; OpenBLAS dgemm on the same
blocks was no faster in a same-process comparison).

Entropy networks (mlp, icnn): forward z_k = σ(Wz z_{k−1} + Wx x + b), keeping sigmoid(a_k); backward by
hand: δ_k = g_k ⊙ sigmoid(a_k), g_{k−1} = Wzᵀ δ_k, g_x += Wxᵀ δ_k (the linear output layer starts with
g = 1); then α̃ = out_scale · mean_s F_s Pᵀ g_x (chain rule through x = P(F_s ω̃ − μ)).

α0 (SCIENCE.md §3), with ω̃ = ũ/u0:
  mode GRADIENT      α0 = h̃(ω̃) − ω̃·α̃ + 1 + log u0          (exact gradient of h_a, [A eq. 37])
  mode NORMALISATION α0 = −log Σ_q w_q exp(α̃·m̃_q) + log u0   ([B eq. 44, 47]; log-sum-exp, no overflow)
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from ...velocity import Basis, Quadrature
from ..newton import _fma, safe_exp
from .export import Network

GRADIENT, NORMALISATION = 0, 1
MODES = {"gradient": GRADIENT, "normalisation": NORMALISATION}
# Cells per chunk: scratch is (neurons × CHUNK) doubles, ≈ 160 kB for a 15 × 7 ICNN and ≈ 320 kB for
# the 4 × 45 MLP (both fit a 512 kB L2). 128 rather than 64 halves the per-loop overheads: 1.05–1.16x on
# the MLP, 1.2–1.3x on the 10 × 7 ICNN (same-process comparison, one core).
CHUNK = 128
# Exponents above this are clamped in the moment residual (no overflow inside exp).
ZCLAMP = 700.0

_PAR = dict(parallel=True, cache=True, fastmath=False, error_model="numpy", nogil=True)
_SER = dict(cache=True, fastmath=False, error_model="numpy", nogil=True)

_SQRT2M1 = 0.41421356237309503
_LN2 = 0.6931471805599453
_LG1, _LG2, _LG3 = 6.666666666666735130e-01, 3.999999999940941908e-01, 2.857142874366239149e-01
_LG4, _LG5, _LG6, _LG7 = 2.222219843214978396e-01, 1.818357216161805012e-01, 1.531383769920937332e-01, \
    1.479819860511658591e-01


@njit(inline="always", **_SER)
def log1p_unit(e):
    """log(1 + e) for 0 ≤ e ≤ 1, branch-free (fdlibm reduction and minimax polynomial)."""
    big = e > _SQRT2M1
    f = (e - 1.0) * 0.5 if big else e
    k = _LN2 if big else 0.0
    s = f / (2.0 + f)
    z = s * s
    R = z * (_LG1 + z * (_LG2 + z * (_LG3 + z * (_LG4 + z * (_LG5 + z * (_LG6 + z * _LG7))))))
    hfsq = 0.5 * f * f
    return k + (f - (hfsq - s * (hfsq + R)))


@njit(inline="always", **_SER)
def softplus_sigmoid(a, e):
    """(softplus(a), sigmoid(a)) given e = exp(−|a|), from one division (shared by log1p's
    s = f/(2 + f) and the sigmoid 1/(1 + e): both come from 1/((2 + f)(1 + e)))."""
    big = e > _SQRT2M1
    f = (e - 1.0) * 0.5 if big else e
    k = _LN2 if big else 0.0
    t = 2.0 + f
    p = 1.0 + e
    inv = 1.0 / (t * p)
    s = f * p * inv
    sg = (1.0 if a >= 0.0 else e) * t * inv
    z = s * s
    w = z * z
    # odd and even coefficients in parallel (fdlibm's split), FMAs: a short dependency chain
    R = _fma(z, _fma(w, _fma(w, _fma(w, _LG7, _LG5), _LG3), _LG1), w * _fma(w, _fma(w, _LG6, _LG4), _LG2))
    hfsq = 0.5 * f * f
    sp = max(a, 0.0) + (k + (f - (hfsq - s * (hfsq + R))))
    return sp, sg


@njit(inline="always", **_SER)
def softplus(a):
    e = safe_exp(-abs(a))
    return max(a, 0.0) + log1p_unit(e)


# ---------------------------------------------------------------------------------------------------
# Shared pieces of the chunk loop
# ---------------------------------------------------------------------------------------------------
@njit(**_SER)
def _load_chunk(u, c0, nc, om, logu0):
    """ω̃ (d, nc) cell-fastest and log u0 for cells c0 … c0 + nc − 1."""
    d = om.shape[0]
    for c in range(nc):
        u0 = u[c0 + c, 0]
        inv = 1.0 / u0
        logu0[c] = np.log(u0)
        for l in range(d):
            om[l, c] = u[c0 + c, l + 1] * inv


@njit(**_SER)
def _input_map(P, mu, sg, om, x, nc):
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


@njit(**_SER)
def _alpha0_normalisation(at, mtil, logw, zbuf, ssum, out, nc):
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
                zbuf[q, c] = _fma(at[l, c], mv, zbuf[q, c])
        for c in range(nc):
            out[c] = max(out[c], zbuf[q, c])
    for q in range(Q):
        for c in range(nc):
            ssum[c] += safe_exp(zbuf[q, c] - out[c])
    for c in range(nc):
        out[c] = -(out[c] + np.log(ssum[c]))


@njit(**_SER)
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


@njit(**_SER)
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
                a0 = _fma(w00, s0, dst[j, c])
                a1 = _fma(w10, s0, dst[j + 1, c])
                a0 = _fma(w01, s1, a0)
                a1 = _fma(w11, s1, a1)
                a0 = _fma(w02, s2, a0)
                a1 = _fma(w12, s2, a1)
                dst[j, c] = _fma(w03, s3, a0)
                dst[j + 1, c] = _fma(w13, s3, a1)
        for i in range(nin4, nin):
            w0 = theta[o0 + i * si]
            w1 = theta[o1 + i * si]
            for c in range(nc):
                dst[j, c] = _fma(w0, src[i, c], dst[j, c])
                dst[j + 1, c] = _fma(w1, src[i, c], dst[j + 1, c])
    for j in range(nout2, nout):
        o0 = off + j * sj
        for i in range(0, nin4, 4):
            w0 = theta[o0 + i * si]
            w1 = theta[o0 + (i + 1) * si]
            w2 = theta[o0 + (i + 2) * si]
            w3 = theta[o0 + (i + 3) * si]
            for c in range(nc):
                acc = _fma(w0, src[i, c], dst[j, c])
                acc = _fma(w1, src[i + 1, c], acc)
                acc = _fma(w2, src[i + 2, c], acc)
                dst[j, c] = _fma(w3, src[i + 3, c], acc)
        for i in range(nin4, nin):
            w0 = theta[o0 + i * si]
            for c in range(nc):
                dst[j, c] = _fma(w0, src[i, c], dst[j, c])


@njit(**_SER)
def _store(alpha, hout, c0, nc, at, a0, h, logu0):
    d = at.shape[0]
    for c in range(nc):
        alpha[c0 + c, 0] = a0[c] + logu0[c]
        for l in range(d):
            alpha[c0 + c, l + 1] = at[l, c]
        hout[c0 + c] = h[c]


# ---------------------------------------------------------------------------------------------------
# Entropy networks (mlp, icnn)
# ---------------------------------------------------------------------------------------------------
@njit(**_PAR)
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
    d = n - 1
    L = table.shape[0]
    nneur = noff[L]
    maxw = 1
    for k in range(L):
        maxw = max(maxw, table[k, 0])
    ns = signs.shape[0]
    Q = mtil.shape[1]
    inv_ns = 1.0 / ns
    nchunks = (ncells + CHUNK - 1) // CHUNK
    for ch in prange(nchunks):
        c0 = ch * CHUNK
        nc = min(CHUNK, ncells - c0)
        S = np.empty((nneur, CHUNK))      # sigmoid(a_k) of every layer, for the backward pass
        za = np.empty((maxw, CHUNK))      # activations, ping-pong
        zb = np.empty((maxw, CHUNK))
        om = np.empty((d, CHUNK))
        x = np.empty((d, CHUNK))
        gx = np.empty((d, CHUNK))
        at = np.zeros((d, CHUNK))
        h = np.zeros(CHUNK)
        a0 = np.empty(CHUNK)
        ssum = np.empty(CHUNK)
        logu0 = np.empty(CHUNK)
        zbuf = np.empty((Q, CHUNK))
        _load_chunk(u, c0, nc, om, logu0)
        for s in range(ns):
            sg = signs[s]
            _input_map(P, mu, sg, om, x, nc)
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
                        at[l, c] = _fma(p, gx[i, c], at[l, c])
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
            _alpha0_normalisation(at, mtil, logw, zbuf, ssum, a0, nc)
        _store(alpha, hout, c0, nc, at, a0, h, logu0)


# ---------------------------------------------------------------------------------------------------
# Monotone ResNet (α̃ directly; forward only)
# ---------------------------------------------------------------------------------------------------
@njit(**_SER)
def _affine_softplus(scale, shift, src, dst, width, nc):
    for j in range(width):
        a = scale[j]
        b = shift[j]
        for c in range(nc):
            dst[j, c] = softplus(a * src[j, c] + b)


@njit(**_SER)
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


@njit(**_PAR)
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
        _load_chunk(u, c0, nc, om, logu0)
        for s in range(ns):
            sg = signs[s]
            _input_map(P, mu, sg, om, x, nc)
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
        _alpha0_normalisation(at, mtil, logw, zbuf, ssum, a0, nc)
        for c in range(nc):
            h[c] = a0[c] - 1.0
        for l in range(d):
            for c in range(nc):
                h[c] += at[l, c] * om[l, c]
        _store(alpha, hout, c0, nc, at, a0, h, logu0)


# ---------------------------------------------------------------------------------------------------
# Moment residuals (hybrid closure)
# ---------------------------------------------------------------------------------------------------
@njit(**_PAR)
def moment_residuals(alpha, u, mT, w, out):
    """out[i] = ‖⟨m exp(α_i·m)⟩ − u_i‖₂ / u_i0 for every cell (parallel over chunks of cells).

    Evaluated with the normalised α (α0 − log u0), so the exponentials stay O(1); exponents are clamped
    at ZCLAMP, and a cell with a non-finite α or a residual that overflows gets +inf, so ``r <= tol`` is
    False for every unusable α. mT (n, Q) basis values at the nodes, w (Q,) weights. Cell-fastest layout
    and the vectorisable ``safe_exp``, like the network kernels.
    """
    nchunks = (u.shape[0] + CHUNK - 1) // CHUNK
    for ch in prange(nchunks):
        _residual_chunk(alpha, u, mT, w, out, ch)


@njit(**_SER)
def _residual_chunk(alpha, u, mT, w, out, ch):
    ncells, n = u.shape
    Q = w.size
    c0 = ch * CHUNK
    nc = min(CHUNK, ncells - c0)
    a = np.empty((n, CHUNK))
    om = np.empty((n, CHUNK))
    acc = np.zeros((n, CHUNK))
    g = np.empty(CHUNK)
    for c in range(nc):
        u0 = u[c0 + c, 0]
        a[0, c] = alpha[c0 + c, 0] - np.log(u0)
        for j in range(1, n):
            a[j, c] = alpha[c0 + c, j]
        for j in range(n):
            om[j, c] = u[c0 + c, j] / u0
    for q in range(Q):
        for c in range(nc):
            g[c] = a[0, c] * mT[0, q]
        for j in range(1, n):
            mv = mT[j, q]
            for c in range(nc):
                g[c] = _fma(a[j, c], mv, g[c])
        wq = w[q]
        for c in range(nc):
            g[c] = wq * safe_exp(min(g[c], ZCLAMP))
        for j in range(n):
            mv = mT[j, q]
            for c in range(nc):
                acc[j, c] = _fma(g[c], mv, acc[j, c])
    for c in range(nc):
        r = 0.0
        finite = True
        for j in range(n):
            e = acc[j, c] - om[j, c]
            r += e * e
            finite = finite and np.isfinite(a[j, c])
        out[c0 + c] = np.sqrt(r) if (finite and np.isfinite(r)) else np.inf


# ---------------------------------------------------------------------------------------------------
# The backend object
# ---------------------------------------------------------------------------------------------------
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


class CpuNetwork:
    """Numba evaluation of a :class:`Network` for one basis and quadrature."""

    def __init__(self, net: Network, basis: Basis, quad: Quadrature):
        self.net = net
        m = np.asarray(basis.evaluate(quad), dtype=float)
        self.mtil = np.ascontiguousarray(m[:, 1:].T)
        self.logw = np.ascontiguousarray(np.log(quad.weights))
        self.P = np.ascontiguousarray(net.input_matrix, dtype=float)
        self.mu = np.ascontiguousarray(net.input_shift, dtype=float)
        self.signs = np.ascontiguousarray(net.signs, dtype=float)
        if net.has_entropy:
            self.table, self.noff, self.theta = pack_dense(net)
        else:
            mw = net.monotone
            self.mono = tuple(np.ascontiguousarray(mw[k], dtype=float) for k in
                              ["head_W", "head_b"] + [f"block_{k}" for k in
                                                      ("bn1_scale", "bn1_shift", "W1", "b1", "bn2_scale",
                                                       "bn2_shift", "W2", "b2")]
                              + [f"tail_{k}" for k in ("bn1_scale", "bn1_shift", "W1", "b1", "bn2_scale",
                                                        "bn2_shift", "W2", "b2")])

    def evaluate(self, u: np.ndarray, alpha0: str) -> tuple[np.ndarray, np.ndarray]:
        """(α (ncells, n), h̃ (ncells,)) for moments u (ncells, n) with u0 > 0; ``alpha0`` a convention."""
        u = np.ascontiguousarray(u, dtype=float)
        alpha = np.empty_like(u)
        h = np.empty(u.shape[0])
        if u.shape[0] == 0:
            return alpha, h
        net = self.net
        if net.has_entropy:
            dense_multipliers(self.table, self.noff, self.theta, self.P, self.mu, self.signs,
                              float(net.output_shift[0]), float(net.output_scale), self.mtil, self.logw, u,
                              MODES[alpha0], alpha, h)
        else:
            resnet_multipliers(*self.mono, self.P, self.mu, self.signs,
                               np.ascontiguousarray(net.output_shift, dtype=float), float(net.output_scale),
                               self.mtil, self.logw, u, alpha, h)
        return alpha, h
