"""One run per output directory: an advisory lock held by rank 0 for the life of a run.

``flock`` on ``<dir>/.hpcclose.lock`` (the kernel drops it when the process dies, so a node crash
never leaves a directory locked for the restart). The file records who holds it, for the message a
second run gets. File systems without ``flock`` (some Lustre mounts) get a warning and no lock.
"""

from __future__ import annotations

import datetime
import errno
import fcntl
import logging
import os
import socket
from pathlib import Path

from ..errors import InputError

log = logging.getLogger("hpcclose")
LOCK_NAME = ".hpcclose.lock"


class RunLock:
    """The lock of one run directory (acquire on construction, :meth:`release` or process exit)."""

    def __init__(self, directory: Path) -> None:
        self.path = Path(directory) / LOCK_NAME
        self._fd: int | None = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = self._holder()
            self.release()
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise InputError(f"output.dir {directory} is in use by another run ({holder}): wait for it, "
                                 f"stop it (touch {directory}/STOP), or choose another directory") from None
            log.warning("cannot lock %s (%s): concurrent runs into it are not prevented", self.path, exc.strerror)
            return
        stamp = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        try:  # who holds it, for the message a second run gets (best effort: a full disk still locks)
            os.ftruncate(self._fd, 0)
            os.pwrite(self._fd, f"pid {os.getpid()} on {socket.gethostname()} since {stamp}\n".encode(), 0)
        except OSError:
            pass

    def _holder(self) -> str:
        try:
            return self.path.read_text(encoding="utf-8").strip() or "holder unknown"
        except OSError:
            return "holder unknown"

    def release(self) -> None:
        """Give the lock up (idempotent); the file stays, empty of meaning."""
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None
