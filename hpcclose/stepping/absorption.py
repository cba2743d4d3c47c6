"""Quantities of interest of the absorbing benchmarks (lattice, hohlraum): absorption in named regions.

After every step :class:`AbsorptionRecorder` adds, per region the problem names
(:meth:`~hpcclose.problems.base.Problem.absorption_regions`), the rank-local rate ∫ σa u0 dA to the step's
fused reduction, and cumulates the global rate over time by the trapezoid rule (second order, like the
schemes). u0 is the density over the whole sphere (weights summing to 4π); KiT-RT's 2D solvers integrate
over the upper hemisphere only, so their absorption and mass are half of these.
"""

from __future__ import annotations

import numpy as np

from .observers import Observer
from .reduction import FusedReduction


class AbsorptionRecorder(Observer):
    """Absorption rate and its time integral per region; one row per step in :attr:`rows` (every rank)."""

    def __init__(self, sim) -> None:
        super().__init__()
        centres = tuple(sim.decomp.local_centers(a) for a in range(sim.dim))
        shape = tuple(c.size for c in centres)
        sigma_a = np.broadcast_to(np.asarray(sim.problem.coefficients(centres).sigma_a, float), shape)
        regions = sim.problem.absorption_regions(centres)
        self.names: list[str] = list(regions)
        # rate_r = Σ_cells w_r · u0 with w_r = mask_r σa ΔA: one small matrix-vector product per step
        self._weights = np.array([(mask * sigma_a).ravel() * sim.grid.cell_volume for mask in regions.values()],
                                 dtype=float).reshape(len(regions), sigma_a.size)
        self._cell_volume = sim.grid.cell_volume
        self.rows: list[dict[str, float]] = []
        self._rate = np.zeros(len(self.names))
        self._total = np.zeros(len(self.names))
        self._t = 0.0

    def _contribute(self, sim, red: FusedReduction) -> list:
        u0 = sim.u.reshape(-1, sim.n)[:, 0]
        return [red.sum(u0.sum() * self._cell_volume)] + [red.sum(v) for v in self._weights @ u0]

    def _record(self, sim, red: FusedReduction, slots: list) -> None:
        values = [red[s] for s in slots]
        rate = np.array(values[1:])
        self._total += 0.5 * (sim.t - self._t) * (self._rate + rate)
        self._rate, self._t = rate, sim.t
        self.rows.append({"t": sim.t, "mass": values[0], **dict(zip(self.names, rate.tolist(), strict=True)),
                          **{f"{k}_total": v for k, v in zip(self.names, self._total.tolist(), strict=True)}})

    def start(self, sim) -> None:
        """The rates of the starting state (collective): the cumulated absorption counts from here."""
        red = FusedReduction()
        slots = self._contribute(sim, red)
        red.reduce(sim.decomp)
        self._t, self._total[:] = sim.t, 0.0
        self._rate = np.array([red[s] for s in slots[1:]])
        self.rows = []
        self._record(sim, red, slots)

    def contribute(self, sim, red: FusedReduction) -> None:
        self._slots = self._contribute(sim, red)

    def act(self, sim, red: FusedReduction) -> None:
        self._record(sim, red, self._slots)
