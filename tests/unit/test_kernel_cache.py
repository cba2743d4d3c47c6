"""Stale compiled kernels are cleared when the sources change (hpcclose.kernel_cache)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from hpcclose import kernel_cache


def _package(root, callee_body: str = "x + 1"):
    """A package whose cached kernel ``caller.g`` calls ``callee.f`` in another file."""
    pkg = root / "pkg"
    pkg.mkdir(parents=True, exist_ok=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "callee.py").write_text(
        f"from numba import njit\n\n@njit(cache=True)\ndef f(x):\n    return {callee_body}\n")
    (pkg / "caller.py").write_text(textwrap.dedent("""\
        from numba import njit
        from .callee import f

        @njit(cache=True)
        def g(x):
            return f(x)
        """))
    return pkg


def _g_of_1(root, env_extra=None) -> int:
    env = {**os.environ, "PYTHONPATH": str(root), **(env_extra or {})}
    out = subprocess.run([sys.executable, "-c", "from pkg.caller import g; print(g(1))"], env=env,
                         capture_output=True, text=True, check=True)
    return int(out.stdout)


def test_a_changed_callee_is_not_run_from_a_stale_cache(tmp_path):
    """Numba keeps the caller's cached code when only the callee's file changed (the hazard: today's
    numba returns the old value here); after refresh the new callee runs."""
    pkg = _package(tmp_path)
    assert kernel_cache.refresh(pkg, cache_dir="") == 0  # nothing cached yet: only the stamp is written
    assert _g_of_1(tmp_path) == 2
    assert kernel_cache.refresh(pkg, cache_dir="") == 0  # same sources: the cache stays
    (pkg / "callee.py").write_text((pkg / "callee.py").read_text().replace("x + 1", "x + 10"))
    assert kernel_cache.refresh(pkg, cache_dir="") > 0  # sources changed: the cached kernels go
    assert _g_of_1(tmp_path) == 11


def test_numba_cache_dir_is_refreshed_and_other_files_kept(tmp_path):
    pkg = _package(tmp_path / "src")
    cache = tmp_path / "cache"
    env = {"NUMBA_CACHE_DIR": str(cache)}
    assert _g_of_1(tmp_path / "src", env) == 2
    cached = [p for p in cache.rglob("*") if p.suffix in kernel_cache.CACHE_SUFFIXES]
    assert cached
    other = cache / "unrelated.nbi"
    other.write_text("another package's kernel")
    kernel_cache.refresh(pkg, cache_dir=str(cache))  # first stamp: whatever was cached before is dropped
    assert not any(p.exists() for p in cached) and other.exists()
    assert (cache / kernel_cache.STAMP).read_text().strip() == kernel_cache.source_digest(pkg)


def test_digest_follows_contents_and_names(tmp_path):
    pkg = _package(tmp_path)
    first = kernel_cache.source_digest(pkg)
    assert kernel_cache.source_digest(pkg) == first
    (pkg / "extra.py").write_text("")
    assert kernel_cache.source_digest(pkg) != first


def test_an_unwritable_cache_is_left_alone(tmp_path):
    pkg = _package(tmp_path)
    blocked = tmp_path / "not-a-dir"
    blocked.write_text("")
    assert kernel_cache.refresh(pkg, cache_dir=str(blocked)) == 0  # logged, no error
