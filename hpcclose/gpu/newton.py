"""The Newton closure on the device: one CUDA thread per cell, running the CPU kernel's own functions.

Each thread normalises its cell (:func:`~hpcclose.closures.newton.normalise.normalise_cell`), runs one
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
from ..closures.newton.normalise import normalise_cell
from ..kernels.jit import SERIAL
from .base import FAILED, THREADS, UNCLOSABLE, DeviceClosure, DeviceStats, blocks, closable, view


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


def thread_solver(n: int, nb: int, nq: int, Qp: int):
    """A device function solving one cell for n moments, nb product functions, nq real and Qp padded nodes
    (the sizes of its local scratch are compile-time constants), shared by the Newton and hybrid kernels:

    ``solve(data, params, u, i, start, alpha, retry_cold) -> (iterations, max iterations of one solve,
    regularisation index)`` solves cell i of u from row i of ``start`` (not finite: cold) into row i of
    ``alpha``; with ``retry_cold``, a cell that needed regularisation is solved again from the cold start
    and that answer kept where it needs none (the hybrid closure's re-solve). ``params`` = (tol, k0,
    max_iter, acb_switch, regs, omega_iso, alpha_cold); arrays as the kernel's views.
    """
    rf, rs, ri = LANE_ROWS
    rz, rv, rm = WS_ROWS

    @cuda.jit(device=True)
    def solve(data, params, u, i, start, alpha, retry_cold):
        tol, k0, max_iter, acb_switch, regs, omega_iso, alpha_cold = params
        # the lanes' scratch for one lane: rows of three blocks (the CPU allocates each on its own)
        fb = cuda.local.array((rf, n, 1), float64)
        sb = cuda.local.array((rs, 1), float64)
        ib = cuda.local.array((ri, 1), int64)
        lane = ((fb[0], fb[1], fb[2], fb[3], fb[4], fb[5], fb[6], fb[7]), cuda.local.array((nb, 1), float64),
                cuda.local.array((n, n, 1), float64), cuda.local.array((nq, 1), float64),
                cuda.local.array((nq, 1), float64),
                (sb[0], sb[1], sb[2], sb[3], sb[4], sb[5], sb[6], sb[7], sb[8], sb[9], sb[10], sb[11], sb[12],
                 sb[13]),
                (ib[0], ib[1], ib[2], ib[3], ib[4], ib[5], ib[6], ib[7], ib[8]))
        ws = (cuda.local.array((rz, Qp), float64), cuda.local.array((n, Qp), float64),
              cuda.local.array((rv, n), float64), cuda.local.array(nb, float64),
              cuda.local.array((rm, n, n), float64))
        v = cuda.local.array((1, n), float64)
        a = cuda.local.array((1, n), float64)
        c = cuda.local.array((1, n), float64)
        vr = cuda.local.array((1, n), float64)
        ar = cuda.local.array((1, n), float64)
        row = cuda.local.array(n, float64)
        it1 = cuda.local.array(1, int64)
        st1 = cuda.local.array(1, int64)
        logu0 = math.log(u[i, 0])
        normalise_cell(u, i, logu0, start, True, v, a, 0)
        it, k, _ = solve_cell(data, v, a, tol, k0, max_iter, acb_switch, regs, omega_iso, alpha_cold, lane, ws,
                              row, vr, ar, it1, st1)
        itmax = it
        if retry_cold and k != -1:
            for j in range(n):
                c[0, j] = math.nan
            it2, k2, _ = solve_cell(data, v, c, tol, k0, max_iter, acb_switch, regs, omega_iso, alpha_cold,
                                    lane, ws, row, vr, ar, it1, st1)
            it += it2
            itmax = max(itmax, it2)
            if k2 == -1:
                k = -1
                for j in range(n):
                    a[0, j] = c[0, j]
        for j in range(n):
            alpha[i, j] = a[0, j]
        alpha[i, 0] += logu0
        return it, itmax, k

    return solve


def _kernel(n: int, nb: int, nq: int, Qp: int):
    """The Newton closure's kernel (sizes as for :func:`thread_solver`)."""
    solve = thread_solver(n, nb, nq, Qp)

    @cuda.jit
    def newton(u, alpha, mT, w, wbT, C, Cg, phi_floor, mmax, h0, h1, h2, g0, g1, g2, tol, k0, max_iter,
               acb_switch, regs, omega_iso, alpha_cold, iters, reg_index):
        i = cuda.grid(1)
        if i >= u.shape[0]:
            return
        u, alpha = view(u), view(alpha)
        # what an exponential closure cannot take: reported by the statistics (the CPU closure raises)
        if not closable(u[i]):
            iters[i] = 0
            reg_index[i] = UNCLOSABLE
            return
        data = (view(mT), view(w), view(wbT), view(C), view(Cg), phi_floor, mmax, view(h0), view(h1), view(h2),
                view(g0), view(g1), view(g2))
        params = (tol, k0, max_iter, acb_switch, view(regs), view(omega_iso), view(alpha_cold))
        it, _, k = solve(data, params, u, i, alpha, alpha, False)
        iters[i] = it
        reg_index[i] = k

    return newton


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
        self.sizes = (self.n, data[2].shape[0], real_nodes(data[1]), data[0].shape[1])  # n, nb, nq, Qp
        self.kernel = _kernel(*self.sizes)
        self.stats = DeviceStats(closure.regularisation, "newton closure")

    def launch(self, u, alpha, iters, reg_index) -> None:
        """Solve every cell of u into alpha (warm start on entry), per-cell iterations and regularisation
        index into the device arrays ``iters``, ``reg_index`` (no statistics)."""
        if u.shape[0]:
            self.kernel[blocks(u.shape[0]), THREADS](u, alpha, *self.data, *self.params, self.regs,
                                                     self.omega_iso, self.alpha_cold, iters, reg_index)

    def multipliers(self, u, alpha) -> ClosureStats:
        """α (in place, warm start on entry; rows that are not finite start cold) with ⟨m e^{α·m}⟩ = u to
        ``tol``·u0, or of the regularised moments (see the statistics)."""
        ncells = u.shape[0]
        iters, reg_index = self.stats.buffers(ncells)
        self.launch(u, alpha, iters, reg_index)
        return self.stats.reduce(u, ncells)
