"""Physical boundaries: nodal values written straight into the ghost layers at walls.

Boundary data are kinetic (a density at the velocity nodes), not moments, so they are imposed after
the ansatz has been evaluated: the ghost α are irrelevant at a wall. Only sides without a neighbour
in the decomposition ("walls") are touched; interior and periodic sides are filled by the halo
exchange of α before the ansatz is evaluated.

Kinds
-----
``prescribed``  f = g in both ghost layers; g is (Q,) (or broadcastable to the ghost slab). Used for
                vacuum/floor (g = const) and for inflow such as [B] 5.4: g_q = 0.5 for μ_q > 0 at
                x = 0, the floor value otherwise (only the incoming nodes matter to the upwind flux).
``farfield``    zero gradient: both ghost layers copy the nearest owned cell.
``periodic``    nothing here (the halo exchange wraps around); :func:`fill_periodic` does it serially.

Conventions: ``conditions`` and ``walls`` are given per array axis (1D: (x,), 2D: (y, x), axis 0 = y),
each a (low side, high side) pair; a mapping {"x": pair, "y": pair} is accepted as well.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from .flux import NG

KINDS = ("prescribed", "farfield", "periodic")


@dataclass(frozen=True, eq=False)
class BoundaryCondition:
    """One side's condition: ``kind`` in KINDS, ``values`` the nodal g_q for "prescribed"."""

    kind: str
    values: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown boundary kind {self.kind!r}; choose one of {', '.join(KINDS)}")
        if self.kind == "prescribed":
            if self.values is None:
                raise ValueError("a 'prescribed' boundary needs nodal values")
            vals = np.asarray(self.values, dtype=np.float64)
            if not np.all(np.isfinite(vals)):
                raise ValueError("prescribed boundary values must be finite")
            object.__setattr__(self, "values", vals)
        elif self.values is not None:
            raise ValueError(f"a {self.kind!r} boundary takes no values")

    @classmethod
    def constant(cls, value: float, nq: int) -> BoundaryCondition:
        """Prescribed isotropic density f_q = value (vacuum / floor)."""
        return cls("prescribed", np.full(nq, float(value)))

    def apply(self, f_ext: np.ndarray, axis: int, side: int) -> None:
        """Fill the ghost layers of ``f_ext`` on ``side`` (0 low, 1 high) of spatial ``axis``."""
        if self.kind == "periodic":
            return
        ghost = ghost_slab(f_ext, axis, side)
        if self.kind == "prescribed":
            try:
                ghost[...] = self.values
            except ValueError:
                raise ValueError(f"prescribed boundary values of shape {self.values.shape} do not fit the "
                                 f"ghost slab {ghost.shape} (axis {axis}, side {side})") from None
        else:  # farfield: nearest owned cell, broadcast over both layers
            copy_nearest(f_ext, axis, side)


def _slab(f_ext: np.ndarray, axis: int, sl: slice) -> np.ndarray:
    """Slab ``sl`` along ``axis``, restricted to owned cells along the other spatial axes (no corners)."""
    nsp = f_ext.ndim - 1
    index = [slice(NG, -NG)] * nsp
    index[axis] = sl
    return f_ext[tuple(index)]


def ghost_slab(f_ext: np.ndarray, axis: int, side: int) -> np.ndarray:
    """The ghost layers on ``side`` of spatial ``axis`` of an extended array with a trailing node (or
    moment) axis, without the corners (a view)."""
    return _slab(f_ext, axis, slice(0, NG) if side == 0 else slice(-NG, None))


def copy_nearest(a_ext: np.ndarray, axis: int, side: int) -> None:
    """Both ghost layers on ``side`` of spatial ``axis`` ← the nearest owned cell (the far-field condition;
    of nodal values here, of the ghost α in the fused flux, whose nodal values are then the same)."""
    near = NG if side == 0 else a_ext.shape[axis] - NG - 1
    ghost_slab(a_ext, axis, side)[...] = _slab(a_ext, axis, slice(near, near + 1))


def ghost_slab_shape(shape: tuple[int, ...], axis: int) -> tuple[int, ...]:
    """Shape of one side's ghost slab of an extended array with owned ``shape`` (trailing node axis not
    included): NG along ``axis``, the owned extent along the others."""
    return tuple(NG if a == axis else s for a, s in enumerate(shape))


def per_axis(obj, nsp: int, what: str) -> list:
    """Normalise a per-axis spec (sequence by array axis or {"x", "y"} mapping) to a list by axis."""
    if isinstance(obj, Mapping):
        names = ["x"] if nsp == 1 else ["y", "x"]
        extra = set(obj) - set(names)
        if extra:
            raise ValueError(f"{what}: unknown axes {sorted(extra)} for a {nsp}D array")
        return [obj[a] for a in names]
    seq = list(obj)
    if len(seq) != nsp:
        raise ValueError(f"{what}: need one (low, high) pair per axis ({nsp}), got {len(seq)}")
    return seq


def apply_boundaries(f_ext: np.ndarray, conditions, walls) -> np.ndarray:
    """Set the ghost nodal values at the walls of this rank's subdomain (in place; returns f_ext).

    Parameters
    ----------
    f_ext : (nx + 4, Q) or (ny + 4, nx + 4, Q) nodal values.
    conditions : per array axis a pair (low, high) of :class:`BoundaryCondition` (or a mapping by
        axis name "x"/"y").
    walls : same structure, booleans: True where that side is a physical boundary of this rank.
    """
    nsp = f_ext.ndim - 1
    conds = per_axis(conditions, nsp, "boundary conditions")
    wall = per_axis(walls, nsp, "walls")
    for axis in range(nsp):
        for side in (0, 1):
            if wall[axis][side]:
                conds[axis][side].apply(f_ext, axis, side)
    return f_ext


def fill_periodic(a_ext: np.ndarray, axes: Sequence[int] | None = None) -> np.ndarray:
    """Wrap the ghost layers of an extended array periodically (serial runs and tests), in place.

    Works for any trailing shape: (nx + 4, …) with axes (0,), (ny + 4, nx + 4, …) with axes (0, 1).
    Corner ghosts are left alone.
    """
    if axes is None:  # (nx + 4,) and (nx + 4, n) are 1D; (ny + 4, nx + 4, n) is 2D
        axes = (0,) if a_ext.ndim <= 2 else (0, 1)
    axes = tuple(axes)
    nspatial = max(axes) + 1
    for axis in axes:
        n = a_ext.shape[axis] - 2 * NG
        if n < NG:
            raise ValueError(f"periodic fill needs at least {NG} owned cells along axis {axis}, got {n}")
        idx = [slice(NG, -NG)] * nspatial
        for dst, src in ((slice(0, NG), slice(n, n + NG)), (slice(n + NG, n + 2 * NG), slice(NG, 2 * NG))):
            idx[axis] = dst
            d = tuple(idx)
            idx[axis] = src
            a_ext[d] = a_ext[tuple(idx)]
    return a_ext
