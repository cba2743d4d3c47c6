"""Skipping cells whose moments did not change: the closure's per-cell memo.

Where nothing moves (the vacuum around a line source before the wave arrives, a uniform region, a steady
part of the domain) a stage input is bitwise the last one: the fluxes in and out of such a cell cancel
exactly and the sources add zero. Solving it again from its own α converges without an iteration and
returns that α bitwise (``newton.normalise.denormalise``) — after a pass over the quadrature nodes.
:class:`UnchangedCells` keeps the moments the closure last ran on (n doubles a cell) and which results may
be reused, and lists the cells that must be solved again. In the 2D M2 line source 71 % of the cell-solves
are such cells (docs/benchmarks.md). The flux's counterpart compares α: ``FluxDivergence.interior/frame``.
"""

from __future__ import annotations

import numpy as np

from ..kernels.compare import changed_rows


class UnchangedCells:
    """The moments (ncells, n) of the last computation and, per cell, whether its result may be reused."""

    def __init__(self) -> None:
        self.last: np.ndarray | None = None
        self.valid: np.ndarray | None = None

    def changed(self, u: np.ndarray) -> np.ndarray | None:
        """Indices of the cells of ``u`` (ncells, n) to compute again; None: all of them (nothing is
        remembered for this shape). Only bitwise-equal rows are skipped."""
        if self.last is None or self.last.shape != u.shape:
            return None
        out = np.empty(u.shape[0], np.int64)
        return out[:changed_rows(u, self.last, self.valid, out)]

    def remember(self, u: np.ndarray, computed: np.ndarray | None, reusable: np.ndarray) -> None:
        """Record ``u`` after computing the cells ``computed`` (None: all; else what :meth:`changed` gave
        for this ``u``); ``reusable`` (bool, one per computed cell) says which results a later call may keep."""
        if self.last is None or self.last.shape != u.shape:
            self.last, self.valid = np.empty_like(u, dtype=float), np.empty(u.shape[0], bool)
        np.copyto(self.last, u)  # (the rows not computed are bitwise the same: no gather needed)
        if computed is None:
            self.valid[...] = reusable
        else:
            self.valid[computed] = reusable

    def replace(self, u: np.ndarray) -> None:
        """The remembered moments become ``u`` (same shape), for which every result stays what it was: the
        realizability reconstruction replaces a stage input by the moments of its own α."""
        if self.last is not None:
            self.last[...] = u

    def forget(self) -> None:
        """Nothing is reusable (the results were replaced: a restart, a new α)."""
        self.last = self.valid = None

    @property
    def nbytes(self) -> int:
        return 0 if self.last is None else self.last.nbytes + self.valid.nbytes

