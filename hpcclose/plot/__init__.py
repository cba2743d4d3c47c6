"""Figures of a run (``hpcclose plot``): 1D moment profiles, 2D colour maps, diagnostics histories.

Everything is read back from the run's files (any rank count wrote them), so plotting needs no MPI.
Modules: ``figure`` (the run's description, labels, title, saving), ``profiles`` (1D), ``maps`` (2D),
``histories`` (the diagnostics), ``exact`` (the exact solutions overlaid, by problem).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import partial
from pathlib import Path

from ..errors import InputError
from . import exact as exact_solutions
from .figure import RunInfo, grid_of
from .histories import histories
from .maps import maps_2d
from .profiles import profiles_1d

log = logging.getLogger("hpcclose")

__all__ = ["plot", "select_frames"]


def select_frames(files: Sequence[Path], frames: Sequence[int] | None) -> list[Path]:
    """The outputs to draw: all (``frames`` None) or those at the given positions (negative: from the end)."""
    if frames is None:
        return list(files)
    bad = [k for k in frames if not -len(files) <= k < len(files)]
    if bad:
        raise InputError(f"--frames: no output {bad[0]} (the run has {len(files)}: 0 … {len(files) - 1}, or -1 "
                         "for the last)")
    return [files[k] for k in frames]


def _exact(info: RunInfo, two_d: bool, radial: bool):
    """The overlay function ``f(t, where)`` of this run's problem, or None (with a warning: nothing to draw)."""
    problem = exact_solutions.problem_of(info.attrs)
    if two_d and not radial:
        log.warning("--exact: %s has no exact solution to overlay on its maps", problem.name)
        return None
    known = exact_solutions.RADIAL if two_d else exact_solutions.PROFILE_1D
    if problem.name not in known:
        log.warning("--exact: no exact solution of %s is known here; drawing the computed one alone", problem.name)
        return None
    return partial(exact_solutions.radial if two_d else exact_solutions.profile_1d, problem)


def plot(target: Path, out: Path | None = None, reference: Path | None = None, exact: bool = False,
         frames: Sequence[int] | None = None) -> list[Path]:
    """Plot a run directory (the chosen outputs + histories) or a single fields file; returns the PNGs.

    1D: one figure of every chosen output time (``profiles.png``); 2D: one figure per chosen output
    (``fields_NNNNN.png``). ``exact``: overlay the exact solution at every output time where one exists
    (a warning where none does).
    """
    target = Path(target)
    if target.is_dir():
        files = sorted(target.glob("fields_*.h5"))
        diag = target / "diagnostics.h5"
        out = Path(out or target / "plots")
    elif target.is_file():
        files, diag, out = [target], None, Path(out or target.parent / "plots")
    else:
        raise InputError(f"{target}: no such run directory or file")
    if not files:
        raise InputError(f"{target}: no fields_*.h5 outputs to plot (set output.every or output.every_steps)")
    chosen = select_frames(files, frames)
    out.mkdir(parents=True, exist_ok=True)
    info = RunInfo.read(chosen[-1])
    two_d = "y" in grid_of(chosen[-1])
    radial = two_d and info.attrs["problem"] in exact_solutions.RADIALLY_SYMMETRIC
    overlay = _exact(info, two_d, radial) if exact else None
    if two_d:
        made = [maps_2d(p, out, info, radial, overlay) for p in chosen]
    else:
        made = [profiles_1d(chosen, out, info, reference, overlay)]
    if diag is not None and diag.exists():
        made.append(histories(diag, out, info.title))
    return made
