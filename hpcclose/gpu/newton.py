"""The Newton closure on the device: one CUDA thread per cell, running the CPU kernel's own functions.

Each thread normalises its cell (:func:`~hpcclose.closures.newton.normalise.normalise_row`), runs one
attempt — the fast path (:func:`~hpcclose.closures.newton.lanes.lanes_solve` with one lane) and the
robust path with the change of basis (:func:`~hpcclose.closures.newton.cell.newton_cell`), through
:func:`~hpcclose.closures.newton.batch.attempt` — then, if that failed, the isotropic regularisation
r by r with the same separation bound as the CPU driver. Every lane of the CPU fast path computes
independently of the others, so a thread's iterates are the CPU's: same iterations, same α (bitwise
under the simulator; on a GPU up to the rounding of NVVM's FMA contraction and of its log).

The per-thread scratch of those functions comes from ``cuda.local.array`` (interleaved across a warp by
the hardware, so its accesses coalesce), sized when the kernel is built for a basis and quadrature.
"""

from __future__ import annotations

import math

import numpy as np
from numba import cuda, float64, int64, njit

from ..closures.base import ClosureStats
from ..closures.newton import NewtonClosure
from ..closures.newton.batch import attempt, separation_bound
from ..closures.newton.cell import WS_ROWS
from ..closures.newton.constants import CONVERGED
from ..closures.newton.lanes import LANE_ROWS, real_nodes
from ..closures.newton.normalise import normalise_row
from ..kernels.jit import SERIAL
from .base import FAILED, THREADS, UNCLOSABLE, DeviceClosure, DeviceStats, blocks, view


@njit(**SERIAL)
def solve_cell(data, v, a, tol, k0, max_iter, acb_switch, regs, omega_iso, alpha_cold, lane, ws, row, vr, ar,
               it1, st1):
    """One normalised cell as :func:`~hpcclose.closures.newton.batch.newton_batch` solves it: v, a (1, n)
    the moments (v0 = 1) and the normalised start (a non-finite row starts cold), a ← the answer.
    Scratch: lane, ws, row as for ``attempt``, vr, ar (1, n), it1, st1 (1,) int64.
    Returns (iterations of all attempts, regularisation index (−1 none, FAILED), status of the first)."""
    attempt(data, v, a, True, tol, k0, acb_switch, alpha_cold, 0, 1, it1, st1, lane, ws, row)
    iters = it1[0]
    status = st1[0]
    if status == CONVERGED:
        return iters, -1, status
    # isotropic regularisation from the cold start, skipping the r that provably fail (as newton_batch)
    n = v.shape[1]
    mT, w = data[0], data[1]
    r_low = separation_bound(a[0], v[0], omega_iso, mT, w, status)
    for k in range(regs.shape[0]):
        r = regs[k]
        if not (r > r_low):
            continue
        for j in range(n):
            vr[0, j] = (1.0 - r) * v[0, j] + r * omega_iso[j]
        attempt(data, vr, ar, False, tol, max_iter, acb_switch, alpha_cold, 0, 1, it1, st1, lane, ws, row)
        iters += it1[0]
        if st1[0] == CONVERGED:
            for j in range(n):
                a[0, j] = ar[0, j]
            return iters, k, status
        r_low = max(r_low, separation_bound(ar[0], v[0], omega_iso, mT, w, st1[0]))
    for j in range(n):
        a[0, j] = alpha_cold[j]
    return iters, FAILED, status


def _kernel(n: int, nb: int, nq: int, Qp: int):
    """The solve kernel for n moments, nb product functions, nq real and Qp padded nodes (the sizes of
    its local scratch are compile-time constants)."""
    rf, rs, ri = LANE_ROWS
    rz, rv, rm = WS_ROWS

    @cuda.jit
    def solve(u, alpha, mT, w, wbT, C, Cg, phi_floor, mmax, h0, h1, h2, g0, g1, g2, tol, k0, max_iter, acb_switch,
              regs, omega_iso, alpha_cold, iters, reg_index):
        i = cuda.grid(1)
        if i >= u.shape[0]:
            return
        u, alpha, regs, omega_iso, alpha_cold = view(u), view(alpha), view(regs), view(omega_iso), view(alpha_cold)
        # what an exponential closure cannot take: reported by the statistics (the CPU closure raises)
        ok = u[i, 0] > 0.0
        for j in range(n):
            ok = ok and math.isfinite(u[i, j])
        if not ok:
            iters[i] = 0
            reg_index[i] = UNCLOSABLE
            return
        data = (view(mT), view(w), view(wbT), view(C), view(Cg), phi_floor, mmax, view(h0), view(h1), view(h2),
                view(g0), view(g1), view(g2))
        lane = (cuda.local.array((rf, n, 1), float64), cuda.local.array((nb, 1), float64),
                cuda.local.array((n, n, 1), float64), cuda.local.array((2, nq, 1), float64),
                cuda.local.array((rs, 1), float64), cuda.local.array((ri, 1), int64))
        ws = (cuda.local.array((rz, Qp), float64), cuda.local.array((n, Qp), float64),
              cuda.local.array((rv, n), float64), cuda.local.array(nb, float64),
              cuda.local.array((rm, n, n), float64))
        v = cuda.local.array((1, n), float64)
        a = cuda.local.array((1, n), float64)
        vr = cuda.local.array((1, n), float64)
        ar = cuda.local.array((1, n), float64)
        row = cuda.local.array(n, float64)
        it1 = cuda.local.array(1, int64)
        st1 = cuda.local.array(1, int64)
        logu0 = math.log(u[i, 0])
        normalise_row(u[i], logu0, alpha[i], True, v[0], a[0])
        it, k, _ = solve_cell(data, v, a, tol, k0, max_iter, acb_switch, regs, omega_iso, alpha_cold, lane,
                              ws, row, vr, ar, it1, st1)
        for j in range(n):
            alpha[i, j] = a[0, j]
        alpha[i, 0] += logu0
        iters[i] = it
        reg_index[i] = k

    return solve


class DeviceNewton(DeviceClosure):
    """The "newton" closure on the device, built from a :class:`NewtonClosure` (its basis, quadrature and
    options). Moments are not checked for realizability (as with ``check = false``: non-realizable cells
    are regularised and reported); non-finite moments or u0 ≤ 0 raise :class:`RealizabilityError`."""

    def __init__(self, closure: NewtonClosure):
        self.n = closure.n
        data = closure.data
        self.data = tuple(cuda.to_device(x) if isinstance(x, np.ndarray) else x for x in data)
        self.params = (float(closure.tol), int(closure.k0), int(closure.max_iter), float(closure.acb_switch))
        self.regs = cuda.to_device(closure.regularisation)
        self.omega_iso = cuda.to_device(closure.omega_iso)
        self.alpha_cold = cuda.to_device(closure.alpha_cold)
        self.kernel = _kernel(self.n, data[2].shape[0], real_nodes(data[1]), data[0].shape[1])
        self.stats = DeviceStats(closure.regularisation, "newton closure")

    def launch(self, u, alpha, iters, reg_index) -> None:
        """Solve every cell of u into alpha (warm start on entry), per-cell iterations and regularisation
        index into the device arrays ``iters``, ``reg_index`` (no statistics)."""
        if u.shape[0]:
            self.kernel[blocks(u.shape[0]), THREADS](u, alpha, *self.data, *self.params, self.regs, self.omega_iso,
                                                self.alpha_cold, iters, reg_index)

    def multipliers(self, u, alpha) -> ClosureStats:
        """α (in place, warm start on entry; rows that are not finite start cold) with ⟨m e^{α·m}⟩ = u to
        ``tol``·u0, or of the regularised moments (see the statistics)."""
        ncells = u.shape[0]
        iters, reg_index = self.stats.buffers(ncells)
        self.launch(u, alpha, iters, reg_index)
        return self.stats.reduce(u, ncells)
