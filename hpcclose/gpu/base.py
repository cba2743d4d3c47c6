"""What every device closure shares: the interface, the launch shape, and the statistics reduced on the
device.

A device closure keeps u and α in device memory; per call only the statistics cross to the host: five
counters, then the indices (and r index) of the regularised cells and the indices and moments of the
failed ones — arrays as long as those sets, not as the batch. Cells are reported in increasing order, as
the CPU closures report them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np
from numba import config, cuda

from ..closures.base import ClosureStats
from ..errors import RealizabilityError

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


def blocks(ncells: int) -> int:
    """Blocks of THREADS threads covering ``ncells`` cells (one thread per cell)."""
    return max(1, -(-ncells // THREADS))


class DeviceClosure(ABC):
    """A closure whose batched call works on device arrays: u, α (cells, n) float64, C-contiguous."""

    n: int

    @abstractmethod
    def multipliers(self, u, alpha) -> ClosureStats:
        """α for the moments u, in place (α holds the warm start on entry, where the closure uses one)."""


@cuda.jit
def _count(iters, reg_index, counts, reg_cells, reg_k, failed_cells):
    """Iteration sum and max; the regularised cells with their r index and the failed or unclosable cells
    appended (unordered) through atomic counters."""
    i = cuda.grid(1)
    if i >= iters.shape[0]:
        return
    cuda.atomic.add(counts, _ITER_SUM, iters[i])
    cuda.atomic.max(counts, _ITER_MAX, iters[i])
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

    def __init__(self, regs: np.ndarray, where: str):
        self.regs = np.asarray(regs, dtype=float)
        self.where = where
        self._ncells = -1

    def buffers(self, ncells: int):
        """(iters, reg_index) device arrays for ``ncells`` cells, written by the solve kernel."""
        if ncells != self._ncells:
            self.iters = cuda.device_array(ncells, np.int64)
            self.reg_index = cuda.device_array(ncells, np.int64)
            self._cells = cuda.device_array((3, ncells), np.int64)
            self._ncells = ncells
        return self.iters, self.reg_index

    def reduce(self, u, ncells: int, cells: np.ndarray | None = None) -> ClosureStats:
        """The statistics of the last solve of ``ncells`` cells with moments u (device). ``cells``: the
        batch's cell indices in the caller's numbering (default: 0 … ncells − 1). Raises
        :class:`RealizabilityError` naming the cells whose moments are not finite or have u0 ≤ 0."""
        stats = ClosureStats(ncells=ncells)
        if ncells == 0:
            return stats
        counts = cuda.to_device(np.zeros(5, np.int64))
        c = self._cells
        _count[blocks(ncells), THREADS](self.iters, self.reg_index, counts, c[0], c[1], c[2])
        cnt = counts.copy_to_host()
        nreg, nfail, nbad = int(cnt[_NREG]), int(cnt[_NFAILED]), int(cnt[_NBAD])
        if nbad:
            bad = np.sort(c[2, ncells - nbad:].copy_to_host())
            self._raise_unclosable(u, bad)
        order = np.argsort(c[0, :nreg].copy_to_host()) if nreg else np.zeros(0, np.int64)
        reg = c[0, :nreg].copy_to_host()[order] if nreg else np.zeros(0, np.int64)
        stats.iterations_mean = float(cnt[_ITER_SUM]) / ncells
        stats.iterations_max = int(cnt[_ITER_MAX])
        stats.regularised = reg if cells is None else cells[reg]
        stats.reg_r = self.regs[c[1, :nreg].copy_to_host()[order]] if nreg else np.zeros(0)
        failed = np.sort(c[2, :nfail].copy_to_host()) if nfail else np.zeros(0, np.int64)
        stats.failed = failed if cells is None else cells[failed]
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
        raise RealizabilityError(f"{self.where} input: {bad.size} moment vector(s) non-finite or with u0 ≤ 0: "
                                 f"{listed}{more}", bad, moments)
