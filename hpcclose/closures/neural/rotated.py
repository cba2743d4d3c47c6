"""Inference of a rotation-invariant 2D network (:mod:`.rotation`): turn, evaluate reduced, turn back.

For moments u (ncells, n) with u0 > 0, per cell:

1. ω̃ = ũ/u0 is turned into the reduced frame, v = D̃(−θ) ω̃ (first moment along Ωx, v_y = 0);
2. the network — on either backend, :class:`~.cpu.CpuNetwork` or :class:`~.gpu.TFNetwork` — evaluates its
   n − 2 reduced inputs at u = (1, v without v_y): h̃ and the reduced α̃ (entropy networks, in the
   "gradient" mode, which needs no sum over the nodes; the monotone network over a one-node dummy rule,
   since its α0 is recomputed here anyway);
3. α_y follows from the invariance, α̃ = D̃(−θ)ᵀ α_v turns it back (:meth:`.rotation.Rotation.complete_alpha`,
   :meth:`~.rotation.Rotation.to_frame`);
4. α0 by the convention: "gradient" h̃ − v·α_v + 1 + log u0 (ω̃·α̃ = v·α_v: the inner network's own α0
   plus log u0), or "normalisation" −log Σ_q w_q exp(α̃·m̃_q) + log u0 (a Numba kernel over the distinct
   nodes: every 2D basis is even in Ωz, so the mirrored nodes ±μ of a rule are merged, half the sum).

The turning is a few small numpy operations per batch; the sums over the nodes dominate them.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from ...kernels.jit import PARALLEL
from ...velocity import Basis, Quadrature
from .cpu_chunk import CHUNK, alpha0_normalisation
from .export import Network
from .rotation import distinct_nodes, rotation


@njit(**PARALLEL)
def normalisation_alpha0(at, mtil, logw, out):
    """out[c] = −log Σ_q w_q exp(α̃_c·m̃_q) for α̃ (ncells, d), m̃ (d, Q), log w (Q,) (log-sum-exp)."""
    ncells, d = at.shape
    Q = mtil.shape[1]
    for ch in prange((ncells + CHUNK - 1) // CHUNK):
        c0 = ch * CHUNK
        nc = min(CHUNK, ncells - c0)
        buf = np.empty((d, CHUNK))  # cell-fastest, as the chunk step expects
        zbuf = np.empty((Q, CHUNK))
        ssum = np.empty(CHUNK)
        a0 = np.empty(CHUNK)
        for l in range(d):
            for c in range(nc):
                buf[l, c] = at[c0 + c, l]
        alpha0_normalisation(buf, mtil, logw, zbuf, ssum, a0, nc)
        for c in range(nc):
            out[c0 + c] = a0[c]


class RotatedNetwork:
    """Evaluation of a rotation-invariant :class:`Network` on moments in any frame (``backend`` "cpu" or "gpu")."""

    def __init__(self, net: Network, basis: Basis, quad: Quadrature, backend: str = "cpu"):
        self.net = net
        self.frame = rotation(basis)
        dummy = (np.zeros((1, self.frame.d)), np.ones(1))  # the inner α0 is not used (module docstring)
        if backend == "cpu":
            from .cpu import CpuNetwork

            self.inner = CpuNetwork(net, basis, quad, nodes=dummy)
        else:
            from .gpu import TFNetwork

            self.inner = TFNetwork(net, basis, quad, nodes=dummy)
        m, w = distinct_nodes(np.asarray(basis.evaluate(quad), dtype=float), quad.weights)
        self.mtil = np.ascontiguousarray(m[:, 1:].T)
        self.logw = np.ascontiguousarray(np.log(w))

    def evaluate(self, u: np.ndarray, alpha0: str) -> tuple[np.ndarray, np.ndarray]:
        """(α (ncells, n), h̃ (ncells,)) for moments u (ncells, n) with u0 > 0; ``alpha0`` a convention."""
        u = np.asarray(u, dtype=float)
        frame, ncells = self.frame, u.shape[0]
        u0 = u[:, 0]
        c, s, v = frame.reduce(u[:, 1:] / u0[:, None])
        reduced = np.concatenate([np.ones((ncells, 1)), v[:, frame.keep]], axis=1)
        inner, h = self.inner.evaluate(reduced, "gradient" if self.net.has_entropy else "normalisation")
        alpha_v = frame.complete_alpha(v, inner[:, 1:])
        alpha = np.empty_like(u)
        alpha[:, 1:] = frame.to_frame(c, s, alpha_v)
        if alpha0 == "gradient":
            alpha[:, 0] = inner[:, 0]
        else:
            normalisation_alpha0(np.ascontiguousarray(alpha[:, 1:]), self.mtil, self.logw, alpha[:, 0])
        if not self.net.has_entropy:  # the entropy of the normalised ansatz, α·(1, ω̃) − 1
            h = alpha[:, 0] + np.einsum("ij,ij->i", v, alpha_v) - 1.0
        alpha[:, 0] += np.log(u0)
        return alpha, h
