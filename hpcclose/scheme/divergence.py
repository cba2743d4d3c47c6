"""The flux divergence of a stage from the multipliers α: the fused kernels of :mod:`.fused` on the work
units of :mod:`.tiling`, set up once per run.

    div = FluxDivergence(m, w, velocity, spacing, order, theta, linear, conditions, walls, shape)
    div.interior(alpha_ext, du)   # cells ≥ 2 from every side: while the ghost α are in flight
    div.frame(alpha_ext, du)      # the rest, once the halo exchange has finished
    div.interior(alpha_ext, du, changed), div.frame(alpha_ext, du, changed)
                                  # … only the cells within reach of α that changed since the last passes
    div.wall_flux()               # zeroth-moment flux out through each wall of the block, this stage

``du`` gets −∂x F (−∂x F^x − ∂y F^y in 2D), bitwise as the stored-array path (:func:`~.flux.nodal_values`,
:func:`~.boundary.apply_boundaries`, :func:`~.flux.flux_divergence_1d` / ``_2d``) computes it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numba
import numpy as np

from ..grid import NG
from ..kernels.compare import store_changed
from . import tiling
from .boundary import copy_nearest, ghost_slab, ghost_slab_shape, per_axis
from .faces import flux_weights
from .fused import OPEN, PRESCRIBED, WALL, _fused_1d, _fused_2d


def _kinds_and_slabs(conditions, walls, shape: tuple[int, ...], Q: int) -> tuple[np.ndarray, tuple]:
    """Per (axis, side): OPEN / WALL (far field) / PRESCRIBED, and the prescribed nodal values as a
    (layers, positions along the wall, Q) slab whose size-1 axes broadcast ((1, 1, Q) for one value per
    node, the usual case)."""
    dim = len(shape)
    conds, wall = per_axis(conditions, dim, "boundary conditions"), per_axis(walls, dim, "walls")
    kinds = np.zeros((dim, 2), np.int64)
    slabs = []
    for axis in range(dim):
        for side in (0, 1):
            bc = conds[axis][side]
            slab = np.zeros((1, 1, Q))
            if wall[axis][side] and bc.kind == "farfield":
                kinds[axis, side] = WALL
            elif wall[axis][side] and bc.kind == "prescribed":
                kinds[axis, side] = PRESCRIBED
                slab = _slab(bc.values, shape, axis, Q, side)
            slabs.append(slab)
    return kinds, tuple(slabs)


def _slab(values: np.ndarray, shape: tuple[int, ...], axis: int, Q: int, side: int) -> np.ndarray:
    natural = (*ghost_slab_shape(shape, axis), Q)
    try:
        full = np.broadcast_to(values, natural)
    except ValueError:
        raise ValueError(f"prescribed boundary values of shape {values.shape} do not fit the ghost slab "
                         f"{natural} (axis {axis}, side {side})") from None
    if values.ndim <= 1:  # the same values along the whole wall
        return np.array(full[(0,) * len(shape)].reshape(1, 1, Q))  # a writeable copy: one kernel type
    layers_first = np.moveaxis(full, axis, 0)  # (NG, positions along the wall, Q)
    return np.array(layers_first.reshape(NG, -1, Q))


class FluxDivergence:
    """−∇·F of a rank's owned cells from its extended α, fused and tiled; see the module docstring.

    Parameters
    ----------
    m, w, velocity : (Q, n) basis at the nodes, (Q,) weights, (Q, dim) velocities (vx, vy).
    spacing : cell widths per array axis ((dx,) or (dy, dx)).  order, theta : 1 or 2, minmod θ ∈ [1, 2].
    linear : nodal values α·m (P_N) instead of exp(α·m).
    conditions, walls : per array axis (low, high) boundary conditions and "is a wall of this rank"
        flags, as :func:`~.boundary.apply_boundaries` takes them.
    shape : the owned block ((nx,) or (ny, nx)).  threads : work units are planned for this many threads
        (default: Numba's current number).
    """

    def __init__(self, m, w, velocity, spacing: Sequence[float], order: int, theta: float, linear: bool, conditions,
                 walls, shape: Sequence[int], threads: int | None = None):
        if order not in (1, 2):
            raise ValueError(f"spatial order must be 1 or 2, got {order}")
        if order == 2 and not 1.0 <= theta <= 2.0:
            raise ValueError(f"minmod theta must lie in [1, 2], got {theta}")
        m = np.ascontiguousarray(m, dtype=np.float64)
        w = np.ascontiguousarray(w, dtype=np.float64)
        Q, self.n = m.shape
        self.shape, self.dim = tuple(int(s) for s in shape), len(shape)
        self.order, self.theta, self.linear = int(order), float(theta), bool(linear)
        self.mT = np.ascontiguousarray(m.T)
        vel = np.asarray(velocity, dtype=np.float64).reshape(Q, -1)
        # per array axis: (y, x) in 2D, and velocity columns are (vx, vy)
        self.weights = [flux_weights(np.ascontiguousarray(vel[:, self.dim - 1 - a]), w, m) for a in range(self.dim)]
        self.inv = [1.0 / float(h) for h in spacing]
        self.face_area = [1.0] if self.dim == 1 else [float(spacing[1]), float(spacing[0])]
        self.kinds, self.slabs = _kinds_and_slabs(conditions, walls, self.shape, Q)
        threads = numba.get_num_threads() if threads is None else threads
        if self.dim == 1:
            self.units = tiling.plan_1d(self.shape[0], threads)
            self.wall_faces = (np.zeros(2),)
        else:
            self.units = tiling.plan_2d(*self.shape, Q, threads)
            self.wall_faces = (np.zeros((2, self.shape[1])), np.zeros((2, self.shape[0])))  # y-walls, x-walls
        # work rows per thread, made here (Numba's own allocations inside the kernels measured 2.3× slower
        # face loops); a thread works on one unit at a time, so one set per thread of the pool
        pool = numba.config.NUMBA_NUM_THREADS
        self.workspace = tuple(np.empty((pool, *s)) for s in tiling.workspace_shapes(self.shape, Q, self.n))
        #: bytes of the work rows of one thread (the nodal tile is most of it)
        self.tile_bytes = sum(a[0].nbytes for a in self.workspace)
        #: cells the interior (row 0) and frame (row 1) passes computed, and of how many (the rest kept their
        #: values: skipping unchanged cells)
        self.computed = np.zeros((2, 2), np.int64)
        self._totals = [tiling.cells(u) for u in self.units]
        self._ghosts: list[np.ndarray] | None = None  # skipping: the ghost α of the last frame pass

    # --- the two passes -----------------------------------------------------------------------------
    def interior(self, alpha_ext: np.ndarray, out: np.ndarray, changed: np.ndarray | None = None) -> np.ndarray:
        """out of the cells whose stencils hold only owned cells (the ghost α are not read). ``changed``:
        (extended block shape) bool, whose owned part flags the cells whose α differ from those the last
        passes into ``out`` used; then only the cells within their reach are computed, the others keep their
        values."""
        units = self.units[0] if changed is None else tiling.within_reach(self.units[0], changed, NG)
        self.computed[0] += (tiling.cells(units), self._totals[0])
        return self._pass(alpha_ext, out, units)

    def frame(self, alpha_ext: np.ndarray, out: np.ndarray, changed: np.ndarray | None = None) -> np.ndarray:
        """out of the other cells (ghost α complete); the far-field walls' ghost α are set here. ``changed``
        as for :meth:`interior`: its ghost part is set here, against the ghost α of the last such call."""
        for axis in range(self.dim):
            for side in (0, 1):
                if self.kinds[axis, side] == WALL:
                    copy_nearest(alpha_ext, axis, side)
        units = self.units[1]
        if changed is not None:
            self._ghosts_changed(alpha_ext, changed)
            units = tiling.within_reach(units, changed, NG)
        self.computed[1] += (tiling.cells(units), self._totals[1])
        return self._pass(alpha_ext, out, units)

    def _ghosts_changed(self, alpha_ext: np.ndarray, changed: np.ndarray) -> None:
        """Flag the ghost cells (those the flux reads: no corners) whose α differ from the last call's, and
        keep a copy of them; without a copy yet, every ghost counts as changed."""
        slabs = [(ghost_slab(alpha_ext, axis, side), ghost_slab(changed[..., None], axis, side)[..., 0])
                 for axis in range(self.dim) for side in (0, 1)]
        if self._ghosts is None:
            self._ghosts = [np.array(a) for a, _ in slabs]
            for _, flags in slabs:
                flags[...] = True
            return
        for kept, (a, flags) in zip(self._ghosts, slabs, strict=True):
            store_changed(kept, a, flags)

    def __call__(self, alpha_ext: np.ndarray, out: np.ndarray) -> np.ndarray:
        """Both passes (ghost α already complete); returns out."""
        self.interior(alpha_ext, out)
        return self.frame(alpha_ext, out)

    def _pass(self, alpha_ext, out, units):
        if units.shape[0] == 0:
            return out
        shape_ext = tuple(s + 2 * NG for s in self.shape) + (self.n,)
        if alpha_ext.shape != shape_ext or out.shape != self.shape + (self.n,):
            raise ValueError(f"flux divergence: alpha_ext {alpha_ext.shape} / out {out.shape} do not match the "
                             f"block {self.shape} with n = {self.n}")
        if self.dim == 1:
            wvm, pos = self.weights[0]
            return _fused_1d(alpha_ext, self.mT, self.linear, self.kinds, self.slabs, wvm, pos, self.inv[0], self.order,
                             self.theta, units, out, self.wall_faces[0], self.workspace)
        (wy, py), (wx, px) = self.weights
        return _fused_2d(alpha_ext, self.mT, self.linear, self.kinds, self.slabs, wx, px, wy, py, self.inv[1],
                         self.inv[0], self.order, self.theta, units, out, self.wall_faces[1], self.wall_faces[0],
                         self.workspace)

    # --- what leaves through the walls ------------------------------------------------------------------
    def wall_flux(self) -> np.ndarray:
        """(dim, 2) per array axis and side (low, high): the rate at which the zeroth moment leaves the
        block through that wall in the last frame pass (Σ over its faces of the outward F0 × face area;
        0 where the side has a neighbour). The block's u0-mass changes by −Σ wall_flux from the flux."""
        out = np.zeros((self.dim, 2))
        for axis in range(self.dim):
            faces = self.wall_faces[axis]
            for side, sign in ((0, -1.0), (1, 1.0)):
                if self.kinds[axis, side] != OPEN:
                    out[axis, side] = sign * self.face_area[axis] * float(np.sum(faces[side]))
        return out
