"""The network closures (icnn, mlp, monotone) on the device: one CUDA thread per cell, running the Numba
CPU backend's own chunk functions with a chunk of one cell.

The weights are packed exactly as the CPU backend packs them (:class:`~hpcclose.closures.neural.cpu.
CpuNetwork`, from the same framework-neutral model file), and each thread calls
:func:`~hpcclose.closures.neural.cpu_dense.dense_chunk` (mlp, icnn: h̃, its exact gradient and α0) or
:func:`~hpcclose.closures.neural.cpu_resnet.resnet_chunk` (monotone) for its cell. The CPU chunk loops
compute every cell independently of the others, so a thread's α is the CPU backend's (bitwise under the
simulator; on a GPU up to the rounding of NVVM's FMA contraction and of its log). Scratch comes from
``cuda.local.array``, sized when the kernel is built for a network.
"""

from __future__ import annotations

import numpy as np
from numba import cuda, float64

from ..closures.base import ClosureStats
from ..closures.neural.closure import NetworkClosure
from ..closures.neural.cpu import CpuNetwork
from ..closures.neural.cpu_dense import MODES, dense_chunk
from ..closures.neural.cpu_resnet import RESNET_ROWS, resnet_chunk
from .base import THREADS, UNCLOSABLE, DeviceClosure, DeviceStats, blocks, closable, view


def _dense_kernel(nneur: int, maxw: int, d: int, Q: int):
    """The entropy-network kernel for nneur neurons, layers at most maxw wide, d inputs, Q nodes."""
    @cuda.jit
    def evaluate(u, alpha, hout, flag, table, noff, theta, P, mu, signs, out_shift, out_scale, mtil, logw,
                 mode):
        i = cuda.grid(1)
        if i >= u.shape[0]:
            return
        u, alpha, hout = view(u), view(alpha), view(hout)
        flag[i] = -1 if closable(u[i]) else UNCLOSABLE
        if flag[i] == UNCLOSABLE:
            return
        # the shapes dense_multipliers allocates, for a chunk of one cell
        cells = (cuda.local.array((d, 1), float64), cuda.local.array((d, 1), float64),
                 cuda.local.array((d, 1), float64), cuda.local.array((d, 1), float64))
        values = (cuda.local.array(1, float64), cuda.local.array(1, float64), cuda.local.array(1, float64),
                  cuda.local.array(1, float64))
        scratch = (cuda.local.array((nneur, 1), float64), cuda.local.array((maxw, 1), float64),
                   cuda.local.array((maxw, 1), float64), cells, values, cuda.local.array((Q, 1), float64))
        dense_chunk(view(table), view(noff), view(theta), view(P), view(mu), view(signs), out_shift, out_scale,
                    view(mtil), view(logw), u, mode, alpha, hout, i, 1, scratch)

    return evaluate


def _resnet_kernel(W: int, half: int, d: int, Q: int):
    """The monotone-ResNet kernel for width W, tail width half, d inputs, Q nodes."""
    rw, rt, rd, rv = RESNET_ROWS

    @cuda.jit
    def evaluate(u, alpha, hout, flag, hW, hb, bs1, bt1, bW1, bb1, bs2, bt2, bW2, bb2, ts1, tt1, tW1, tb1, ts2,
                 tt2, tW2, tb2, P, mu, signs, out_shift, out_scale, mtil, logw):
        i = cuda.grid(1)
        if i >= u.shape[0]:
            return
        u, alpha, hout = view(u), view(alpha), view(hout)
        flag[i] = -1 if closable(u[i]) else UNCLOSABLE
        if flag[i] == UNCLOSABLE:
            return
        scratch = (cuda.local.array((rw, W, 1), float64), cuda.local.array((rt, half, 1), float64),
                   cuda.local.array((rd, d, 1), float64), cuda.local.array((rv, 1), float64),
                   cuda.local.array((Q, 1), float64))
        resnet_chunk(view(hW), view(hb), view(bs1), view(bt1), view(bW1), view(bb1), view(bs2), view(bt2),
                     view(bW2), view(bb2), view(ts1), view(tt1), view(tW1), view(tb1), view(ts2), view(tt2),
                     view(tW2), view(tb2), view(P), view(mu), view(signs), view(out_shift), out_scale,
                     view(mtil), view(logw), u, alpha, hout, i, 1, scratch)

    return evaluate


class DeviceNetwork(DeviceClosure):
    """An icnn / mlp / monotone closure on the device, built from its CPU closure (same model file,
    same α0 convention; whatever that closure's backend, the device runs the Numba backend's
    arithmetic). ``h`` (device, (cells,)) holds h̃(ω̃) of the last call."""

    def __init__(self, closure: NetworkClosure):
        net = closure.net
        cpu = CpuNetwork(net, closure.basis, closure.quad)  # the CPU backend's packing of the weights
        self.n = closure.n
        d, Q = self.n - 1, cpu.mtil.shape[1]
        head = tuple(cuda.to_device(a) for a in (cpu.P, cpu.mu, cpu.signs))
        tail = (float(net.output_scale), cuda.to_device(cpu.mtil), cuda.to_device(cpu.logw))
        if net.has_entropy:
            maxw = int(max(1, cpu.table[:, 0].max()))
            self.kernel = _dense_kernel(int(cpu.noff[-1]), maxw, d, Q)
            self.args = (*(cuda.to_device(a) for a in (cpu.table, cpu.noff, cpu.theta)), *head,
                         float(net.output_shift[0]), *tail, MODES[closure.alpha0])
        else:
            mono = tuple(cuda.to_device(a) for a in cpu.mono)
            self.kernel = _resnet_kernel(cpu.mono[0].shape[0], cpu.mono[12].shape[0], d, Q)
            self.args = (*mono, *head, cuda.to_device(np.ascontiguousarray(net.output_shift, dtype=float)), *tail)
        self.stats = DeviceStats(np.zeros(0), f"{closure.name} closure")
        self.h = cuda.device_array(0)

    def launch(self, u, alpha, flag) -> None:
        """The network's α for every cell of u into alpha, h̃ into ``h``; ``flag`` (cells,) int64 ← −1, or
        UNCLOSABLE for moments that are not finite or have u0 ≤ 0 (α not written)."""
        if self.h.shape[0] != u.shape[0]:
            self.h = cuda.device_array(u.shape[0])
        if u.shape[0]:
            self.kernel[blocks(u.shape[0]), THREADS](u, alpha, self.h, flag, *self.args)

    def multipliers(self, u, alpha) -> ClosureStats:
        """α (written into ``alpha``; its entry values are not used) from the network; no iterations, nothing
        regularised; non-finite moments or u0 ≤ 0 raise :class:`RealizabilityError`."""
        ncells = u.shape[0]
        _, flag = self.stats.buffers(ncells)
        self.launch(u, alpha, flag)
        self.stats.reduce(u, ncells)  # raises on unclosable cells; nothing else to report
        return ClosureStats(ncells=ncells)
