"""Per-face and per-cell kernels of the flux, shared by the stored-array path (:mod:`.flux`) and the fused,
tiled path (:mod:`.fused`): minmod, the upwind face flux of a 4-cell stencil, the ansatz on a run of cells.

Device-style: scalar loops over contiguous rows, no allocation (scratch rows come from the caller), so the
same functions can be called from ``@njit(parallel=True)`` loops here and from GPU kernels later. Both
paths call exactly these functions, so they agree bit for bit.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ..kernels.fastmath import exp_row

FM = {"contract"}  # allow FMA contraction only: no reassociation, NaN/inf semantics kept


# --- reconstruction and face flux (inlined into the kernels) ---------------------------------------
@njit(inline="always", fastmath=FM, cache=True)
def minmod3(a, b, c):
    """minmod(a, b, c) without branches: s·max(0, min(s·a, s·b, s·c)) with s = sign(a)."""
    s = 1.0 if a > 0.0 else -1.0
    t = min(s * a, min(s * b, s * c))
    return s * max(t, 0.0)


@njit(inline="always", fastmath=FM, cache=True)
def upwind_state(a, b, c, d, pos, theta):
    """The upwind nodal value at the face between b and c (stencil a | b | c | d) of a node moving towards
    c (``pos``: b's right face value b + s_b/2) or away from it (c's left face value c − s_c/2), minmod(θ)
    slopes. Both are computed and one selected: branch-free, so loops over the nodes vectorise."""
    left = b + 0.5 * minmod3(theta * (b - a), 0.5 * (c - a), theta * (c - b))
    right = c - 0.5 * minmod3(theta * (c - b), 0.5 * (d - b), theta * (d - c))
    return left if pos else right


@njit(fastmath={"contract", "reassoc"}, cache=True)
def weighted_sums(wvm, buf, F):
    """F[k] = Σ_q wvm[k, q] buf[q]. Reassociation lets LLVM vectorise the sums (several partial sums
    instead of one serial chain, ~3× faster at Q = 400); kept out of line so that flag stays here."""
    for k in range(F.shape[0]):
        acc = 0.0
        for q in range(buf.shape[0]):
            acc += wvm[k, q] * buf[q]
        F[k] = acc


@njit(inline="always", fastmath=FM, cache=True)
def face_flux(fa, fb, fc, fd, pos, wvm, order, theta, buf, F):
    """Moment flux F (n,) through the face between cells b and c (stencil a | b | c | d, rows (Q,)).

    ``pos[q]``: node q moves towards c (v_q > 0); its upwind state is :func:`upwind_state`'s.
    ``wvm`` is (n, Q): w_q v_q m_qk.
    """
    Q = buf.shape[0]
    if order == 1:
        for q in range(Q):
            buf[q] = fb[q] if pos[q] else fc[q]
    else:
        for q in range(Q):
            buf[q] = upwind_state(fa[q], fb[q], fc[q], fd[q], pos[q], theta)
    weighted_sums(wvm, buf, F)


@njit(cache=True)
def flux_weights(v, w, m):
    """(n, Q) w_q v_q m_qk and the upwind side of every node (v_q > 0) (set-up, allocates)."""
    Q, n = m.shape
    wvm = np.empty((n, Q))
    pos = np.empty(Q, np.bool_)
    for q in range(Q):
        pos[q] = v[q] > 0.0
        for k in range(n):
            wvm[k, q] = w[q] * v[q] * m[q, k]
    return wvm, pos


# --- ansatz at the nodes ----------------------------------------------------------------------------
# exp is the cost of the ansatz (Q per cell: 10⁸ per stage for 512² cells × 400 nodes). libm's scalar
# exp does not vectorise, so rows are exponentiated in place by the vectorised full-range exp of
# hpcclose.kernels.fastmath (Tang's method, ≈ 2 ulp; x > 709 gives inf, x < −708 gives 0, NaN stays NaN).
EXP_BLOCK = 2048  # values exponentiated per call: long vector loops even for Q = 10, still in L1/L2


@njit(inline="always", fastmath=FM, cache=True)
def ansatz_run(alpha, mT, linear, out, c0, c1, scratch):
    """out[c] = α_c·m (linear) or exp(α_c·m) for cells c0 ≤ c < c1 of C-contiguous (ncells, ·) arrays;
    ``scratch`` holds at least min(c1 − c0, EXP_BLOCK // Q) · Q values.

    The linear part runs per cell over contiguous q; exp runs on blocks of whole cells flattened
    (contiguous in ``out``), so its loops stay long when Q is small.
    """
    n, Q = mT.shape
    step = max(1, EXP_BLOCK // Q)
    for b0 in range(c0, c1, step):
        b1 = min(b0 + step, c1)
        for c in range(b0, b1):
            dst = out[c]
            a0 = alpha[c, 0]
            for q in range(Q):
                dst[q] = a0 * mT[0, q]
            for k in range(1, n):
                ak = alpha[c, k]
                for q in range(Q):
                    dst[q] += ak * mT[k, q]
        if not linear:
            L = (b1 - b0) * Q
            exp_row(out[b0:b1].reshape(L), scratch[:L])
