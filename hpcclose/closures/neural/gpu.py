"""TensorFlow inference for network closures: the whole rank's cells in one XLA-compiled call.

The weights come from the framework-neutral :class:`~.export.Network` (the model file), so the same file
runs on either backend. The network is evaluated in float64 with ``tf.function(jit_compile=True)``; α̃ of
an entropy network is its gradient by automatic differentiation (an independent check of the Numba
backend's hand-written backpropagation: both agree to ~1e−14). α0 follows the same two conventions
(module docstring of :mod:`.cpu`).

Device placement goes through :func:`hpcclose.devices.place_rank` (one GPU per local MPI rank, round
robin; the CPU when no GPU is visible). The local rank is :func:`hpcclose.parallel.mpi.node_rank`'s, found
once at start-up (or from the launcher's environment without MPI), so constructing the closure is not a
collective operation. XLA compiles once per batch size: a simulation calls the closure with the same
number of owned cells every stage, so it compiles once per run.
"""

from __future__ import annotations

import numpy as np

from ... import devices
from ...velocity import Basis, Quadrature
from .export import Network


class TFNetwork:
    """TensorFlow (XLA) evaluation of a :class:`Network` for one basis and quadrature."""

    def __init__(self, net: Network, basis: Basis, quad: Quadrature, rank: int | None = None,
                 nodes: tuple[np.ndarray, np.ndarray] | None = None):
        """``nodes``: (m̃ (Q, d), w (Q,)) of the α0 normalisation instead of the basis at the rule's nodes."""
        tf = devices.tensorflow()
        self.tf = tf
        self.net = net
        self.device = devices.place_rank(rank)
        mtil, w = nodes if nodes is not None else (np.asarray(basis.evaluate(quad), dtype=float)[:, 1:],
                                                   quad.weights)
        c = lambda a: tf.constant(np.asarray(a, dtype=np.float64))  # noqa: E731
        with tf.device(self.device):
            self.mtil = c(mtil)                         # (Q, d)
            self.logw = c(np.log(w))                    # (Q,)
            self.P = c(net.input_matrix)
            self.mu = c(net.input_shift)
            self.signs = [c(s) for s in net.signs]
            self.out_shift = c(net.output_shift)
            self.out_scale = c(net.output_scale)
            if net.has_entropy:
                self.layers = [(None if L.Wz is None else c(L.Wz.T), None if L.Wx is None else c(L.Wx.T),
                                c(L.b), L.activation == "softplus") for L in net.layers]
            else:
                self.mono = {k: c(v) for k, v in net.monotone.items()}
        self._fns = {mode: tf.function(lambda u, _m=mode: self._multipliers(u, _m), jit_compile=True,
                                       reduce_retracing=True) for mode in ("gradient", "normalisation")}

    # --- the network -----------------------------------------------------------------------------------
    def _x(self, omega, F):
        return self.tf.matmul(omega * F - self.mu, self.P, transpose_b=True)

    def _entropy(self, omega):
        """Unscaled network output mean_s N(x_s), (B,)."""
        tf = self.tf
        out = 0.0
        for F in self.signs:
            x = self._x(omega, F)
            z = None
            for Wz, Wx, b, act in self.layers:
                a = b
                if Wx is not None:
                    a = a + tf.matmul(x, Wx)
                if Wz is not None:
                    a = a + tf.matmul(z, Wz)
                z = tf.math.softplus(a) if act else a
            out = out + z[:, 0]
        return out / len(self.signs)

    def _monotone(self, omega):
        tf = self.tf
        m = self.mono
        sp = tf.math.softplus
        out = 0.0
        for F in self.signs:
            x = self._x(omega, F)
            z = tf.matmul(x, m["head_W"], transpose_b=True) + m["head_b"]
            for k in range(int(m["block_W1"].shape[0])):
                y = tf.matmul(sp(m["block_bn1_scale"][k] * z + m["block_bn1_shift"][k]), m["block_W1"][k],
                              transpose_b=True) + m["block_b1"][k]
                y = tf.matmul(sp(m["block_bn2_scale"][k] * y + m["block_bn2_shift"][k]), m["block_W2"][k],
                              transpose_b=True) + m["block_b2"][k]
                z = z + y
            t = tf.matmul(sp(m["tail_bn1_scale"] * z + m["tail_bn1_shift"]), m["tail_W1"], transpose_b=True) \
                + m["tail_b1"]
            o = tf.matmul(sp(m["tail_bn2_scale"] * t + m["tail_bn2_shift"]), m["tail_W2"], transpose_b=True) \
                + m["tail_b2"]
            out = out + o * F
        return out / len(self.signs)

    def _multipliers(self, u, mode):
        tf = self.tf
        u0 = u[:, 0]
        omega = u[:, 1:] / u0[:, None]
        if self.net.has_entropy:
            with tf.GradientTape() as tape:
                tape.watch(omega)
                n = self._entropy(omega)
            g = tape.gradient(n, omega)
            h = self.out_shift[0] + self.out_scale * n
            at = self.out_scale * g
        else:
            at = self.out_shift + self.out_scale * self._monotone(omega)
            h = None
        if mode == "gradient":
            a0 = h - tf.reduce_sum(omega * at, axis=1) + 1.0
        else:
            a0 = -tf.reduce_logsumexp(tf.matmul(at, self.mtil, transpose_b=True) + self.logw, axis=1)
        if h is None:
            h = a0 + tf.reduce_sum(omega * at, axis=1) - 1.0
        alpha = tf.concat([(a0 + tf.math.log(u0))[:, None], at], axis=1)
        return alpha, h

    # --- public ------------------------------------------------------------------------------------------
    def evaluate(self, u: np.ndarray, alpha0: str) -> tuple[np.ndarray, np.ndarray]:
        """(α (ncells, n), h̃ (ncells,)) for moments u (ncells, n) with u0 > 0."""
        tf = self.tf
        u = np.ascontiguousarray(u, dtype=np.float64)
        if u.shape[0] == 0:
            return np.empty_like(u), np.empty(0)
        with tf.device(self.device):
            alpha, h = self._fns[alpha0](tf.constant(u))
        return alpha.numpy(), h.numpy()

