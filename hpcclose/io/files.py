"""Files that appear complete or not at all: temp names, fsync, atomic replace (PyFR's writer).

Every output file is written as ``.<name>.tmp-<pid>`` in its target directory, fsynced, and renamed
with :func:`os.replace` (:func:`commit`): readers never see a partial file under the final name,
and a crash leaves earlier files intact. This module knows nothing of HDF5 or MPI.
"""

from __future__ import annotations

import datetime
import os
from pathlib import Path


def temp_name(path: str | os.PathLike) -> Path:
    """The hidden temporary name a file is written under: ``.<name>.tmp-<pid>`` in the same directory."""
    p = Path(path)
    return p.with_name(f".{p.name}.tmp-{os.getpid()}")


def fsync_file(path: str | os.PathLike) -> None:
    """Flush a closed file's data to stable storage."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: str | os.PathLike) -> None:
    """Flush a directory entry (a rename) to stable storage; silently skipped where unsupported."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def commit(tmp: str | os.PathLike, final: str | os.PathLike, fsync: bool = True) -> None:
    """Make a complete ``tmp`` visible as ``final`` atomically (fsync, :func:`os.replace`, fsync dir)."""
    if fsync:
        fsync_file(tmp)
    os.replace(tmp, final)
    if fsync:
        fsync_dir(Path(final).parent)


def remove_quietly(path: str | os.PathLike) -> None:
    """Delete a (temporary) file if it is there; a failure is ignored (cleanup after an error)."""
    try:
        os.remove(path)
    except OSError:
        pass


def atomic_write_text(path: str | os.PathLike, text: str, fsync: bool = True) -> Path:
    """Write a small text file under a temporary name, then rename it into place (one process only)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_name(path)
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
        commit(tmp, path, fsync)
    except BaseException:
        remove_quietly(tmp)
        raise
    return path


def now_iso() -> str:
    """The current time, ISO 8601 in UTC, to the second (the ``created`` attribute of every file)."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
