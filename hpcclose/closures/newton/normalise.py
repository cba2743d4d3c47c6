"""The per-cell passes around the Newton solve, fused: screening the input and normalising it.

numpy would make one pass (and one temporary) per operation, and its reductions along the short moment
axis (``isfinite(u).all(axis=1)``) cost tens of ns a cell: at 1e5 cells this was as much as a
warm-started solve. Every value is computed by the same IEEE operation as the numpy expressions they
replace (one division, one subtraction per entry), so results are bitwise unchanged; log u0 stays numpy's.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from ...kernels.jit import PARALLEL, SERIAL


@njit(**PARALLEL)
def count_unclosable(u):
    """Cells (rows of u) with a non-finite moment or u0 ≤ 0 (what an exponential closure cannot take)."""
    bad = 0
    for i in prange(u.shape[0]):
        ok = u[i, 0] > 0.0
        for j in range(u.shape[1]):
            ok = ok and np.isfinite(u[i, j])
        bad += 0 if ok else 1
    return bad


@njit(**PARALLEL)
def normalise(u, logu0, alpha0, warm, omega, a):
    """omega = u / u0 per cell; if ``warm``: a = alpha0 with a[:, 0] −= log u0 (the normalised warm start)."""
    for i in prange(u.shape[0]):
        normalise_cell(u, i, logu0[i], alpha0, warm, omega, a, i)


@njit(inline="always", **SERIAL)
def normalise_cell(u, i, logu0, alpha0, warm, omega, a, k):
    """Cell i of :func:`normalise` into row k of omega and a (a CUDA thread writes its own row 0). Inlined
    at the Numba level: as a call, even without row slices, the parallel loop took ≈ 10 instead of
    3.7 ns a cell (1D M2, one core)."""
    u0 = u[i, 0]
    for j in range(u.shape[1]):
        omega[k, j] = u[i, j] / u0
    if warm:
        for j in range(u.shape[1]):
            a[k, j] = alpha0[i, j]
        a[k, 0] -= logu0


@njit(**PARALLEL)
def denormalise(alpha, logu0, alpha0, unmoved):
    """α[:, 0] += log u0 per cell — except that a cell ``unmoved`` (its warm start, a row of ``alpha0``,
    was already the answer: converged without an iteration) gets that row back bitwise where it is finite:
    (α0 − log u0) + log u0 can differ from α0 in the last bit, and a cell whose moments did not change must
    keep its α exactly (a run that skips such cells, or restarts, is then bitwise the one that solves them)."""
    for i in prange(alpha.shape[0]):
        same = unmoved[i]
        if same:
            for j in range(alpha.shape[1]):
                same = same and np.isfinite(alpha0[i, j])
        if same:
            for j in range(alpha.shape[1]):
                alpha[i, j] = alpha0[i, j]
        else:
            alpha[i, 0] += logu0[i]
