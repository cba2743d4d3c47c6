"""Stale compiled kernels: Numba's on-disk cache is cleared when hpcclose's sources change.

Numba keys a cached kernel on the source file of the function it compiled (its modification time and
size), not on the files of the functions that kernel calls and inlines. After an update that changes a
callee only (a ``git pull`` into an editable install, say: the Newton batch in ``newton/batch.py`` calls
``newton_lanes`` in ``newton/lanes.py``), the caller's cached machine code would still be loaded, and a
run would silently compute with the old callee. So the cache carries a stamp, the SHA-256 of every
``hpcclose/**/*.py``; when it differs from the sources, every cached hpcclose kernel is removed before
the run compiles. Computing the stamp reads ~1–2 MB (a few ms); it runs once per job on the ranks that
compile (:func:`hpcclose.warmup.prepare_kernels`).
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

log = logging.getLogger("hpcclose")

PACKAGE = Path(__file__).resolve().parent
STAMP = "hpcclose-kernel-sources.sha256"
CACHE_SUFFIXES = (".nbi", ".nbc")


def source_digest(package: Path = PACKAGE) -> str:
    """SHA-256 over the package's Python sources (relative paths and contents, in sorted order)."""
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        digest.update(str(path.relative_to(package)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _cache_roots(package: Path, cache_dir: str | None) -> list[Path]:
    """Where Numba writes hpcclose's kernels: with ``NUMBA_CACHE_DIR``, one folder per source folder,
    named by Numba's own rule (``<folder>_<sha1 of its path>``); else the ``__pycache__`` folders in the
    package."""
    if not cache_dir:
        return [package]
    from numba.core.caching import _CacheLocator

    folders = {path.parent for path in package.rglob("*.py")}
    return [Path(cache_dir) / _CacheLocator.get_suitable_cache_subpath(str(d / "x.py")) for d in folders]


def _stamp_path(package: Path, cache_dir: str | None) -> Path:
    return (Path(cache_dir) if cache_dir else package / "__pycache__") / STAMP


def refresh(package: Path = PACKAGE, cache_dir: str | None = None) -> int:
    """Remove the cached kernels if the sources changed since the cache was stamped; stamp it.

    ``cache_dir``: Numba's ``NUMBA_CACHE_DIR`` (default: its current configuration). Returns the number
    of files removed (0 when the stamp matches). An unwritable cache is left alone (Numba then compiles
    without caching or into its user-wide cache): logged, never an error.
    """
    if cache_dir is None:
        import numba

        cache_dir = numba.config.CACHE_DIR or None
    stamp, digest = _stamp_path(package, cache_dir), source_digest(package)
    try:
        if stamp.is_file() and stamp.read_text().strip() == digest:
            return 0
        stale = [p for root in _cache_roots(package, cache_dir) if root.is_dir()
                 for p in root.rglob("*") if p.suffix in CACHE_SUFFIXES]
        for path in stale:
            path.unlink(missing_ok=True)
        stamp.parent.mkdir(parents=True, exist_ok=True)
        tmp = stamp.with_name(f".{stamp.name}.tmp-{os.getpid()}")
        tmp.write_text(digest + "\n")
        tmp.replace(stamp)  # atomic: a reader sees the old stamp or the new one
    except OSError as exc:
        log.debug("kernel cache not refreshed (%s)", exc)
        return 0
    if stale:
        log.info("hpcclose's sources changed since its kernels were cached: %d cached files removed", len(stale))
    return len(stale)
