"""Exceptions that reach the user as one clear line (exit status 2), not a traceback."""

from __future__ import annotations

import functools
import sys


class HpccloseError(Exception):
    """Base of every error meant for the user; the CLI prints its message and exits with 2.

    ``collective`` is true when every rank raises the same error at the same point (input
    validation): the CLI then prints it once and all ranks exit 2. Otherwise the raising rank aborts
    the whole job (no rank is left waiting in a collective).
    """

    collective: bool = False


class InputError(HpccloseError):
    """A bad input file, option or value; the message names the key or file."""

    collective = True


class RealizabilityError(HpccloseError):
    """Moments outside the realizable set (or non-finite); the message names the offending cells."""

    def __init__(self, message: str, cells=None, moments=None):
        super().__init__(message)
        self.cells = cells
        self.moments = moments


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
