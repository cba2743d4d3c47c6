"""Rank 0's progress: a live bar when a person watches a terminal, plain log lines in a batch log.

Where the bar goes: rank 0's stderr when it is a terminal (a serial run, ``srun --pty``), and also when
an MPI launcher started rank 0 from a terminal: ``mpiexec`` (MPICH's Hydra, Open MPI) hands its ranks
pipes and copies them onto its own terminal, so rank 0 looks up the launcher among its ancestors
(:func:`launcher_terminal`, Linux ``/proc``) and draws the bar into the pipe, which ends on that terminal.
A launcher whose stderr goes to a file or a pipe (``mpiexec … 2>log``, ``| tee``, a SLURM job) gets the
batch lines. While the bar is drawn, log records of the ``hpcclose`` logger go through tqdm
(:func:`~tqdm.contrib.logging.logging_redirect_tqdm`), which lifts the bar, writes the line and draws the
bar again below it, so no log line is ever written onto the bar's line.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time

from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from .observers import Observer

log = logging.getLogger("hpcclose")

#: Process names of MPI launchers (as /proc/<pid>/stat gives them: at most 15 characters).
LAUNCHERS = ("mpiexec", "mpirun", "orterun", "prterun", "srun", "aprun")
#: How far up from rank 0 a launcher may be: rank → proxy (hydra_pmi_proxy, prted) → launcher.
_ANCESTORS = 4


def _parent(pid: int) -> tuple[str, int]:
    """(process name, parent pid) of ``pid`` from /proc (the name may hold spaces and parentheses)."""
    with open(f"/proc/{pid}/stat", encoding="utf-8", errors="replace") as fh:
        stat = fh.read()
    name = stat[stat.index("(") + 1: stat.rindex(")")]
    return name, int(stat[stat.rindex(")") + 2:].split()[1])


def launcher_terminal() -> str | None:
    """The terminal (``/dev/pts/N``) on which the MPI launcher that started this process writes its
    stderr, or None: no launcher among the nearest ancestors, or its stderr is not a terminal."""
    pid = os.getppid()
    try:
        for _ in range(_ANCESTORS):
            name, parent = _parent(pid)
            if name.startswith(LAUNCHERS):
                target = os.readlink(f"/proc/{pid}/fd/2")
                return target if target.startswith(("/dev/pts/", "/dev/tty")) else None
            if parent <= 1:
                return None
            pid = parent
    except (OSError, ValueError, IndexError):  # no /proc (not Linux), a process gone, no permission
        return None
    return None


def _columns(terminal: str) -> int | None:
    """The width of a terminal device (None if it cannot be asked)."""
    try:
        fd = os.open(terminal, os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        return os.get_terminal_size(fd).columns or None  # 0: a terminal that was never given a size
    except OSError:
        return None
    finally:
        os.close(fd)


class Progress(Observer):
    """Rank 0's progress: a live bar on a terminal (see the module); in a batch log a plain line every
    10 % of the run or every minute with time, step, cell-updates/s and ETA. Rank-local, no reduction."""

    def __init__(self, sim) -> None:
        super().__init__()
        own = sys.stderr.isatty()
        terminal = None if own else launcher_terminal()
        self.live, self.through_launcher = own or terminal is not None, terminal is not None
        # the bar's width: rank 0's own terminal follows resizes; a launcher's is asked once
        width = {"dynamic_ncols": True} if own else {"ncols": _columns(terminal) if terminal else None}
        self.bar = tqdm(total=sim.cfg.scheme.t_final, initial=sim.t, disable=not self.live, unit="t",
                        file=sys.stderr, bar_format="{l_bar}{bar}| t={n:.4g}/{total:.4g} "
                        "[{elapsed}<{remaining}{postfix}]", **width)
        self.t0 = self.last = time.perf_counter()
        self.step0, self.time0, self.next_fraction = sim.step_count, sim.t, 0.1

    def redirect_logging(self) -> contextlib.AbstractContextManager:
        """While the bar is drawn: log lines written above it, never onto its line."""
        return logging_redirect_tqdm(loggers=[log]) if self.live else contextlib.nullcontext()

    def act(self, sim, red) -> None:
        self.bar.update(sim.t - self.bar.n)
        now = time.perf_counter()
        rate = sim.grid.ncells * (sim.step_count - self.step0) / max(now - self.t0, 1e-300)
        if self.live:
            if now - self.last > 0.5:
                self._postfix(sim, rate)
                self.last = now
            return
        t_final = sim.cfg.scheme.t_final
        fraction = (sim.t - self.time0) / max(t_final - self.time0, 1e-300)
        if fraction < self.next_fraction and now - self.last < 60.0:
            return
        eta = (now - self.t0) * (1.0 - fraction) / max(fraction, 1e-300)
        log.info("t = %.6g / %.6g (%3.0f %%), step %d, %.3g cell-updates/s, ETA %.0f s", sim.t, t_final,
                 100 * fraction, sim.step_count, rate, eta)
        self.last, self.next_fraction = now, (int(fraction * 10) + 1) / 10

    def _postfix(self, sim, rate: float) -> None:
        # tqdm puts ", " before the postfix, inside the bar's brackets
        self.bar.set_postfix_str(f"step {sim.step_count}, {rate:.3g} cell-updates/s", refresh=False)

    def close(self) -> None:
        """End the bar's line. Through a launcher, wait a moment: it copies stderr and stdout separately,
        and the summary printed on stdout next must not overtake the bar's last line."""
        if self.bar.disable:
            return
        self.bar.close()
        if self.through_launcher:
            sys.stderr.flush()
            time.sleep(0.2)

    def finish(self, sim, ended: str) -> None:
        """The bar's last line shows the run's final step and rate."""
        if self.live:
            elapsed = max(time.perf_counter() - self.t0, 1e-300)
            self._postfix(sim, sim.grid.ncells * (sim.step_count - self.step0) / elapsed)
        self.close()
