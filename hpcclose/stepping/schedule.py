"""When an end-of-step observer acts: every so much simulated time, every so many steps, every so many
wall-clock seconds — whichever comes first (as Dedalus's evaluator handlers: ``sim_dt``, ``iter``,
``wall_dt``).

Simulated-time and step rules are the same on every rank by construction. The wall-clock rule is
decided on the wall time agreed over all ranks at the step's reduction (the slowest rank's), so every
rank takes the same decision and a collective writer is entered by all ranks or by none.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

#: Relative tolerance for reaching a scheduled simulated time (steps are clipped to it, see next_time).
T_TOL = 1e-12


@dataclass
class Schedule:
    """Triggers of one observer: ``always`` (after every step), or any of

    ``time``: simulated time between actions (steps are clipped to land on the multiples of it);
    ``steps``: steps between actions (at multiples of it); ``wall``: wall-clock seconds between actions.
    With no trigger set the observer never acts after a step (it may still at the end of the run).
    """

    time: float | None = None
    steps: int | None = None
    wall: float | None = None
    always: bool = False
    _next_time: float | None = field(default=None, init=False, repr=False)
    _last_wall: float = field(default=0.0, init=False, repr=False)

    @property
    def enabled(self) -> bool:
        """True if some trigger is set."""
        return self.always or any(v is not None for v in (self.time, self.steps, self.wall))

    def start(self, t: float, wall: float = 0.0) -> None:
        """Begin counting at simulated time ``t`` and (agreed) wall clock ``wall``."""
        self._next_time = None if self.time is None else self._after(t)
        self._last_wall = wall

    def _after(self, t: float) -> float:
        """The first multiple of ``time`` after ``t`` (one already reached within T_TOL counts as passed)."""
        return (math.floor(t / self.time + 1e-9) + 1) * self.time

    def next_time(self) -> float | None:
        """The next simulated time the run must land on exactly (None: no time rule)."""
        return self._next_time

    def due(self, t: float, step: int, wall: float) -> bool:
        """True if an action is due after the step that reached ``t``, ``step``, at agreed ``wall``."""
        if self.always:
            return True
        by_time = self._next_time is not None and t >= self._next_time * (1 - T_TOL)
        by_steps = self.steps is not None and step % self.steps == 0
        by_wall = self.wall is not None and wall - self._last_wall >= self.wall
        return by_time or by_steps or by_wall

    def fired(self, t: float, wall: float) -> None:
        """Record an action at ``t`` and ``wall``: the next triggers count from here."""
        if self.time is not None:
            self._next_time = self._after(t)
        self._last_wall = wall
