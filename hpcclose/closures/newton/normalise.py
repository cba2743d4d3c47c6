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
        normalise_row(u[i], logu0[i], alpha0[i], warm, omega[i], a[i])


@njit(**SERIAL)
def normalise_row(u, logu0, alpha0, warm, omega, a):
    """One cell of :func:`normalise` (rows u, alpha0, omega, a; also called by the CUDA kernel)."""
    u0 = u[0]
    for j in range(u.shape[0]):
        omega[j] = u[j] / u0
    if warm:
        for j in range(u.shape[0]):
            a[j] = alpha0[j]
        a[0] -= logu0
