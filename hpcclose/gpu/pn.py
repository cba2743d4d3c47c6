"""The linear P_N closure on the device: α = M⁻¹u per cell, one thread per cell, with the inverse mass
matrix the CPU closure forms once (:class:`~hpcclose.closures.pn.PNClosure`). The CPU closure's product
runs in BLAS, whose summation order is its own: the two agree to rounding (≲ n ulp of max |α|), not
bitwise."""

from __future__ import annotations

import math

from numba import cuda

from ..closures.base import ClosureStats
from ..closures.pn import PNClosure
from .base import THREADS, UNCLOSABLE, DeviceClosure, DeviceStats, blocks


@cuda.jit
def _expand(u, inv_t, alpha, flag):
    """alpha[i] = u[i] · inv_t (inv_t = (M⁻¹)ᵀ); flag[i] UNCLOSABLE where u[i] is not finite."""
    i = cuda.grid(1)
    if i >= u.shape[0]:
        return
    n = u.shape[1]
    ok = True
    for j in range(n):
        ok = ok and math.isfinite(u[i, j])
    flag[i] = -1 if ok else UNCLOSABLE
    for j in range(n):
        s = 0.0
        for k in range(n):
            s += u[i, k] * inv_t[k, j]
        alpha[i, j] = s


class DevicePN(DeviceClosure):
    """The "pn" closure on the device; only finite moments are required (P_N densities may be negative)."""

    def __init__(self, closure: PNClosure):
        self.n = closure.n
        self.inv_t = cuda.to_device(closure.inv_t)
        self.kernel = _expand
        self.stats = DeviceStats((), "pn", "non-finite")

    def multipliers(self, u, alpha) -> ClosureStats:
        """The expansion coefficients α = M⁻¹u into ``alpha`` (its entry values are not used)."""
        ncells = u.shape[0]
        _, flag = self.stats.buffers(ncells)
        if ncells:
            self.kernel[blocks(ncells), THREADS](u, self.inv_t, alpha, flag)
        self.stats.reduce(u, ncells)  # raises on non-finite moments; nothing else to report
        return ClosureStats(ncells=ncells)
