"""Exceptions that reach the user as one clear line, not a traceback, and the exit statuses.

Exit statuses of every command (job chains act on them):

====  ================================================================================================
0     completed (for ``restart``: also "already complete, nothing to do")
1     failed: the run stopped on an error (a guard stop writes a rescue file first), or an internal error
2     bad input (input file, option, value, output directory): nothing was computed or written
3     stopped on request (SIGTERM, e.g. SLURM's warning before the time limit, or a STOP file) after
      writing a checkpoint: resubmit ``hpcclose restart RUN_DIR`` to continue
====  ================================================================================================
"""

from __future__ import annotations

import functools
import sys

EXIT_COMPLETED, EXIT_FAILED, EXIT_INPUT, EXIT_STOPPED = 0, 1, 2, 3


class HpccloseError(Exception):
    """Base of every error meant for the user; the CLI prints its message and exits with ``exit_status``.

    ``collective`` is true when every rank raises the same error at the same point (input
    validation, the guard's verdict): the CLI then prints it once and all ranks exit together.
    Otherwise the raising rank aborts the whole job (no rank is left waiting in a collective).
    """

    collective: bool = False
    exit_status: int = EXIT_INPUT


class InputError(HpccloseError):
    """A bad input file, option or value; the message names the key or file."""

    collective = True


class RealizabilityError(HpccloseError):
    """Moments outside the realizable set (or non-finite); the message names the offending cells."""

    def __init__(self, message: str, cells=None, moments=None):
        super().__init__(message)
        self.cells = cells
        self.moments = moments


class SimulationFailed(HpccloseError):
    """A run that started stopped on an error every rank agreed on (e.g. the guard); exit status 1."""

    collective = True
    exit_status = EXIT_FAILED


def script_main(prog: str):
    """Decorator for the ``main`` of a study script (drivers/): an :class:`HpccloseError` prints one line
    ``prog: error: …`` on stderr and ``main`` returns 2 instead of raising — the CLI's rule for bad input,
    for scripts that run on one rank without the CLI's MPI handling."""
    def wrap(main):
        @functools.wraps(main)
        def guarded(*args, **kwargs):
            try:
                return main(*args, **kwargs)
            except HpccloseError as exc:
                print(f"{prog}: error: {exc}", file=sys.stderr, flush=True)
                return 2
        return guarded
    return wrap
