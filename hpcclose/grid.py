"""Cartesian 1D slab and 2D grids: global extents, spacing, cell centres, and the ghost layout.

Conventions every module relies on:

- tuples are per ARRAY AXIS: 1D ``(x,)``, 2D ``(y, x)`` — axis 0 is y in 2D, so a 2D field is
  indexed ``[iy, ix, k]`` (C order, last axis = moment/multiplier component ``k``);
- a rank's local "extended" array has :data:`NG` ghost layers on each side of each spatial axis:
  shape ``(nx + 2NG, n)`` or ``(ny + 2NG, nx + 2NG, n)``, owned cells ``[NG:-NG]`` per axis.
  Corner ghosts (2D) are never filled: the fluxes are dimension-wise.

Build grids with :meth:`Grid.from_extent` (named x/y), which puts the axes in array order for you.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from math import prod

import numpy as np

from .errors import InputError

#: Ghost layers per side and axis (a second-order limited reconstruction needs two).
NG = 2

_AXIS_NAMES = {1: ("x",), 2: ("y", "x")}


def _is_integral(n: object) -> bool:
    try:
        return not isinstance(n, bool) and int(n) == n  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return False


@dataclass(frozen=True)
class Grid:
    """A uniform Cartesian grid; ``lower``, ``upper``, ``cells`` are per array axis ((x,) or (y, x))."""

    lower: tuple[float, ...]
    upper: tuple[float, ...]
    cells: tuple[int, ...]

    def __post_init__(self) -> None:
        # Normalise to plain tuples of python numbers (a frozen dataclass needs object.__setattr__).
        try:
            object.__setattr__(self, "lower", tuple(float(v) for v in self.lower))
            object.__setattr__(self, "upper", tuple(float(v) for v in self.upper))
        except (TypeError, ValueError) as exc:
            raise InputError(f"grid: lower/upper bounds must be numbers ({exc})") from None
        cells = tuple(self.cells)
        if len(cells) not in (1, 2) or not (len(cells) == len(self.lower) == len(self.upper)):
            raise InputError(
                f"grid: lower/upper/cells need 1 or 2 entries each, got {len(self.lower)}/"
                f"{len(self.upper)}/{len(cells)}"
            )
        for name, n in zip(_AXIS_NAMES[len(cells)], cells, strict=True):
            if not _is_integral(n):
                raise InputError(f"grid: number of {name} cells must be an integer, got {n!r}")
            if n < 1:
                raise InputError(f"grid: number of {name} cells must be >= 1, got {n}")
        object.__setattr__(self, "cells", tuple(int(n) for n in cells))
        for name, lo, hi in zip(self.axis_names, self.lower, self.upper, strict=True):
            if not (np.isfinite(lo) and np.isfinite(hi)):
                raise InputError(f"grid: {name} extent must be finite, got [{lo}, {hi}]")
            if not hi > lo:
                raise InputError(f"grid: {name} upper bound must exceed lower bound, got [{lo}, {hi}]")

    @classmethod
    def from_extent(
        cls, x: tuple[float, float, int], y: tuple[float, float, int] | None = None
    ) -> Grid:
        """Grid from named extents ``x=(lo, hi, nx)`` and optionally ``y=(lo, hi, ny)`` (2D)."""
        axes = [x] if y is None else [y, x]  # array order: (y, x)
        for name, ax in zip(_AXIS_NAMES[len(axes)], axes, strict=True):
            if len(ax) != 3:
                raise InputError(f"grid: {name} extent must be (lower, upper, cells), got {ax!r}")
        return cls(tuple(a[0] for a in axes), tuple(a[1] for a in axes), tuple(a[2] for a in axes))

    @property
    def dim(self) -> int:
        """Spatial dimension (1 or 2)."""
        return len(self.cells)

    @property
    def axis_names(self) -> tuple[str, ...]:
        """Names of the array axes: ``('x',)`` or ``('y', 'x')``."""
        return _AXIS_NAMES[self.dim]

    @property
    def shape(self) -> tuple[int, ...]:
        """Global number of cells per array axis."""
        return self.cells

    @property
    def ncells(self) -> int:
        """Total number of cells."""
        return prod(self.cells)

    @cached_property
    def spacing(self) -> tuple[float, ...]:
        """Cell width per array axis."""
        return tuple((hi - lo) / n for lo, hi, n in zip(self.lower, self.upper, self.cells, strict=True))

    @cached_property
    def cell_volume(self) -> float:
        """Length (1D) or area (2D) of one cell."""
        return prod(self.spacing)

    def axis(self, name: str) -> int:
        """Array axis of the coordinate ``'x'`` or ``'y'``."""
        if name not in self.axis_names:
            raise InputError(f"grid: no axis {name!r} in a {self.dim}D grid (axes {self.axis_names})")
        return self.axis_names.index(name)

    def centers(self, axis: int = 0, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Cell centres ``start:stop`` along array ``axis`` (default all ``cells[axis]``).

        Each value depends on its index alone, so a rank computes its own block without the whole axis.
        """
        stop = self.cells[axis] if stop is None else stop
        return self.lower[axis] + (np.arange(start, stop) + 0.5) * self.spacing[axis]

    def edges(self, axis: int = 0, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Cell faces ``start:stop`` along array ``axis`` (default all ``cells[axis] + 1``): ``np.linspace``'s
        values (i·Δ + lower, the last face exactly ``upper``), computed for the requested range only."""
        n = self.cells[axis]
        stop = n + 1 if stop is None else stop
        lo, hi = self.lower[axis], self.upper[axis]
        faces = np.arange(start, stop) * ((hi - lo) / n) + lo
        if stop == n + 1 and stop > start:
            faces[-1] = hi
        return faces

    def mesh(self) -> tuple[np.ndarray, ...]:
        """Cell-centre coordinate arrays of shape :attr:`shape`, one per array axis (``ij`` indexing); the
        global grid: for small grids and plots only."""
        return tuple(np.meshgrid(*(self.centers(a) for a in range(self.dim)), indexing="ij"))

    def describe(self) -> str:
        """One line, e.g. ``'2D grid 100 x 50 (y x x) on [0, 1] x [0, 2]'``."""
        n = " x ".join(str(c) for c in self.cells)
        ext = " x ".join(f"[{lo:g}, {hi:g}]" for lo, hi in zip(self.lower, self.upper, strict=True))
        return f"{self.dim}D grid {n} ({' x '.join(self.axis_names)}) on {ext}"
