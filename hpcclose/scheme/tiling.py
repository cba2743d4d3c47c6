"""Work units of the fused flux (:mod:`.fused`): which rectangles of owned cells, in which pass.

A stage computes the flux in two passes around the halo exchange of α: the *interior* (cells whose
4-cell stencils hold only owned cells: ≥ 2 cells from every side of the block) while the ghost α are in
flight, then the *frame* (the rest) once they have arrived. Each pass is a list of units, rectangles
(ylo, yhi, xlo, xhi) in 2D and runs (lo, hi) in 1D, that the kernel spreads over the threads.

Sizes: a 2D unit is at most W columns wide, W from the ring's byte budget :data:`TILE_BYTES` (4 nodal
rows of W + 4 cells × Q nodes), and a pass has about ``UNITS_PER_THREAD`` units per thread. A 1D unit
works in runs of T cells (:data:`TILE_BYTES_1D`). The units change only the amount of repeated work
(ring priming, x-neighbours), never a result.
"""

from __future__ import annotations

import numpy as np

from ..grid import NG
from .faces import EXP_BLOCK

#: bytes of one 2D unit's ring of nodal rows (4 × (W + 4) × Q doubles): fits the L2 cache of current cores
TILE_BYTES = 1 << 20
#: bytes of one 1D unit's buffer of nodal rows ((T + 4) × Q doubles): fits the L1/L2 cache
TILE_BYTES_1D = 1 << 15
MIN_WIDTH = 16  # narrowest 2D strip (x-neighbours cost 4/W extra ansatz evaluations)
MIN_CELLS_1D = 512  # fewest cells of a 1D unit (4 rows primed per unit)
UNITS_PER_THREAD = 2


def _cuts(lo: int, hi: int, parts: int) -> list[tuple[int, int]]:
    """[lo, hi) in ``parts`` near-equal pieces (none if empty)."""
    parts = max(1, min(parts, hi - lo))
    return [(lo + p * (hi - lo) // parts, lo + (p + 1) * (hi - lo) // parts) for p in range(parts)] if hi > lo else []


def width_2d(Q: int) -> int:
    """Widest 2D strip whose ring fits :data:`TILE_BYTES`."""
    return max(MIN_WIDTH, TILE_BYTES // (4 * 8 * Q) - 2 * NG)


def run_1d(Q: int) -> int:
    """Cells per run of a 1D unit, so that its buffer fits :data:`TILE_BYTES_1D`."""
    return max(16, TILE_BYTES_1D // (8 * Q) - 2 * NG)


def _units_2d(rect: tuple[int, int, int, int], Q: int, threads: int) -> list[tuple[int, int, int, int]]:
    ylo, yhi, xlo, xhi = rect
    if yhi <= ylo or xhi <= xlo:
        return []
    strips = _cuts(xlo, xhi, -(-(xhi - xlo) // width_2d(Q)))
    blocks = _cuts(ylo, yhi, -(-UNITS_PER_THREAD * threads // len(strips)))
    return [(a, b, c, d) for a, b in blocks for c, d in strips]


def plan_2d(ny: int, nx: int, Q: int, threads: int) -> tuple[np.ndarray, np.ndarray]:
    """(interior units, frame units), each (k, 4) int64 rows (ylo, yhi, xlo, xhi); together they cover
    every owned cell once."""
    if ny > 2 * NG and nx > 2 * NG:
        inner = [(NG, ny - NG, NG, nx - NG)]
        frame = [(0, NG, 0, nx), (ny - NG, ny, 0, nx), (NG, ny - NG, 0, NG), (NG, ny - NG, nx - NG, nx)]
    else:  # too small for an interior: everything waits for the halo
        inner, frame = [], [(0, ny, 0, nx)]
    first = [u for r in inner for u in _units_2d(r, Q, threads)]
    rest = [u for r in frame for u in _units_2d(r, Q, max(1, threads // 4))]
    return np.array(first, np.int64).reshape(-1, 4), np.array(rest, np.int64).reshape(-1, 4)


def plan_1d(nx: int, threads: int) -> tuple[np.ndarray, np.ndarray]:
    """(interior units, edge units), each (k, 2) int64 rows (lo, hi)."""
    inner = (NG, nx - NG) if nx > 2 * NG else (0, 0)
    parts = max(UNITS_PER_THREAD * threads, (inner[1] - inner[0]) // (64 * MIN_CELLS_1D))
    first = _cuts(inner[0], inner[1], min(parts, max(1, (inner[1] - inner[0]) // MIN_CELLS_1D)))
    rest = [(0, NG), (nx - NG, nx)] if nx > 2 * NG else [(0, nx)]
    return np.array(first, np.int64).reshape(-1, 2), np.array(rest, np.int64).reshape(-1, 2)


def workspace_shapes(shape: tuple[int, ...], Q: int, n: int) -> list[tuple[int, ...]]:
    """Shapes of one thread's work rows for a block of ``shape`` owned cells: the nodal tile (1D: run + 4
    rows; 2D: the ring, 4 rows of the widest strip + 4 cells), exp scratch, a face's nodal row, two face
    fluxes and, in 2D, the y-fluxes of a strip row (bottom and top)."""
    common = [(max(EXP_BLOCK, Q),), (Q,), (2, n)]
    if len(shape) == 1:
        return [(min(run_1d(Q), shape[0]) + 2 * NG, Q), *common]
    width = min(width_2d(Q), shape[1])
    return [(4, width + 2 * NG, Q), *common, (2, width, n)]
