"""End-of-step observers on one schedule, with one fused reduction per step (PyFR's plugins, Dedalus's
evaluator handlers).

After every step, :meth:`Observers.end_of_step` asks each observer for its rank-local contributions
(:meth:`Observer.contribute`), reduces them all in one allreduce together with the wall clock, then
lets each observer whose :class:`~.schedule.Schedule` is due act on the global values
(:meth:`Observer.act`), in the order they were added. Everything an observer does is therefore either
rank-local or collective on every rank at the same step. At the end of a run :meth:`Observers.finish`
gives each observer a last word (the final output, the final checkpoint).
"""

from __future__ import annotations

import time

from .reduction import FusedReduction
from .schedule import Schedule


class Observer:
    """Base class: override what the observer needs; ``schedule`` says when :meth:`act` runs."""

    def __init__(self, schedule: Schedule | None = None) -> None:
        self.schedule = schedule or Schedule(always=True)

    def start(self, sim) -> None:
        """Called when a loop over steps begins (after the initial state is known)."""

    def contribute(self, sim, red: FusedReduction) -> None:
        """Add rank-local values to the step's reduction (called after every step, on every rank)."""

    def act(self, sim, red: FusedReduction) -> None:
        """Act on the reduced values (called on every rank when the schedule is due)."""

    def finish(self, sim, ended: str) -> None:
        """The end of the run (``ended``: "completed" or why it stopped); collective on every rank."""


class Observers:
    """An ordered set of observers run at the end of each step of one :class:`~hpcclose.solver.Simulation`."""

    def __init__(self, *observers: Observer) -> None:
        self._items: list[Observer] = list(observers)
        self._t0 = time.perf_counter()

    def add(self, *observers: Observer) -> None:
        """Append observers (they act after the ones already there)."""
        self._items.extend(observers)

    def remove(self, *observers: Observer) -> None:
        for o in observers:
            self._items.remove(o)

    def start(self, sim) -> None:
        """Start every schedule at the current simulated time; wall clock from now."""
        self._t0 = time.perf_counter()
        for o in self._items:
            o.schedule.start(sim.t, 0.0)
            o.start(sim)

    def next_time(self) -> float | None:
        """The earliest simulated time some observer must land on (steps are clipped to it)."""
        times = [t for o in self._items if (t := o.schedule.next_time()) is not None]
        return min(times) if times else None

    def end_of_step(self, sim) -> None:
        """Contributions → one reduction → the due observers act (collective on every rank)."""
        red = FusedReduction()
        wall = red.max(time.perf_counter() - self._t0)
        for o in self._items:
            o.contribute(sim, red)
        with sim.timer("reduce"):
            red.reduce(sim.decomp)
        agreed = red[wall]
        for o in self._items:
            if o.schedule.due(sim.t, sim.step_count, agreed):
                o.act(sim, red)
                o.schedule.fired(sim.t, agreed)

    def finish(self, sim, ended: str) -> None:
        for o in self._items:
            o.finish(sim, ended)
