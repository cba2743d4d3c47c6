"""Bitwise comparisons of cells' values: which changed since they were last used (skipping unchanged
cells, :mod:`hpcclose.stepping.unchanged` and the flux's :class:`~hpcclose.scheme.divergence.FluxDivergence`)."""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .jit import SERIAL


@njit(inline="always", **SERIAL)
def same_bits(a, b):
    """a and b are the same double bit for bit (NaN is never the same; −0.0 is not 0.0)."""
    return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)


@njit(**SERIAL)
def changed_rows(u, last, valid, out):
    """Writes the rows of ``u`` (cells, n) that differ from ``last`` in any bit of a value, or whose
    ``valid`` is False, into ``out``; returns their number."""
    k = 0
    for i in range(u.shape[0]):
        same = valid[i]
        j = 0
        while same and j < u.shape[1]:
            same = same_bits(u[i, j], last[i, j])
            j += 1
        if not same:
            out[k] = i
            k += 1
    return k


@njit(**SERIAL)
def _store_changed(dst, src, changed):
    rows, cols, n = src.shape
    for r in range(rows):
        for c in range(cols):
            diff = False
            for k in range(n):
                v = src[r, c, k]
                if not same_bits(dst[r, c, k], v):
                    diff = True
                dst[r, c, k] = v
            changed[r, c] = diff


def store_changed(dst: np.ndarray, src: np.ndarray, changed: np.ndarray) -> None:
    """dst[...] = src for blocks of cells ((cols, n) in 1D, (rows, cols, n) in 2D; views allowed), and
    changed (the blocks' cell shape, a view allowed) = whether any value of that cell differed in a bit from
    what dst held."""
    if src.ndim == 2:  # 1D: one row (indexing with None keeps views views)
        dst, src, changed = dst[None], src[None], changed[None]
    _store_changed(dst, src, changed)
