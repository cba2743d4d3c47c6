"""What every device closure shares: the interface, the launch shape, and the statistics reduced on the
device.

A device closure keeps u and α in device memory; per call only the statistics cross to the host: five
counters, then the indices (and r index) of the regularised cells and the indices and moments of the
failed ones — arrays as long as those sets, not as the batch. Cells are reported in increasing order, as
the CPU closures report them.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod

import numpy as np
from numba import config, cuda, int64, njit

from ..closures.base import ClosureStats
from ..errors import RealizabilityError
from ..kernels.jit import SERIAL

# Threads per block of the one-thread-per-cell kernels (their per-thread scratch is in local memory).
THREADS = 64
# reg_index codes besides r's index: failed even with the largest r, input not closable (u0 ≤ 0 or not finite)
FAILED, UNCLOSABLE = -2, -3
# counters of the statistics kernel
_ITER_SUM, _ITER_MAX, _NREG, _NFAILED, _NBAD = range(5)


if config.ENABLE_CUDASIM:
    def view(x):
        """The numpy array behind a kernel's array argument: under the simulator the kernel sees wrappers,
        which Numba-compiled functions cannot take (on a GPU, the array itself)."""
        return x._item._ary
else:
    @cuda.jit(device=True, inline="always")
    def view(x):
        """The array itself (under the simulator: the numpy array behind a kernel argument)."""
        return x


@njit(**SERIAL)
def closable(u):
    """Whether an exponential closure can take the moments u (n,): finite, u0 > 0 (the CPU closures raise
    otherwise; the kernels mark the cell UNCLOSABLE and the statistics raise)."""
    ok = u[0] > 0.0
    for j in range(u.shape[0]):
        ok = ok and math.isfinite(u[j])
    return ok


def blocks(ncells: int) -> int:
    """Blocks of THREADS threads covering ``ncells`` cells (one thread per cell)."""
    return max(1, -(-ncells // THREADS))


class DeviceClosure(ABC):
    """A closure whose batched call works on device arrays: u, α (cells, n) float64, C-contiguous."""

    n: int

    @abstractmethod
    def multipliers(self, u, alpha) -> ClosureStats:
        """α for the moments u, in place (α holds the warm start on entry, where the closure uses one)."""


@cuda.jit(device=True)
def block_reduce(total, top, t):
    """Sum of ``total`` into total[0] and maximum of ``top`` into top[0], over a block's THREADS threads
    (shared arrays; t the thread's index): one atomic per block instead of one per cell."""
    cuda.syncthreads()
    s = THREADS // 2
    while s > 0:
        if t < s:
            total[t] += total[t + s]
            top[t] = max(top[t], top[t + s])
        cuda.syncthreads()
        s //= 2


@cuda.jit
def _count(iters, itmax, reg_index, counts, reg_cells, reg_k, failed_cells):
    """Iteration sum (of ``iters``) and max (of ``itmax``); the regularised cells with their r index and the
    failed or unclosable cells appended (unordered) through atomic counters."""
    i = cuda.grid(1)
    t = cuda.threadIdx.x
    inside = i < iters.shape[0]
    total = cuda.shared.array(THREADS, int64)
    top = cuda.shared.array(THREADS, int64)
    total[t] = iters[i] if inside else 0
    top[t] = itmax[i] if inside else 0
    block_reduce(total, top, t)
    if t == 0:
        cuda.atomic.add(counts, _ITER_SUM, total[0])
        cuda.atomic.max(counts, _ITER_MAX, top[0])
    if not inside:
        return
    k = reg_index[i]
    if k >= 0:
        s = cuda.atomic.add(counts, _NREG, 1)
        reg_cells[s] = i
        reg_k[s] = k
    elif k == FAILED or k == UNCLOSABLE:
        s = cuda.atomic.add(counts, _NFAILED if k == FAILED else _NBAD, 1)
        failed_cells[s if k == FAILED else iters.shape[0] - 1 - s] = i


@cuda.jit
def _gather(u, cells, out):
    """out[k] = u[cells[k]] (the moments of the failed cells)."""
    k = cuda.grid(1)
    if k < cells.shape[0]:
        for j in range(u.shape[1]):
            out[k, j] = u[cells[k], j]


class DeviceStats:
    """Reduces per-cell iterations and regularisation codes to :class:`ClosureStats` (scratch kept per
    batch size)."""

    def __init__(self, regs: np.ndarray, where: str, unclosable: str = "non-finite or with u0 ≤ 0"):
        self.regs = np.asarray(regs, dtype=float)
        self.where = where
        self.unclosable = unclosable
        self._ncells = -1

    def buffers(self, ncells: int):
        """(iters, reg_index) device arrays for ``ncells`` cells, written by the solve kernel."""
        if ncells != self._ncells:
            self.iters = cuda.to_device(np.zeros(ncells, np.int64))  # stays 0 for a closure with no iterations
            self.reg_index = cuda.device_array(ncells, np.int64)
            self._cells = cuda.device_array((3, ncells), np.int64)
            self._ncells = ncells
        return self.iters, self.reg_index

    def reduce(self, u, ncells: int, itmax=None, stats: ClosureStats | None = None) -> ClosureStats:
        """The statistics of the last solve of ``ncells`` cells with moments u (device), into ``stats``
        (default: a new :class:`ClosureStats`). ``itmax``: per-cell iterations for the maximum, if not
        ``iters`` (the hybrid closure's). Raises :class:`RealizabilityError` naming the cells whose
        moments are not finite or have u0 ≤ 0."""
        stats = ClosureStats(ncells=ncells) if stats is None else stats
        if ncells == 0:
            return stats
        counts = cuda.to_device(np.zeros(5, np.int64))
        c = self._cells
        _count[blocks(ncells), THREADS](self.iters, self.iters if itmax is None else itmax, self.reg_index,
                                        counts, c[0], c[1], c[2])
        cnt = counts.copy_to_host()
        nreg, nfail, nbad = int(cnt[_NREG]), int(cnt[_NFAILED]), int(cnt[_NBAD])
        if nbad:
            bad = np.sort(c[2, ncells - nbad:].copy_to_host())
            self._raise_unclosable(u, bad)
        # only the listed cells cross to the host, then in increasing order as the CPU closures list them
        # (contiguous rows: numba-cuda copies only contiguous device arrays to the host)
        reg, kreg = (c[0, :nreg].copy_to_host(), c[1, :nreg].copy_to_host()) if nreg else (np.zeros(0, np.int64),) * 2
        order = np.argsort(reg)
        stats.iterations_mean = float(cnt[_ITER_SUM]) / ncells
        stats.iterations_max = int(cnt[_ITER_MAX])
        stats.regularised = reg[order]
        stats.reg_r = self.regs[kreg[order]]
        failed = np.sort(c[2, :nfail].copy_to_host()) if nfail else np.zeros(0, np.int64)
        stats.failed = failed
        stats.failed_moments = self._moments(u, failed)
        return stats

    def _moments(self, u, cells: np.ndarray) -> np.ndarray:
        """u[cells] (host), gathered on the device."""
        if cells.size == 0:
            return np.zeros((0, u.shape[1]))
        out = cuda.device_array((cells.size, u.shape[1]))
        _gather[blocks(cells.size), THREADS](u, cuda.to_device(cells), out)
        return out.copy_to_host()

    def _raise_unclosable(self, u, bad: np.ndarray) -> None:
        moments = self._moments(u, bad)
        listed = ", ".join(f"cell {c}: u={np.array2string(moments[k], precision=4)}" for k, c in enumerate(bad[:3]))
        more = f" (and {bad.size - 3} more)" if bad.size > 3 else ""
        raise RealizabilityError(f"{self.where} input: {bad.size} moment vector(s) {self.unclosable}: "
                                 f"{listed}{more}", bad, moments)
