"""Exceptions that reach the user as one clear line (exit status 2), not a traceback."""

from __future__ import annotations


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
