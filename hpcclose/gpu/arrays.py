"""Device arrays of the GPU step and the elementwise kernels on them: stage combinations, boxes of cells.

Every kernel here is one thread per number, grid-sized (:func:`~.base.blocks`); arrays are float64.
A 1D extended array (nx + 4, n) is handled as (1, nx + 4, n), so the box copies serve 1D and 2D alike.

:class:`DeviceArrays` is what the time integrators (:mod:`hpcclose.scheme.integrators`) need to run their
stages on device arrays: the same Shu–Osher combinations as on the host, written once.
"""

from __future__ import annotations

import numpy as np
from numba import cuda

from .base import THREADS, blocks


@cuda.jit
def _combine(dst, a, x, b, y, c, z):
    """dst = a·x + b·y + c·z elementwise (flat arrays; dst may alias x or y), as the host's ``_combine``."""
    i = cuda.grid(1)
    if i < dst.shape[0]:
        dst[i] = a * x[i] + b * y[i] + c * z[i]


class DeviceArrays:
    """The integrators' arrays on the device (see :class:`hpcclose.scheme.integrators.HostArrays`)."""

    @staticmethod
    def empty_like(like):
        return cuda.device_array(like.shape, np.float64)

    @staticmethod
    def flat(a):
        if not a.is_c_contiguous():
            raise ValueError("time integrators need C-contiguous state arrays")
        return a.reshape(a.size)

    @staticmethod
    def combine(dst, a, x, b, y, c, z) -> None:
        _combine[blocks(dst.shape[0]), THREADS](dst, a, x, b, y, c, z)


# --- boxes of cells -------------------------------------------------------------------------------------
@cuda.jit
def _copy_box(src, sr, sc, dst, dr, dc, h, w):
    """dst[dr + i, dc + j, :] = src[sr + i, sc + j, :] for i < h, j < w (3D arrays (rows, columns, n))."""
    t = cuda.grid(1)
    n = src.shape[2]
    if t < h * w * n:
        k = t % n
        j = (t // n) % w
        i = t // (n * w)
        dst[dr + i, dc + j, k] = src[sr + i, sc + j, k]


def as3d(a):
    """A device array (…, n) as (rows, columns, n): 1D arrays and buffers get one row."""
    return a if a.ndim == 3 else a.reshape(1, *a.shape)


def copy_box(src, at_src: tuple[int, int], dst, at_dst: tuple[int, int], size: tuple[int, int]) -> None:
    """Copy ``size`` = (rows, columns) cells from ``src`` at (row, column) ``at_src`` to ``dst`` at ``at_dst``
    (device arrays of any of the shapes :func:`as3d` takes)."""
    h, w = size
    if h * w == 0:
        return
    s, d = as3d(src), as3d(dst)
    _copy_box[blocks(h * w * s.shape[2]), THREADS](s, at_src[0], at_src[1], d, at_dst[0], at_dst[1], h, w)


def box_of(index: tuple, dim: int) -> tuple[tuple[int, int], tuple[int, int]]:
    """((row, column), (rows, columns)) in the :func:`as3d` view of an extended array of the cells that the
    index ``index`` (a slice per spatial axis, as :class:`~hpcclose.parallel.halo.HaloExchange` plans) picks."""
    spans = [(s.start, s.stop - s.start) for s in index[:dim]]
    if dim == 1:
        spans.insert(0, (0, 1))
    (r, h), (c, w) = spans
    return (r, c), (h, w)
