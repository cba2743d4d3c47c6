"""Clean stops: SIGTERM (what SLURM sends before the time limit) or a STOP file in the run directory.

Any rank noticing either sets its flag; the flags of all ranks are combined in the step's reduction
(:class:`hpcclose.stepping.outputs.StopCheck`), so every rank stops at the same step and can write the
checkpoint together.
"""

from __future__ import annotations

import signal
from pathlib import Path


class StopRequest:
    """Installs the SIGTERM handler on construction; :meth:`local` is this rank's view."""

    def __init__(self, stop_file: Path | None = None, signals=(signal.SIGTERM,)):
        self.stop_file = stop_file
        self.flag = False
        self.reason = ""
        self._previous = {s: signal.signal(s, self._handler) for s in signals}

    def _handler(self, signum, frame) -> None:
        self.flag = True
        self.reason = signal.Signals(signum).name

    def local(self, decomp) -> bool:
        """This rank's flag (rank 0 also looks for the stop file); combine it over ranks to decide."""
        if not self.flag and self.stop_file is not None and decomp.is_root and self.stop_file.exists():
            self.flag, self.reason = True, f"stop file {self.stop_file}"
            self.stop_file.unlink(missing_ok=True)  # consumed: a restart must not stop again at once
        return self.flag

    def restore(self) -> None:
        for s, h in self._previous.items():
            signal.signal(s, h)
