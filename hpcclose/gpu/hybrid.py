"""The hybrid closure on the device: the network's α, its moment residual per cell, and Newton where the
residual is over ``tol`` — one CUDA thread per cell for the check and the re-solve.

Two kernels per call: the network (:mod:`.networks`) writes its α for every cell into a buffer, then one
thread per cell computes the residual r = ‖⟨m exp(α·m)⟩ − u‖₂ / u0 with the CPU's own
:func:`~hpcclose.kernels.residuals.residual_chunk` (a chunk of one cell) and, where r > tol, solves the
cell as :meth:`HybridClosure._resolve <hpcclose.closures.hybrid.HybridClosure._resolve>` does: Newton
(:func:`.newton.thread_solver`) from the network's α or from the caller's warm start (α on entry), whichever
has the smaller residual, and if that needed regularisation, again from the cold start, kept where it
needs none. The statistics (:class:`~hpcclose.closures.hybrid.HybridStats`) are reduced on the device.
"""

from __future__ import annotations

import math

import numpy as np
from numba import cuda, float64

from ..closures.hybrid import HybridClosure, HybridStats
from ..kernels.residuals import residual_chunk
from .base import THREADS, UNCLOSABLE, DeviceClosure, block_reduce, blocks, view
from .networks import DeviceNetwork
from .newton import DeviceNewton, thread_solver


def _kernel(n: int, nb: int, nq: int, Qp: int):
    """The check-and-resolve kernel for n moments, nb product functions, nq real and Qp padded nodes."""
    solve = thread_solver(n, nb, nq, Qp)

    @cuda.jit
    def check(u, alpha, anet, flag, mTr, wr, tol_h, r, rprev, mT, w, wbT, C, Cg, phi_floor, mmax, h0, h1, h2,
              g0, g1, g2, tol, k0, max_iter, acb_switch, regs, omega_iso, alpha_cold, iters, itmax, reg_index,
              resolved):
        i = cuda.grid(1)
        if i >= u.shape[0]:
            return
        u, alpha, anet, r, rprev = view(u), view(alpha), view(anet), view(r), view(rprev)
        iters[i] = 0
        itmax[i] = 0
        resolved[i] = 0
        reg_index[i] = flag[i]  # −1, or UNCLOSABLE from the network kernel
        if flag[i] == UNCLOSABLE:
            r[i] = 0.0
            return
        # the network's residual, and the warm start's (the caller's α on entry)
        ra = cuda.local.array((n, 1), float64)
        ro = cuda.local.array((n, 1), float64)
        racc = cuda.local.array((n, 1), float64)
        rg = cuda.local.array(1, float64)
        residual_chunk(anet, u, view(mTr), view(wr), r, i, ra, ro, racc, rg)
        if r[i] <= tol_h:
            for j in range(n):
                alpha[i, j] = anet[i, j]
            return
        resolved[i] = 1
        residual_chunk(alpha, u, view(mTr), view(wr), rprev, i, ra, ro, racc, rg)
        data = (view(mT), view(w), view(wbT), view(C), view(Cg), phi_floor, mmax, view(h0), view(h1), view(h2),
                view(g0), view(g1), view(g2))
        params = (tol, k0, max_iter, acb_switch, view(regs), view(omega_iso), view(alpha_cold))
        it, itm, k = solve(data, params, u, i, alpha if rprev[i] < r[i] else anet, alpha, True)
        iters[i] = it
        itmax[i] = itm
        reg_index[i] = k

    return check


@cuda.jit
def _count_resolved(resolved, r, counts, rmax, cells):
    """The resolved cells appended (unordered) through an atomic counter; the largest residual."""
    i = cuda.grid(1)
    t = cuda.threadIdx.x
    inside = i < resolved.shape[0]
    zero = cuda.shared.array(THREADS, float64)  # block_reduce also sums: nothing to sum here
    top = cuda.shared.array(THREADS, float64)
    zero[t] = 0.0
    top[t] = r[i] if inside else -math.inf
    block_reduce(zero, top, t)
    if t == 0:
        cuda.atomic.max(rmax, 0, top[0])
    if inside and resolved[i]:
        cells[cuda.atomic.add(counts, 0, 1)] = i


class DeviceHybrid(DeviceClosure):
    """The "hybrid" closure on the device, built from a :class:`HybridClosure` (its network, tol and
    Newton options). ``r`` (device, (cells,)) holds the network residuals of the last call."""

    def __init__(self, closure: HybridClosure):
        self.n = closure.n
        self.tol = float(closure.tol)
        self.network = DeviceNetwork(closure.network)
        self.newton = DeviceNewton(closure.newton)
        self.basis = (cuda.to_device(closure.mT), cuda.to_device(closure.w))
        self.kernel = _kernel(*self.newton.sizes)
        self.cells_total = 0
        self.resolved_total = 0
        self._ncells = -1

    def _buffers(self, ncells: int) -> None:
        if ncells != self._ncells:
            self.anet = cuda.device_array((ncells, self.n))
            self.r = cuda.device_array(ncells)
            self._rprev = cuda.device_array(ncells)
            self._itmax = cuda.device_array(ncells, np.int64)
            self._resolved = cuda.device_array(ncells, np.int64)
            self._cells = cuda.device_array(ncells, np.int64)
            self._ncells = ncells

    def multipliers(self, u, alpha) -> HybridStats:
        """α (in place; on entry the warm start, rows that are not finite have none): the network's where
        its residual ≤ tol, Newton's elsewhere; statistics as the CPU hybrid closure's."""
        ncells = u.shape[0]
        stats = HybridStats(ncells=ncells)
        if ncells == 0:
            return stats
        self._buffers(ncells)
        iters, reg_index = self.newton.stats.buffers(ncells)
        self.network.launch(u, self.anet, reg_index)
        nw = self.newton
        self.kernel[blocks(ncells), THREADS](u, alpha, self.anet, reg_index, *self.basis, self.tol, self.r,
                                             self._rprev, *nw.data, *nw.params, nw.regs, nw.omega_iso,
                                             nw.alpha_cold, iters, self._itmax, reg_index, self._resolved)
        nw.stats.reduce(u, ncells, itmax=self._itmax, stats=stats)
        counts = cuda.to_device(np.zeros(1, np.int64))
        rmax = cuda.to_device(np.full(1, -np.inf))
        _count_resolved[blocks(ncells), THREADS](self._resolved, self.r, counts, rmax, self._cells)
        nres = int(counts.copy_to_host()[0])
        stats.resolved = np.sort(self._cells[:nres].copy_to_host()) if nres else np.zeros(0, np.int64)
        stats.residual_max = float(rmax.copy_to_host()[0])
        if nres == 0:  # as the CPU closure reports a batch it did not re-solve
            stats.failed_moments = np.zeros((0, 0))
        self.cells_total += ncells
        self.resolved_total += nres
        return stats

