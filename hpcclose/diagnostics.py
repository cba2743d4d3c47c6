"""Per-step diagnostics (reduced over ranks) and per-phase wall-clock timers.

Kept as a time series of plain records so output code can write them as HDF5/CSV and the summary
can report changes over the run.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field

PHASES = ("closure", "halo", "flux", "io", "other")


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

    def snapshot(self) -> dict[str, float]:
        """Cumulative seconds per timed phase, as StepRecord fields (closure_s, halo_s, …)."""
        return {f"{k}_s": v for k, v in self.totals.items() if k != "other"}

    def shares(self, wall: float) -> dict[str, float]:
        """Fraction of ``wall`` per phase; 'other' absorbs what the named phases did not time."""
        timed = sum(v for k, v in self.totals.items() if k != "other")
        out = {k: v / wall for k, v in self.totals.items() if k != "other"} if wall > 0 else {}
        out["other"] = max(wall - timed, 0.0) / wall if wall > 0 else 0.0
        return out


@dataclass
class StepRecord:
    """Diagnostics of the state at the start of ``step`` (time ``t``), global over ranks."""

    step: int
    t: float
    mass: float
    entropy: float
    min_u0: float
    margin: float
    iterations_mean: float
    iterations_max: int
    regularised: int
    failed: int
    wall: float
    closure_s: float = 0.0
    halo_s: float = 0.0
    flux_s: float = 0.0
    io_s: float = 0.0


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
