"""Dot products over the nodes with four FMA chains, for the per-cell Newton sums.

Four partial sums (combined as (s0 + s1) + (s2 + s3)) let the loop use the vector units without
``fastmath``: the order of the operations is fixed in the code, so results do not depend on the vector
width or the compiler. Lengths ``Qp`` are multiples of 4 (node arrays are zero-padded); the arguments
are contiguous rows (``B[j]`` of a C-contiguous array is one).
"""

from __future__ import annotations

from numba import njit

from .fastmath import fma
from .jit import SERIAL


@njit(**SERIAL)
def dot(a, b, Qp):
    """Σ_q a[q] b[q] with four partial sums."""
    s0 = 0.0
    s1 = 0.0
    s2 = 0.0
    s3 = 0.0
    for i in range(Qp >> 2):
        q = 4 * i
        s0 = fma(a[q], b[q], s0)
        s1 = fma(a[q + 1], b[q + 1], s1)
        s2 = fma(a[q + 2], b[q + 2], s2)
        s3 = fma(a[q + 3], b[q + 3], s3)
    return (s0 + s1) + (s2 + s3)


@njit(**SERIAL)
def dot3(a, b, c, Qp):
    """Σ_q a[q] b[q] c[q] with four partial sums ((a b) rounded, then one FMA with c)."""
    s0 = 0.0
    s1 = 0.0
    s2 = 0.0
    s3 = 0.0
    for i in range(Qp >> 2):
        q = 4 * i
        s0 = fma(a[q] * b[q], c[q], s0)
        s1 = fma(a[q + 1] * b[q + 1], c[q + 1], s1)
        s2 = fma(a[q + 2] * b[q + 2], c[q + 2], s2)
        s3 = fma(a[q + 3] * b[q + 3], c[q + 3], s3)
    return (s0 + s1) + (s2 + s3)
