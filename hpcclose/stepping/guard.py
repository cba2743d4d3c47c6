"""The guard: after every step, is the new state fit to continue? One collective verdict, one message.

Every rank checks its owned cells (finite, realizable — P_N needs only finiteness) and reports the
closure's unsolved cells of the step (``closure.on_failure = "abort"``); the counts and the first
offending global cell travel in the step's fused reduction. If anything is wrong every rank raises
the same :class:`~hpcclose.errors.RealizabilityError` naming the time, step, global cell and its
moments (broadcast from the rank that owns it), so the driver can write a rescue file collectively.

The same pass yields the state's mass, smallest u0 and realizability margin (no closure needed): the
summary of the state at the start of the next step, which the recorder files with that step.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import RealizabilityError
from .observers import Observer
from .reduction import FusedReduction

_NONE = float(np.iinfo(np.int64).max)  # "no offending cell" as a key larger than every cell's


@dataclass(frozen=True)
class StateSummary:
    """Global summary of the state at time ``t``."""

    t: float
    mass: float
    min_u0: float
    margin: float


class StateGuard(Observer):
    """Checks the state after every step (and once at the start); keeps its :class:`StateSummary`."""

    def __init__(self) -> None:
        super().__init__()
        self.state: StateSummary | None = None

    def check(self, sim, when: str) -> None:
        """Check the current state on its own (collective): the initial state, a restored one."""
        red = FusedReduction()
        self._contribute_state(sim, red)
        red.reduce(sim.decomp)
        self._act_state(sim, red, when)

    # --- observer protocol ------------------------------------------------------------------------
    def contribute(self, sim, red: FusedReduction) -> None:
        self._contribute_state(sim, red)
        stats = sim.step_stats
        failure = stats.first_failure if sim.cfg.closure.on_failure == "abort" else None
        self._failure = failure
        self._nfailed = red.sum(0 if failure is None else stats.failed)
        self._failed_key = red.min(self._key(sim, None if failure is None else failure[0]))

    def act(self, sim, red: FusedReduction) -> None:
        stats = sim.step_stats
        when = f"t = {stats.t:.6g}, step {stats.step}"
        self._act_state(sim, red, f"t = {sim.t:.6g}, step {sim.step_count}", _remedy(sim))
        if red[self._nfailed] > 0:
            cells, rows, stage = self._failure or (np.zeros(0, np.int64), None, 0)
            self._raise(sim, red[self._failed_key], f"{int(red[self._nfailed])} cell-solve(s)", cells, rows,
                        f"{when}, stage {stage}: closure failed to converge (or its input was not finite "
                        "or had u0 ≤ 0)")

    # --- the state check ----------------------------------------------------------------------------
    def _contribute_state(self, sim, red: FusedReduction) -> None:
        u2 = sim.u.reshape(-1, sim.n)
        # the closure's α of the last stage (a state near this one) starts the certificates: verdicts as without
        margin = (np.where(np.isfinite(u2[:, 0]), np.inf, np.nan) if sim.closure.linear
                  else sim.basis.realizability_margin(u2, sim.alpha))
        bad = ~(margin > 0.0)
        if not np.isfinite(u2).all():  # the per-row test only when needed (a reduction over n is slow)
            bad |= ~np.all(np.isfinite(u2), axis=1)
        self._bad_cells = np.flatnonzero(bad)
        self._slots = (red.sum(u2[:, 0].sum() * sim.grid.cell_volume), red.min(u2[:, 0].min()),
                       red.min(margin.min() if margin.size else np.inf), red.sum(self._bad_cells.size),
                       red.min(self._key(sim, self._bad_cells)))

    def _act_state(self, sim, red: FusedReduction, when: str, remedy: str = "") -> None:
        mass, min_u0, margin, nbad, key = (red[s] for s in self._slots)
        self.state = StateSummary(sim.t, mass, min_u0, margin)
        if nbad > 0:
            u2 = sim.u.reshape(-1, sim.n)
            self._raise(sim, key, f"{int(nbad)} cell(s)", self._bad_cells, u2[self._bad_cells],
                        f"{when}: non-finite or non-realizable moments", remedy)

    @staticmethod
    def _key(sim, cells: np.ndarray | None) -> float:
        """The smallest global C-order number of the listed owned cells (the order all ranks share)."""
        if cells is None or cells.size == 0:
            return _NONE
        return float(np.ravel_multi_index(sim.decomp.global_cell_index(np.asarray(cells)), sim.grid.shape).min())

    @staticmethod
    def _raise(sim, key: float, count: str, cells: np.ndarray, rows, what: str, remedy: str = "") -> None:
        """Raise the same error on every rank, with the first cell's moments from the rank owning it."""
        d = sim.decomp
        first = tuple(int(i) for i in np.unravel_index(int(key), sim.grid.shape))
        owner = d.rank_of(first)
        info = None
        if d.rank == owner:
            i = int(np.flatnonzero(cells == np.ravel_multi_index(d.to_local(first), d.local_shape))[0])
            info = (np.asarray(rows[i]).tolist(), what)
        moments, what = d.bcast(info, root=owner)
        axes = ", ".join(f"{a}={i}" for a, i in zip(sim.grid.axis_names, first, strict=True))
        err = RealizabilityError(f"{what} in {count}; first: global cell ({axes}), "
                                 f"u = {np.array2string(np.array(moments), precision=6)}{remedy}")
        err.collective = True
        raise err


def _remedy(sim) -> str:
    """What to change when a step left a non-realizable state: the reconstruction keeps every stage input
    realizable for the rule (an entropy closure only; states at the edge of what the rule represents arise
    next to strong absorbers), and a smaller time step helps otherwise."""
    if sim.closure.linear:
        return ""
    if not sim.cfg.scheme.realizability_reconstruction:
        return " (set scheme.realizability_reconstruction = true, or lower scheme.cfl)"
    return " (lower scheme.cfl)"
