"""Clean stops: SIGTERM (what SLURM sends before the time limit) or a STOP file in the run directory.

Any rank noticing either sets its flag; :meth:`StopRequest.requested` combines the flags of all ranks
(one small allreduce, checked once per step), so every rank stops at the same step and can write the
checkpoint together.
"""

from __future__ import annotations

import signal
from pathlib import Path


class StopRequest:
    """Installs the SIGTERM handler on construction; ``requested(decomp)`` is collective."""

    def __init__(self, stop_file: Path | None = None, signals=(signal.SIGTERM,)):
        self.stop_file = stop_file
        self.flag = False
        self.reason = ""
        self._previous = {s: signal.signal(s, self._handler) for s in signals}

    def _handler(self, signum, frame) -> None:
        self.flag = True
        self.reason = signal.Signals(signum).name

    def requested(self, decomp) -> bool:
        if not self.flag and self.stop_file is not None and decomp.is_root and self.stop_file.exists():
            self.flag, self.reason = True, f"stop file {self.stop_file}"
        return bool(decomp.max(int(self.flag)))

    def restore(self) -> None:
        for s, h in self._previous.items():
            signal.signal(s, h)
