"""Where a command will write, checked before it does any work: a run of hours must not end on a path it
cannot write, nor silently replace results (``--overwrite`` asks for that)."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import InputError


def _existing_ancestor(path: Path) -> Path:
    """The nearest of ``path`` and its parents that exists (what a ``mkdir -p`` would start from)."""
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _creatable(target: Path, directory: Path, key: str, source: str) -> None:
    """``directory`` exists and is writable, or can be created (for writing ``target``)."""
    base = _existing_ancestor(directory)
    if not base.is_dir():
        raise InputError(f"{source}: {key}: cannot write {target}: {base} is not a directory")
    if not os.access(base, os.W_OK | os.X_OK):
        raise InputError(f"{source}: {key}: cannot write {target}: {base} is not writable")


def writable_dir(path: str | os.PathLike, key: str, source: str) -> Path:
    """``path`` as a directory this process can create or write into (InputError naming ``key`` if not)."""
    path = Path(path)
    _creatable(path, path, key, source)
    return path


def new_file(path: str | os.PathLike, key: str, source: str, overwrite: bool) -> Path:
    """``path`` as a file this process can write that holds no earlier result, unless ``overwrite``
    (InputError naming ``key`` if not)."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{source}: {key}: {path} is a directory, not a file")
    if path.exists() and not overwrite:
        raise InputError(f"{source}: {key}: {path} exists; pass --overwrite to replace it")
    _creatable(path, path.parent, key, source)
    return path
