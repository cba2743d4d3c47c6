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
from numba import njit

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


#: when only the cells near changed α are computed, a unit is cut into tiles of at most REACH_ROWS ×
#: REACH_COLS cells and each tile's box is computed on its own (a tight cover of round or scattered
#: regions, at 4 primed ring rows and 4 x-neighbour columns per tile); if the boxes hold more than
#: REACH_FULL of the units' cells, the units are computed whole (the tiles' extra work would not pay)
REACH_ROWS, REACH_COLS, REACH_FULL = 32, 64, 0.75


@njit(cache=True)
def _reach_2d(units, changed, offy, offx, rows, cols, out):
    """For every unit (rows of ``units``, owned cells), cut into tiles of ``rows`` × ``cols`` cells: the
    smallest rectangle of the tile holding every cell whose stencil (NG cells along each axis) meets a
    ``changed`` cell (owned cell (j, i) is ``changed[j + offy, i + offx]``: an extended mask also flags
    ghosts); written into ``out`` (rows ylo, yhi, xlo, xhi), returns their number."""
    my, mx = changed.shape
    k = 0
    for u in range(units.shape[0]):
        for b0 in range(units[u, 0], units[u, 1], rows):
            b1 = min(b0 + rows, units[u, 1])
            for c0 in range(units[u, 2], units[u, 3], cols):
                c1 = min(c0 + cols, units[u, 3])
                y0, y1, x0, x1 = my, -my, mx, -mx
                for jm in range(max(0, b0 - NG + offy), min(my, b1 + NG + offy)):
                    for im in range(max(0, c0 - NG + offx), min(mx, c1 + NG + offx)):
                        if changed[jm, im]:
                            j, i = jm - offy, im - offx
                            y0, y1, x0, x1 = min(y0, j), max(y1, j), min(x0, i), max(x1, i)
                if y1 >= y0:
                    out[k, 0], out[k, 1] = max(b0, y0 - NG), min(b1, y1 + NG + 1)
                    out[k, 2], out[k, 3] = max(c0, x0 - NG), min(c1, x1 + NG + 1)
                    if out[k, 0] < out[k, 1] and out[k, 2] < out[k, 3]:
                        k += 1
    return k


def cells(units: np.ndarray) -> int:
    """The number of cells of the work units (2D or 1D rows)."""
    return int(np.prod(units[:, 1::2] - units[:, ::2], axis=1).sum())


def within_reach(units: np.ndarray, changed: np.ndarray, offset: int = 0) -> np.ndarray:
    """The parts of ``units`` (2D rows ylo, yhi, xlo, xhi; 1D rows lo, hi) whose cells have a cell of
    ``changed`` (bool: the owned block, or with ``offset`` = NG the extended one, ghosts included) in their
    stencil: the cells whose flux divergence can differ from the last pass's. A cover, not the exact set
    (boxes of tiles; the units themselves when the boxes would hold most of their cells)."""
    if units.shape[1] == 2:  # 1D: a run is a 2D unit one column wide (tiled like rows)
        units2 = np.column_stack([units, np.zeros(len(units), np.int64), np.ones(len(units), np.int64)])
        out = np.empty((len(units) * (-(-int(changed.size) // REACH_ROWS) + 1), 4), np.int64)
        out = out[:_reach_2d(units2, changed.reshape(-1, 1), offset, 0, REACH_ROWS, 1, out)]
        return units if cells(out) > REACH_FULL * cells(units2) else np.ascontiguousarray(out[:, :2])
    tiles = sum(-(-(y1 - y0) // REACH_ROWS) * -(-(x1 - x0) // REACH_COLS) for y0, y1, x0, x1 in units)
    out = np.empty((tiles, 4), np.int64)
    out = out[:_reach_2d(units, changed, offset, offset, REACH_ROWS, REACH_COLS, out)]
    return units if cells(out) > REACH_FULL * cells(units) else out
