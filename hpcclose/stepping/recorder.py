"""The recorder: one :class:`~hpcclose.diagnostics.StepRecord` per step, global over ranks.

A row joins three things measured at different moments, all reduced in the step's one allreduce:
the summary of the state at the start of the step (from the guard's previous pass), its entropy
(taken at the first stage, where the closure's α for that state is at hand) and what the step did
over every stage (closure statistics, wall time and stage phases of the slowest rank).

The step's mass balance terms (what left through each wall, what the sources added) are summed here too,
so the summary can report the run's balance and its conservation error.
"""

from __future__ import annotations

from ..diagnostics import BALANCE, STAGE_PHASES, StepRecord
from .observers import Observer
from .reduction import FusedReduction


class StepRecorder(Observer):
    """Appends a record to ``sim.history`` after every step."""

    def __init__(self, guard) -> None:
        super().__init__()
        self.guard = guard

    def contribute(self, sim, red: FusedReduction) -> None:
        s = sim.step_stats
        self._start = self.guard.state  # the state at the step's start: read before the guard updates it
        phases = {k: sim.timer.totals[k] - s.phase_totals.get(k, 0.0) for k in STAGE_PHASES}
        self._slots = {
            "entropy": red.sum(s.entropy * sim.grid.cell_volume), "iterations": red.sum(s.iterations),
            "solves": red.sum(s.solves), "regularised": red.sum(s.regularised), "failed": red.sum(s.failed),
            "iterations_max": red.max(s.iterations_max), "reg_r_max": red.max(s.reg_r_max),
            "wall": red.max(s.wall), **{f"{k}_s": red.max(v) for k, v in phases.items()}}
        # the balance: Δt × the step's integrated wall fluxes (per array axis → its coordinate) and sources
        dt = sim.t - s.t
        for axis, name in enumerate(sim.grid.axis_names):
            for side, label in enumerate(("low", "high")):
                self._slots[f"out_{name}_{label}"] = red.sum(dt * sim.wall_flux[axis, side])
        self._slots["sources"] = red.sum(dt * sim.source_rate)

    def act(self, sim, red: FusedReduction) -> None:
        s, start, v = sim.step_stats, self._start, {k: red[slot] for k, slot in self._slots.items()}
        sim.history.append(StepRecord(
            step=s.step, t=s.t, dt=sim.t - s.t, mass=start.mass, entropy=v["entropy"], min_u0=start.min_u0,
            margin=start.margin, iterations_mean=v["iterations"] / max(v["solves"], 1),
            iterations_max=int(v["iterations_max"]), regularised=int(v["regularised"]), reg_r_max=v["reg_r_max"],
            failed=int(v["failed"]), wall=v["wall"], **{f"{k}_s": v[f"{k}_s"] for k in STAGE_PHASES},
            **{k: v[k] for k in BALANCE if k in v}))
