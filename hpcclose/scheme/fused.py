"""The fused, tiled flux: ansatz at the nodes, boundary data and kinetic upwind flux in one kernel.

Nodal values f_q = exp(α·m_q) exist only for the tile of cells being worked on (plus its stencil), never
for the whole block, so the step holds O(n) numbers per cell instead of O(Q) (512² cells × 400 nodes were
850 MB per rank). A tile is a rectangle of owned cells:

* 1D: a run of cells; its nodal rows live in a buffer of T + 4 rows, and the last 4 rows move to the front
  for the next run, so every nodal row is evaluated once per work unit.
* 2D: a strip of W columns swept row by row; a ring of 4 nodal rows (W + 4 cells wide, x-neighbours
  included) holds cell rows j − 1 … j + 2 while row j's x-faces and its top y-faces are computed, and each
  new row replaces the one two below the current. A tile evaluates its rows once, plus the 4 x-neighbour
  columns per row and the 4 rows that prime the ring: the extra work of tiling.

Tile sizes come from a byte budget (:data:`TILE_BYTES`), not from the grid, so the buffers do not grow with
the number of cells. Nodal values and face fluxes are computed by the same functions (:mod:`.faces`) as
in the stored-array path, each face from the same four nodal rows: the result is bitwise that of
:func:`~.flux.nodal_values` + :func:`~.boundary.apply_boundaries` + :func:`~.flux.flux_divergence_1d`/``2d``,
whatever the tiling or thread count.

Walls (sides without a neighbour) are read from the boundary data directly: a prescribed side's nodal
values come from its ghost slab, a far-field side's ghost α are copies of the nearest owned α (their
nodal values are then exactly the copied cell's). The kernels also write the zeroth-moment flux through
every wall face (``wall_faces``), summed afterwards by :class:`FusedFlux`.
"""

from __future__ import annotations

from numba import get_thread_id, njit, prange

from ..grid import NG
from .faces import FM, ansatz_run, face_flux

# Side kinds: neighbour or periodic (ghost α from the halo), wall with ghost α (far field: copies of the
# nearest owned α), wall with prescribed nodal values (its ghost slab).
OPEN, WALL, PRESCRIBED = 0, 1, 2


# --- nodal values of a run of extended cells (owned, halo ghosts, or wall data) ------------------------
@njit(inline="always", fastmath=FM, cache=True)
def _slab_row(slab, layer, along, dst):
    """dst = the prescribed nodal values of ghost layer ``layer`` at position ``along`` of a (layers,
    positions, Q) slab (size-1 axes broadcast)."""
    src = slab[min(layer, slab.shape[0] - 1), min(along, slab.shape[1] - 1)]
    for q in range(dst.shape[0]):
        dst[q] = src[q]


@njit(fastmath=FM, cache=True)
def _nodal_run(alpha, mT, linear, kind_lo, kind_hi, slab_lo, slab_hi, along, out, e0, e1, scratch):
    """out[e − e0] = nodal values of extended cells e0 ≤ e < e1 of the line ``alpha`` (ext, n): ghosts of
    a prescribed side from its slab (at position ``along`` of the wall), the rest from α."""
    ne = alpha.shape[0]
    lo = e0
    hi = e1
    if kind_lo == PRESCRIBED:
        while lo < min(hi, NG):
            _slab_row(slab_lo, lo, along, out[lo - e0])
            lo += 1
    if kind_hi == PRESCRIBED:
        while hi > max(lo, ne - NG):
            hi -= 1
            _slab_row(slab_hi, hi - (ne - NG), along, out[hi - e0])
    if hi > lo:
        ansatz_run(alpha[lo:hi], mT, linear, out[lo - e0:hi - e0], 0, hi - lo, scratch)


# --- 1D ----------------------------------------------------------------------------------------------
@njit(fastmath=FM, cache=True)
def _unit_1d(alpha_ext, mT, linear, kinds, slabs, wvm, pos, inv, order, theta, lo, hi, out, wall, buf, scratch,
             fq, F):
    """du of owned cells lo ≤ i < hi in runs of ≤ len(buf) − 4 cells; wall[0 | 1]: F0 through the first |
    last face of the block when the unit holds it. buf (T + 4, Q), scratch, fq (Q,), F (2, n): work rows."""
    n, Q = mT.shape
    nx = out.shape[0]
    T = buf.shape[0] - 4  # buf[b] holds extended row c + b of the current run c …
    Fl = F[0]
    Fr = F[1]
    k0, k1, s0, s1 = kinds[0, 0], kinds[0, 1], slabs[0], slabs[1]
    # owned cell i is extended row i + 2; its left face lies between rows i + 1 and i + 2
    _nodal_run(alpha_ext, mT, linear, k0, k1, s0, s1, 0, buf, lo, lo + 4, scratch)
    face_flux(buf[0], buf[1], buf[2], buf[3], pos, wvm, order, theta, fq, Fl)
    if lo == 0:
        wall[0] = Fl[0]
    c = lo
    while c < hi:
        c1 = min(c + T, hi)
        m = c1 - c
        _nodal_run(alpha_ext, mT, linear, k0, k1, s0, s1, 0, buf[4:], c + 4, c1 + 4, scratch)
        for i in range(c, c1):
            r = i - c
            face_flux(buf[r + 1], buf[r + 2], buf[r + 3], buf[r + 4], pos, wvm, order, theta, fq, Fr)
            for k in range(n):
                out[i, k] = (Fl[k] - Fr[k]) * inv
            Fl, Fr = Fr, Fl
        for b in range(4):  # the next run's first four rows (forward copy: the rows may overlap)
            for q in range(Q):
                buf[b, q] = buf[m + b, q]
        c = c1
    if hi == nx:
        wall[1] = Fl[0]


@njit(parallel=True, fastmath=FM, cache=True)
def _fused_1d(alpha_ext, mT, linear, kinds, slabs, wvm, pos, inv, order, theta, units, out, wall, ws):
    """The units (k, 2) in parallel; ws: per-thread work rows (buffers, scratch, fq, F), ws[i][thread]."""
    for u in prange(units.shape[0]):
        t = get_thread_id()
        _unit_1d(alpha_ext, mT, linear, kinds, slabs, wvm, pos, inv, order, theta, units[u, 0], units[u, 1], out,
                 wall, ws[0][t], ws[1][t], ws[2][t], ws[3][t])
    return out


# --- 2D ----------------------------------------------------------------------------------------------
@njit(inline="always", fastmath=FM, cache=True)
def _ring_row(alpha_ext, mT, linear, kinds, slabs, r, ylo, yhi, xlo, xhi, dst, scratch):
    """Nodal values of extended row r into a ring row ``dst`` (ring column c = extended column xlo + c):
    with the x-neighbours (xhi − xlo + 4 cells) if r is an output row of the tile, else its owned
    columns only (corner ghosts are never needed)."""
    nyx = alpha_ext.shape[0]
    if r < NG and kinds[0, 0] == PRESCRIBED:  # a ghost row of a prescribed y-wall
        for c in range(NG, xhi - xlo + NG):
            _slab_row(slabs[0], r, xlo + c - NG, dst[c])
    elif r >= nyx - NG and kinds[0, 1] == PRESCRIBED:
        for c in range(NG, xhi - xlo + NG):
            _slab_row(slabs[1], r - (nyx - NG), xlo + c - NG, dst[c])
    elif ylo + NG <= r < yhi + NG:
        _nodal_run(alpha_ext[r], mT, linear, kinds[1, 0], kinds[1, 1], slabs[2], slabs[3], r - NG, dst, xlo,
                   xhi + 2 * NG, scratch)
    else:
        _nodal_run(alpha_ext[r], mT, linear, OPEN, OPEN, slabs[2], slabs[3], 0, dst[NG:], xlo + NG, xhi + NG,
                   scratch)


@njit(fastmath=FM, cache=True)
def _unit_2d(alpha_ext, mT, linear, kinds, slabs, wx, px, wy, py, idx, idy, order, theta, ylo, yhi, xlo, xhi,
             out, wall_x, wall_y, ring, scratch, fq, F, Fy):
    """du of owned cells [ylo, yhi) × [xlo, xhi), swept row by row through a ring of 4 nodal rows
    (extended row r in ring[r % 4], ≥ xhi − xlo + 4 cells each); F0 through the tile's wall faces into
    wall_x (2, ny) / wall_y (2, nx). scratch, fq (Q,), F (2, n), Fy (2, ≥ xhi − xlo, n): work rows."""
    ny, nx, n = out.shape
    W = xhi - xlo
    Fl = F[0]
    Fr = F[1]
    Fyb = Fy[0]  # y-fluxes through the bottom faces of the current row
    Fyt = Fy[1]  # ... and through its top faces
    for r in range(ylo, ylo + 4):  # cell rows ylo − 2 … ylo + 1
        _ring_row(alpha_ext, mT, linear, kinds, slabs, r, ylo, yhi, xlo, xhi, ring[r % 4], scratch)
    for i in range(W):
        c = i + NG
        face_flux(ring[ylo % 4, c], ring[(ylo + 1) % 4, c], ring[(ylo + 2) % 4, c], ring[(ylo + 3) % 4, c],
                  py, wy, order, theta, fq, Fyb[i])
        if ylo == 0:
            wall_y[0, xlo + i] = Fyb[i, 0]
    for j in range(ylo, yhi):
        r = j + NG
        # cell row j + 2 replaces row j − 2: the ring holds rows j − 1 … j + 2
        _ring_row(alpha_ext, mT, linear, kinds, slabs, r + 2, ylo, yhi, xlo, xhi, ring[(r + 2) % 4], scratch)
        row = ring[r % 4]
        # x-sweep along the row, carrying the left face's flux
        face_flux(row[0], row[1], row[2], row[3], px, wx, order, theta, fq, Fl)
        if xlo == 0:
            wall_x[0, j] = Fl[0]
        for i in range(W):
            face_flux(row[i + 1], row[i + 2], row[i + 3], row[i + 4], px, wx, order, theta, fq, Fr)
            for k in range(n):
                out[j, xlo + i, k] = (Fl[k] - Fr[k]) * idx
            Fl, Fr = Fr, Fl
        if xhi == nx:
            wall_x[1, j] = Fl[0]
        # y-direction: top faces of row j (bottom faces of row j + 1)
        for i in range(W):
            c = i + NG
            face_flux(ring[(r - 1) % 4, c], ring[r % 4, c], ring[(r + 1) % 4, c], ring[(r + 2) % 4, c],
                      py, wy, order, theta, fq, Fyt[i])
            for k in range(n):
                out[j, xlo + i, k] += (Fyb[i, k] - Fyt[i, k]) * idy
            if j == ny - 1:
                wall_y[1, xlo + i] = Fyt[i, 0]
        Fyb, Fyt = Fyt, Fyb


@njit(parallel=True, fastmath=FM, cache=True)
def _fused_2d(alpha_ext, mT, linear, kinds, slabs, wx, px, wy, py, idx, idy, order, theta, units, out, wall_x,
              wall_y, ws):
    """The units (k, 4) in parallel; ws: per-thread work rows (ring, scratch, fq, F, Fy), ws[i][thread]."""
    for u in prange(units.shape[0]):
        t = get_thread_id()
        ylo, yhi, xlo, xhi = units[u, 0], units[u, 1], units[u, 2], units[u, 3]
        _unit_2d(alpha_ext, mT, linear, kinds, slabs, wx, px, wy, py, idx, idy, order, theta, ylo, yhi, xlo, xhi,
                 out, wall_x, wall_y, ws[0][t], ws[1][t], ws[2][t], ws[3][t], ws[4][t])
    return out
