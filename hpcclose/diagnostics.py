"""Per-step diagnostics (reduced over ranks), the closure statistics of a step, and per-phase timers.

Kept as a time series of plain records so output code can write them as HDF5/CSV and the summary
can report changes over the run.
"""

from __future__ import annotations

import math
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field

import numpy as np

#: Timed phases: the stages' closure, halo exchange and flux, the end-of-step reduction, output.
PHASES = ("closure", "halo", "flux", "reduce", "io", "other")
#: The phases a step's own stages spend time in (recorded per step).
STAGE_PHASES = ("closure", "halo", "flux")
#: The mass-balance columns of a step: out through each wall, and the sources' net gain.
WALLS = tuple(f"out_{a}_{side}" for a in "xy" for side in ("low", "high"))
BALANCE = (*WALLS, "sources")


class PhaseTimer:
    """Accumulates wall time per phase; ``with timer("flux"): …``."""

    def __init__(self) -> None:
        self.totals = dict.fromkeys(PHASES, 0.0)

    @contextmanager
    def __call__(self, phase: str):
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.totals[phase] += time.perf_counter() - t0

    def shares(self, wall: float) -> dict[str, float]:
        """Fraction of ``wall`` per phase; 'other' absorbs what the named phases did not time."""
        timed = sum(v for k, v in self.totals.items() if k != "other")
        out = {k: v / wall for k, v in self.totals.items() if k != "other"} if wall > 0 else {}
        out["other"] = max(wall - timed, 0.0) / wall if wall > 0 else 0.0
        return out


@dataclass
class StepStats:
    """What one step did on this rank, over every stage: closure statistics, entropy, times.

    ``first_failure``: (owned-cell numbers, their moments, stage) of the first closure call of the step
    that left cells unsolved, for the guard's message.
    """

    step: int
    t: float
    started: float = field(default_factory=time.perf_counter)
    solves: int = 0
    iterations: float = 0.0
    iterations_max: int = 0
    regularised: int = 0
    reg_r_max: float = 0.0
    failed: int = 0
    stages: int = 0
    first_failure: tuple | None = None
    entropy: float = math.nan
    wall: float = 0.0
    phase_totals: dict[str, float] = field(default_factory=dict)  # the timer's totals when the step began

    def add(self, stats, u2: np.ndarray) -> None:
        """Fold in one closure call (``stats``: ClosureStats) on the moments ``u2`` (ncells, n)."""
        self.solves += stats.ncells
        self.iterations += stats.iterations_mean * stats.ncells
        self.iterations_max = max(self.iterations_max, int(stats.iterations_max))
        self.regularised += int(stats.regularised.size)
        if stats.reg_r.size:
            self.reg_r_max = max(self.reg_r_max, float(np.max(stats.reg_r)))
        self.failed += int(stats.failed.size)
        if stats.failed.size and self.first_failure is None:
            self.first_failure = (stats.failed, u2[stats.failed], self.stages)
        self.stages += 1


@dataclass
class StepRecord:
    """One step, global over ranks: the state at its start and what the step did (every stage).

    ``mass``, ``entropy``, ``min_u0``, ``margin``: the state at time ``t`` (the start of the step);
    ``iterations_*``, ``regularised`` (cell-solves regularised), ``reg_r_max`` (their largest r),
    ``failed``: the closure over all stages; ``wall`` and ``<phase>_s``: seconds of the step's stages on
    the slowest rank (the end-of-step reduction and output are in the run's phase totals);
    ``out_<axis>_<side>``: mass that left through that wall during the step (negative: came in; 0 for a
    periodic axis and for y in 1D), ``sources``: mass the sources added minus what absorption took. Units
    and meaning of each: :data:`COLUMNS`.
    """

    step: int
    t: float
    dt: float
    mass: float
    entropy: float
    min_u0: float
    margin: float
    iterations_mean: float
    iterations_max: int
    regularised: int
    reg_r_max: float
    failed: int
    wall: float
    closure_s: float = 0.0
    halo_s: float = 0.0
    flux_s: float = 0.0
    out_x_low: float = 0.0
    out_x_high: float = 0.0
    out_y_low: float = 0.0
    out_y_high: float = 0.0
    sources: float = 0.0


# Units and meaning of every StepRecord column, written with the diagnostics (HDF5 attributes ``units`` and
# ``long_name``; the CSV's comment lines). "state at t": the state when the step began; "per step": what
# the step did (every stage); nothing is cumulative. Units: "1" as in io/fields.py's UNITS_CONVENTION.
COLUMNS: dict[str, tuple[str, str]] = {
    "step": ("1", "step number"),
    "t": ("1", "simulated time at the start of the step (problem time unit)"),
    "dt": ("1", "per step: the time step (problem time unit)"),
    "mass": ("1", "state at t: total mass, sum of u0 x cell volume (problem units)"),
    "entropy": ("1", "state at t: total entropy, sum of h(u) x cell volume (problem units)"),
    "min_u0": ("1", "state at t: smallest u0 of any cell (problem units)"),
    "margin": ("1", "state at t: smallest realizability margin of any cell (> 0: realizable)"),
    "iterations_mean": ("1", "per step: closure iterations per cell-solve, mean over every stage"),
    "iterations_max": ("1", "per step: most closure iterations of one cell-solve"),
    "regularised": ("1", "per step: cell-solves regularised (count)"),
    "reg_r_max": ("1", "per step: largest regularisation parameter r of those"),
    "failed": ("1", "per step: cell-solves that failed (count)"),
    "wall": ("s", "per step: wall-clock time of the step's stages, slowest rank"),
    **{f"{p}_s": ("s", f"per step: wall-clock time in the {p} phase, slowest rank") for p in STAGE_PHASES},
    **{f"out_{a}_{side}": ("1", f"per step: mass out through the {side} {a} wall (negative: in; problem units)")
       for a in "xy" for side in ("low", "high")},
    "sources": ("1", "per step: mass added by the sources minus mass absorbed (problem units)"),
}


def column_attrs(names) -> dict[str, dict[str, str]]:
    """``units`` and ``long_name`` of the named diagnostics columns (those :data:`COLUMNS` knows)."""
    return {n: {"units": COLUMNS[n][0], "long_name": COLUMNS[n][1]} for n in names if n in COLUMNS}


@dataclass
class History:
    records: list[StepRecord] = field(default_factory=list)

    def append(self, rec: StepRecord) -> None:
        self.records.append(rec)

    def columns(self) -> dict[str, list]:
        """Column-wise view (name → values) for writers."""
        if not self.records:
            return {}
        rows = [asdict(r) for r in self.records]
        return {k: [r[k] for r in rows] for k in rows[0]}

    def __len__(self) -> int:
        return len(self.records)
