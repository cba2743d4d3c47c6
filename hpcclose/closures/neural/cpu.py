"""Numba inference for network closures: forward pass, exact gradient and α0, batched over cells.

No TensorFlow: the weights come from a :class:`~.export.Network` (a model file). :class:`CpuNetwork`
packs them once and calls the kernel of the architecture: :mod:`.cpu_dense` (entropy networks, mlp and
icnn) or :mod:`.cpu_resnet` (the monotone ResNet), both built from the chunk steps of :mod:`.cpu_chunk`.
All kernels are ``@njit(parallel=True, cache=True)`` with a ``prange`` over chunks of ``CHUNK`` cells,
float64.

Layout for SIMD
---------------
Inside a chunk every quantity is stored *cell-fastest*: activations Z[neuron, cell], the input
x[component, cell], … so each inner loop runs over the cells of the chunk with unit stride and the same
weight, which LLVM vectorises (4 doubles per AVX2 instruction). The transcendental functions dominate,
so each neuron costs exactly one exp: softplus and sigmoid both come from e = exp(−|a|), with the
branch-free exp and log1p of :mod:`hpcclose.kernels.fastmath` (no libm calls, no SVML needed).
Helpers are separate ``@njit`` functions (not inlined at the Numba level): that halves the compile time
(≈ 13 s for the dense kernel on a 2-core machine, once: ``cache=True``) at no measured run-time cost.

Throughput (15 × 7 ICNN, 1D M2, 30-point rule, NUMBA_NUM_THREADS=1, one core of the shared 2-core
development machine): ≈ 8.6–10e5 moments/s with α0 by normalisation (network, gradient, α0 and the
30-node log-sum-exp; docs/benchmarks.md). About half of the time goes to the softplus/sigmoid
evaluations, the rest to the weight loops (≈ 12 GFMA/s on the 45-wide layers; OpenBLAS dgemm on the same
blocks was no faster in a same-process comparison).

α0 (SCIENCE.md §3), with ω̃ = ũ/u0:
  mode GRADIENT      α0 = h̃(ω̃) − ω̃·α̃ + 1 + log u0          (exact gradient of h_a, [A eq. 37])
  mode NORMALISATION α0 = −log Σ_q w_q exp(α̃·m̃_q) + log u0   ([B eq. 44, 47]; log-sum-exp, no overflow)
"""

from __future__ import annotations

import numpy as np

from ...velocity import Basis, Quadrature
from .cpu_dense import MODES, dense_multipliers, pack_dense
from .cpu_resnet import resnet_multipliers
from .export import MONOTONE_KEYS, Network


class CpuNetwork:
    """Numba evaluation of a :class:`Network` for one basis and quadrature."""

    def __init__(self, net: Network, basis: Basis, quad: Quadrature,
                 nodes: tuple[np.ndarray, np.ndarray] | None = None):
        """``nodes``: (m̃ (Q, d), w (Q,)) of the α0 normalisation instead of the basis at the rule's nodes
        (:mod:`.rotated` evaluates a reduced network whose α0 it computes itself)."""
        self.net = net
        mtil, w = nodes if nodes is not None else (np.asarray(basis.evaluate(quad), dtype=float)[:, 1:],
                                                   quad.weights)
        self.mtil = np.ascontiguousarray(np.asarray(mtil, dtype=float).T)
        self.logw = np.ascontiguousarray(np.log(w))
        self.P = np.ascontiguousarray(net.input_matrix, dtype=float)
        self.mu = np.ascontiguousarray(net.input_shift, dtype=float)
        self.signs = np.ascontiguousarray(net.signs, dtype=float)
        if net.has_entropy:
            self.table, self.noff, self.theta = pack_dense(net)
        else:
            self.mono = tuple(np.ascontiguousarray(net.monotone[k], dtype=float) for k in MONOTONE_KEYS)

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
