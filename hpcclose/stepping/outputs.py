"""Observers that write a run's results and stop it cleanly: fields, checkpoints, the stop check.

They act on their :class:`~.schedule.Schedule` (from ``[output]``) after a step and have a last word
when the run ends. Every write is collective; the schedules decide identically on every rank.
"""

from __future__ import annotations

from ..parallel.stop import StopRequest
from .observers import Observer
from .reduction import FusedReduction
from .schedule import Schedule


class FieldWriter(Observer):
    """Field files at ``output.every`` (simulated time) / ``output.every_steps``, and the final state."""

    def __init__(self, out, schedule: Schedule) -> None:
        super().__init__(schedule)
        self.out = out

    def write(self, sim) -> None:
        with sim.timer("io"):
            self.out.write_output()

    def act(self, sim, red: FusedReduction) -> None:
        self.write(sim)

    def finish(self, sim, ended: str) -> None:
        if ended == "completed" and self.schedule.enabled and self.out.last_output_time != sim.t:
            self.write(sim)


class Checkpointer(Observer):
    """Checkpoint and diagnostics every ``output.checkpoint_every_steps`` steps and/or
    ``output.checkpoint_every_seconds`` of wall time, and at the end of every run."""

    def __init__(self, out, schedule: Schedule) -> None:
        super().__init__(schedule)
        self.out = out

    def write(self, sim) -> None:
        with sim.timer("io"):
            self.out.write_checkpoint()
            self.out.write_diagnostics()

    def act(self, sim, red: FusedReduction) -> None:
        self.write(sim)

    def finish(self, sim, ended: str) -> None:
        self.write(sim)


class StopCheck(Observer):
    """SIGTERM on any rank, or the STOP file seen by rank 0, stops every rank after the same step."""

    def __init__(self, request: StopRequest) -> None:
        super().__init__()
        self.request = request
        self.reason: str | None = None

    def contribute(self, sim, red: FusedReduction) -> None:
        self._slot = red.max(int(self.request.local(sim.decomp)))

    def act(self, sim, red: FusedReduction) -> None:
        if red[self._slot] > 0:
            self.reason = self.request.reason or "request on another rank"
