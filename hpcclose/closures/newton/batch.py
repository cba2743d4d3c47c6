"""The batch driver of the Newton closure: one attempt per chunk of cells in parallel, then isotropic
regularisation of the cells that failed.

Attempts
--------
:func:`solve_chunk` runs one attempt for a range of cells: the fast path (:mod:`.lanes`), then the robust
path (:mod:`.cell`) for the cells it hands over. Each attempt runs ``prange`` over chunks of cells, on
``numba.get_num_threads()`` threads. Results do not depend on the thread count or the chunking.

Isotropic regularisation
------------------------
If the first attempt (fast + robust path, at most ``k0`` iterations) fails, the cell is retried from the
cold start with v = (1 − r) ω + r ω_iso for r in ``regularisation`` in order (at most ``max_iter``
iterations each); the unsolved cells of the whole batch go through each r together, so they still fill
the lanes. The returned α then belongs to the regularised moments; the caller records the cells and their
r. If every r fails the cell gets the (finite) isotropic α (``reg_index`` −2).
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import njit, prange, types

from ...kernels.jit import PARALLEL, SERIAL
from .cell import make_workspace, newton_cell
from .constants import CONVERGED, MAX_ITER, NOT_STARTED, UNBOUNDED
from .lanes import lanes_scratch, lanes_solve, real_nodes


@njit(**SERIAL)
def solve_chunk(data, omega, alpha, warm, tol, kmax, acb_switch, alpha_cold, lanes, lo, hi, iters, status):
    """One attempt for the cells lo … hi−1, serially: :func:`attempt` with freshly allocated scratch
    (``lanes`` lanes for the fast path, fewer for a short range). Arguments as in :func:`newton_batch`;
    ``iters``/``status`` are per cell. Unsolved cells keep the last accepted iterate in ``alpha``."""
    n = omega.shape[1]
    nl = min(lanes, (hi - lo + 15) // 16 * 16)
    lane = lanes_scratch(n, data[2].shape[0], real_nodes(data[1]), nl)
    ws = make_workspace(n, data[0].shape[1], data[2].shape[0])
    attempt(data, omega, alpha, warm, tol, kmax, acb_switch, alpha_cold, lo, hi, iters, status, lane, ws,
            np.empty(n))


@njit(**SERIAL)
def attempt(data, omega, alpha, warm, tol, kmax, acb_switch, alpha_cold, lo, hi, iters, status, lane, ws, a):
    """One attempt for the cells lo … hi−1 with caller-provided scratch (nothing allocated, so a CUDA
    thread can call it): the fast path (:func:`lanes_solve`, scratch ``lane``), then the robust path
    (:func:`newton_cell`, scratch ``ws`` and the (n,) row ``a``; change of basis when ill-conditioned) for
    the cells it hands over, within ``kmax`` iterations in all. UNBOUNDED and MAX_ITER cells skip the
    robust path (hopeless without regularisation). Unsolved cells keep the last accepted iterate.
    """
    n = omega.shape[1]
    if acb_switch < np.inf:
        lanes_solve(data, omega, alpha, warm, alpha_cold, tol, kmax, acb_switch, lo, hi, iters, status, lane)
    else:
        for i in range(lo, hi):
            status[i] = NOT_STARTED
            iters[i] = 0
    for i in range(lo, hi):
        st = status[i]
        if st == CONVERGED or st == UNBOUNDED or st == MAX_ITER or iters[i] >= kmax:
            continue
        use = st != NOT_STARTED or warm
        for j in range(n):
            if not math.isfinite(alpha[i, j]):
                use = False
        for j in range(n):
            a[j] = alpha[i, j] if use else alpha_cold[j]
        st, it = newton_cell(data, ws, omega[i], a, tol, kmax - iters[i], acb_switch)
        iters[i] += it
        status[i] = st
        for j in range(n):
            alpha[i, j] = a[j]


def _batch_parallel(solve, data, omega, alpha, warm, tol, kmax, acb_switch, alpha_cold, lanes, chunk, iters,
                    status):
    """The parallel loop over chunks; ``solve`` is :func:`solve_chunk`, passed as a first-class function
    (a function pointer): linking its code into this parallel kernel would make Numba optimise the whole
    solver a second time (≈ 15 s more compile time, measured) for no speed."""
    ncells = omega.shape[0]
    nchunks = (ncells + chunk - 1) // chunk
    for c in prange(nchunks):
        lo = c * chunk
        hi = min(ncells, lo + chunk)
        solve(data, omega, alpha, warm, tol, kmax, acb_switch, alpha_cold, lanes, lo, hi, iters, status)


_PARALLEL = {}
_LAST = [None, None]  # the last data tuple and its kernel: typeof of that tuple of arrays costs ~0.1 ms a call


def _parallel_kernel(data):
    """The parallel kernel for this layout of ``data`` (compiled, or loaded from the cache, once)."""
    if _LAST[0] is data:
        return _LAST[1]
    key = numba.typeof(data)
    if key not in _PARALLEL:
        f2, f1, i1 = types.float64[:, ::1], types.float64[::1], types.int64[::1]
        head = (key, f2, f2, types.boolean, types.float64, types.int64, types.float64, f1, types.int64)
        chunk_sig = types.none(*head, types.int64, types.int64, i1, i1)
        sig = types.none(types.FunctionType(chunk_sig), *head, types.int64, i1, i1)
        jit = njit(sig, **PARALLEL)
        _PARALLEL[key] = jit(_batch_parallel)
    _LAST[:] = data, _PARALLEL[key]
    return _PARALLEL[key]


def newton_batch(data, omega, alpha, warm, tol, k0, max_iter, acb_switch, regs, omega_iso, alpha_cold,
                 lanes, chunk, iters, reg_index, status):
    """Batched normalised solve with isotropic regularisation; each attempt runs in parallel (Numba
    ``prange`` over chunks of cells, :func:`solve_chunk` each).

    Parameters
    ----------
    data : the tuple from :func:`kernel_data`.
    omega : (ncells, n) normalised moments (ω0 = 1), C-contiguous.
    alpha : (ncells, n) in: warm starts (used where ``warm`` and finite), out: normalised multipliers.
    warm : bool; tol : stopping tolerance on ‖∇φ‖₂; k0 : iterations of the unregularised attempt (fast
        and robust path together); max_iter : iterations of each regularised attempt.
    acb_switch : as in :func:`newton_cell`; inf skips the fast path (change of basis from the start).
    regs : (nr,) regularisation parameters r, tried in order; omega_iso : (n,) isotropic moments.
    alpha_cold : (n,) cold start (isotropic multipliers), also the answer for failed cells.
    lanes, chunk : cells solved together by :func:`newton_lanes`, cells per parallel work item.
    iters, reg_index, status : (ncells,) int64 outputs: Newton iterations over all attempts; index into
        ``regs`` of the successful regularisation (−1: none needed, −2: failed); final status of the
        unregularised attempt.

    The unsolved cells of all chunks are regularised together, r by r (so they still fill the lanes):
    their moments (1 − r) ω + r ω_iso are solved from the cold start. Numba code can call
    :func:`solve_chunk` (one attempt for a range of cells) or :func:`newton_cell` (one cell).
    """
    kernel = _parallel_kernel(data)
    kernel(solve_chunk, data, omega, alpha, bool(warm), float(tol), int(k0), float(acb_switch), alpha_cold,
           int(lanes), int(chunk), iters, status)
    reg_index[:] = -1
    pend = np.flatnonzero(status != CONVERGED)
    if pend.size == 0:
        return
    mT, w = data[0], data[1]
    r_low = _separation_bounds(alpha[pend], omega[pend], omega_iso, mT, w, status[pend])
    for k, r in enumerate(regs):
        if pend.size == 0:
            break
        todo = r > r_low  # the others are proven outside the discrete realizable set at this r
        cells = pend[todo]
        if cells.size == 0:
            continue
        vr = np.ascontiguousarray((1.0 - r) * omega[cells] + r * omega_iso)
        ar = np.empty_like(vr)
        itr = np.zeros(cells.size, np.int64)
        sr = np.zeros(cells.size, np.int64)
        kernel(solve_chunk, data, vr, ar, False, float(tol), int(max_iter), float(acb_switch), alpha_cold,
               int(lanes), int(chunk), itr, sr)
        iters[cells] += itr
        ok = sr == CONVERGED
        alpha[cells[ok]] = ar[ok]
        reg_index[cells[ok]] = k
        r_low[todo] = np.maximum(r_low[todo], _separation_bounds(ar, omega[cells], omega_iso, mT, w, sr))
        keep = np.ones(pend.size, bool)
        keep[np.flatnonzero(todo)[ok]] = False
        pend, r_low = pend[keep], r_low[keep]
    alpha[pend] = alpha_cold
    reg_index[pend] = -2


@njit(**SERIAL)
def separation_bound(a, v, omega_iso, mT, w, status):
    """For a cell that failed as UNBOUNDED with the iterate ``a`` (n,) on the moments ``v`` (n,): the r below
    which (1 − r) v + r ω_iso is provably outside the discrete realizable set (0 for other cells; mT, w as
    in :func:`kernel_data`, nodes with zero weight are padding).

    φ(α) < 1 + log min w implies α·v > max_q α·m_q (since ⟨e^{α·m}⟩ ≥ w_q e^{max α·m_q}), so the
    hyperplane {x : α·x = max_q α·m_q} separates the failed moments v from the convex hull of the nodes'
    basis values; every point of the segment towards ω_iso with α·v_r > max_q α·m_q is outside as well,
    i.e. every r < (α·v − max α·m_q) / (α·v − α·ω_iso). Skipping those r cannot change the r that
    succeeds: it only saves the attempts that must fail.
    """
    if status != UNBOUNDED:
        return 0.0
    n, Qp = mT.shape
    h_max = -np.inf
    for q in range(Qp):
        if w[q] > 0.0:
            s = 0.0
            for j in range(n):
                s += a[j] * mT[j, q]
            h_max = max(h_max, s)
    h_w = 0.0
    h_iso = 0.0
    for j in range(n):
        h_w += a[j] * v[j]
        h_iso += a[j] * omega_iso[j]
    r = (h_w - h_max) / (h_w - h_iso)
    if h_w > h_max and h_w > h_iso and math.isfinite(r):
        return r * (1.0 - 1e-9)  # a hair below the bound: rounding must not skip an r that is feasible
    return 0.0


@njit(**SERIAL)
def _separation_bounds(alpha, omega, omega_iso, mT, w, status):
    """:func:`separation_bound` for every row."""
    out = np.empty(alpha.shape[0])
    for i in range(alpha.shape[0]):
        out[i] = separation_bound(alpha[i], omega[i], omega_iso, mT, w, status[i])
    return out
