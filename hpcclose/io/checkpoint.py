"""Checkpoints: the solver state in a field file, committed safely, restartable on any rank count.

A checkpoint is a :func:`~hpcclose.io.fields.write_fields` file (``/fields/u``, ``/fields/alpha``) in
the run directory named ``checkpoint_<step:08d>.h5``, with root attributes ``kind="checkpoint"``,
``time``, ``step``, ``input_text``, ``rng_state`` (JSON) and the caller's extras. As shenfun's
``Checkpoint``, the previous checkpoint survives until the new one is complete:

1. the new file is written under a temporary name, fsynced and renamed (``complete=True`` inside);
2. the pointer file ``latest`` (the new file's name) is replaced the same way;
3. only then are checkpoints beyond the newest ``keep`` deleted.

A crash at any point leaves ``latest`` naming a complete checkpoint. Reading slices each rank's
block out of the global datasets, so a run checkpointed on P ranks restarts on any other number.
What a restart needs before it has a decomposition (the input text, its overrides, time, step) is
the checkpoint's header, read by :func:`read_header` alone; a run directory stands for its latest
complete checkpoint, resolved by :func:`locate` alone.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from ..errors import InputError
from .attrs import get_attrs
from .fields import FORMAT, read_grid, read_owned, write_fields
from .files import atomic_write_text

log = logging.getLogger("hpcclose")

LATEST = "latest"
_NAME = re.compile(r"^checkpoint_(\d{8,})\.h5$")


def checkpoint_name(step: int) -> str:
    """File name of the checkpoint at ``step``."""
    return f"checkpoint_{int(step):08d}.h5"


def _checkpoints(run_dir: Path) -> list[tuple[int, Path]]:
    """(step, path) of every checkpoint file in ``run_dir``, newest step first."""
    found = []
    if run_dir.is_dir():
        for p in run_dir.iterdir():
            m = _NAME.match(p.name)
            if m:
                found.append((int(m.group(1)), p))
    return sorted(found, reverse=True)


def _prune(run_dir: Path, step: int, keep: int) -> list[Path]:
    """Delete checkpoints older than ``step`` beyond the newest ``keep`` (the one at ``step`` counts).

    Files with a LATER step (left by a run that was restarted from an earlier checkpoint) are
    not touched: they are not ours to judge.
    """
    older = [p for s, p in _checkpoints(run_dir) if s < step]
    doomed = older[max(keep - 1, 0):]
    for p in doomed:
        try:
            os.remove(p)
        except FileNotFoundError:
            pass
    return doomed


def write_checkpoint(path: str | os.PathLike, decomp, u: np.ndarray, alpha: np.ndarray | None,
                     t: float, step: int, input_text: str = "",
                     extra_attrs: Mapping[str, Any] | None = None, *, rng_state: Any = None,
                     keep: int = 2, component_names: Mapping[str, Sequence[str]] | None = None,
                     method: str = "auto", field_attrs: Mapping[str, Mapping[str, Any]] | None = None) -> Path:
    """Write a checkpoint into the run directory ``path`` (collective); returns the file's path.

    Parameters
    ----------
    path : run (checkpoint) directory; the file is ``checkpoint_<step:08d>.h5`` inside it.
    decomp : Decomposition
    u, alpha : owned moments and multipliers, shape ``decomp.local_shape + (n,)``; alpha may be None.
    t, step : simulation time and step number.
    input_text : the full input file text (a restart needs nothing else).
    extra_attrs : more root attributes (closure, basis, N, …).
    rng_state : any JSON-serialisable random-generator state (or a JSON string); None for none.
    keep : number of checkpoints to keep (>= 1); older ones are deleted after the new one is safe.
    component_names, field_attrs : as for :func:`~.fields.write_fields`.
    """
    if int(keep) < 1:
        raise ValueError(f"write_checkpoint: keep must be >= 1, got {keep}")
    run_dir = Path(path)
    final = run_dir / checkpoint_name(step)
    fields = {"u": u} if alpha is None else {"u": u, "alpha": alpha}
    if rng_state is not None and not isinstance(rng_state, str):
        rng_state = json.dumps(rng_state)
    attrs = {**(extra_attrs or {}), "kind": "checkpoint", "time": float(t), "step": int(step),
             "input_text": input_text, "rng_state": rng_state}
    write_fields(final, decomp, fields, attrs, component_names, method=method, fsync=True, checksum=True,
                 field_attrs=field_attrs)

    def publish() -> list[Path]:
        atomic_write_text(run_dir / LATEST, final.name + "\n")  # fsynced before anything is deleted
        return _prune(run_dir, int(step), int(keep))

    removed = decomp.root_only(publish)
    log.info("checkpoint %s (t=%g, step %d)%s", final, t, step,
             f"; removed {', '.join(p.name for p in removed)}" if removed else "")
    return final


def is_complete(path: str | os.PathLike) -> bool:
    """True if ``path`` is a readable, completely written hpcclose checkpoint."""
    try:
        with h5py.File(path, "r") as f:
            return (bool(f.attrs.get("complete", False)) and f.attrs.get("format") == FORMAT
                    and "fields/u" in f)
    except (OSError, KeyError, ValueError):
        return False


def _inside(run_dir: Path, p: Path) -> bool:
    """True if ``p`` (after resolving links) lies in ``run_dir``: nothing outside a run directory is read."""
    try:
        return p.resolve().parent == run_dir.resolve()
    except OSError:
        return False


def _pointed(run_dir: Path) -> Path | None:
    """The checkpoint ``latest`` names, if it names one in ``run_dir`` (a tampered pointer is ignored)."""
    pointer = run_dir / LATEST
    if not pointer.is_file():
        return None
    name = pointer.read_text(encoding="utf-8", errors="replace").strip()
    target = run_dir / name
    if not _NAME.match(name) or not _inside(run_dir, target):
        log.warning("%s does not name a checkpoint in %s (%r): ignored", pointer, run_dir, name[:80])
        return None
    return target


def complete_checkpoints(run_dir: str | os.PathLike) -> list[Path]:
    """The complete checkpoints in ``run_dir``, newest first: the one ``latest`` names, then by step.

    Files that are incomplete, unreadable or outside the directory are skipped with a warning.
    """
    run_dir = Path(run_dir)
    pointed = _pointed(run_dir)
    order = ([pointed] if pointed is not None else []) + [p for _, p in _checkpoints(run_dir) if p != pointed]
    found = []
    for p in order:
        if _inside(run_dir, p) and is_complete(p):
            found.append(p)
        elif p.exists():
            log.warning("skipping incomplete or foreign checkpoint %s", p)
        else:
            log.warning("%s names %s, which is missing: looking for another", run_dir / LATEST, p.name)
    return found


def latest_checkpoint(run_dir: str | os.PathLike) -> Path | None:
    """The newest complete checkpoint in ``run_dir`` (see :func:`complete_checkpoints`); None if there is none."""
    found = complete_checkpoints(run_dir)
    return found[0] if found else None


def _candidates(path: str | os.PathLike, decomp=None) -> list[Path]:
    """The checkpoint files ``path`` stands for, best first: the file itself, or a run directory's
    complete checkpoints (listed on rank 0 alone when a ``decomp`` is given, every rank getting the
    same answer). Raises :class:`InputError` if a directory holds no complete checkpoint."""
    path = Path(path)
    if not (path.is_dir() or not path.suffix):
        return [path]
    found = complete_checkpoints(path) if decomp is None else decomp.root_only(lambda: complete_checkpoints(path))
    if not found:
        raise InputError(f"restart: no complete checkpoint in {path}")
    return [Path(p) for p in found]


def locate(path: str | os.PathLike, decomp=None) -> Path:
    """The checkpoint file ``path`` stands for: the file itself, or a run directory's latest one.

    A directory (or a name without suffix) is searched with :func:`complete_checkpoints`; with a
    ``decomp`` on its rank 0 alone, every rank getting the same answer (then collective).
    Raises :class:`InputError` if the directory holds no complete checkpoint.
    """
    return _candidates(path, decomp)[0]


@dataclass(frozen=True)
class CheckpointHeader:
    """A checkpoint's root attributes: all a restart needs before it reads the state.

    ``attrs`` holds every root attribute as plain python (``rng_state`` decoded from JSON, ``path``
    the file's name); ``fields`` the names of the stored fields (``u``, and ``alpha`` if kept).
    """

    path: Path
    time: float
    step: int
    input_text: str
    overrides: list[str]
    fields: tuple[str, ...]
    attrs: dict[str, Any]


def read_header(path: str | os.PathLike, decomp=None) -> CheckpointHeader:
    """The header of a checkpoint file, or of a run directory's latest checkpoint (see :func:`locate`).

    Raises :class:`InputError`, one line naming the file, if it is not a complete, readable
    hpcclose checkpoint.
    """
    path = locate(path, decomp)
    if not path.is_file():
        raise InputError(f"restart: {path}: no such checkpoint file")
    if not is_complete(path):
        raise InputError(f"restart: {path} is not a complete hpcclose checkpoint")
    with h5py.File(path, "r") as f:
        attrs = get_attrs(f)
        fields = tuple(f["fields"])
    missing = [k for k in ("time", "step", "input_text") if k not in attrs]
    if missing:
        raise InputError(f"restart: {path} is not a readable hpcclose checkpoint (no {', '.join(missing)})")
    # JSON-encoded attributes: the generator state, and the overrides when none were given ("[]").
    if attrs.get("rng_state"):
        attrs["rng_state"] = json.loads(attrs["rng_state"])
    overrides = attrs.get("input_overrides", [])
    overrides = json.loads(overrides) if isinstance(overrides, str) else overrides
    attrs["path"] = str(path)
    return CheckpointHeader(path, float(attrs["time"]), int(attrs["step"]), str(attrs["input_text"]),
                            list(overrides), fields, attrs)


def read_checkpoint(path: str | os.PathLike, decomp):
    """Read this rank's block of a checkpoint, verified (collective).

    ``path`` is a checkpoint file or a run directory (then its complete checkpoints, newest first:
    :func:`complete_checkpoints`, listed on rank 0). Every rank reads its block, which checks the
    Fletcher32 checksums of the chunks it touches (together the ranks read every chunk); if any rank
    finds damage, all ranks move on to the previous checkpoint with a warning — or, for a file given
    by name, stop with an :class:`InputError` naming it. Works for any number of ranks: each slices
    its block by ``decomp.global_slices``.

    Returns
    -------
    (u_owned, alpha_owned or None, t, step, input_text, attrs) — ``attrs`` has every root
    attribute (``rng_state`` decoded from JSON, ``path`` the file read).
    """
    candidates = _candidates(path, decomp)
    for i, candidate in enumerate(candidates):
        header = read_header(candidate)
        stored = read_grid(header.path)
        if stored != decomp.grid:
            raise InputError(f"restart: {header.path} was written on a {stored.describe()}, but this run has a "
                             f"{decomp.grid.describe()}")
        try:
            blocks, damage = read_owned(header.path, decomp, [n for n in ("u", "alpha") if n in header.fields]), None
        except OSError as exc:  # HDF5 reports a failed Fletcher32 check as an I/O error
            blocks, damage = None, f"rank {decomp.rank}: {exc}"
        damages = [d for d in decomp.cart.allgather(damage) if d]
        if not damages:
            return blocks["u"], blocks.get("alpha"), header.time, header.step, header.input_text, header.attrs
        if len(candidates) == 1:
            raise InputError(f"restart: {header.path} is damaged ({damages[0]}); restart from its run directory "
                             f"to fall back to an earlier checkpoint")
        if decomp.is_root:
            log.warning("checkpoint %s is damaged (%s)%s", header.path, damages[0],
                        ": using the previous one" if i + 1 < len(candidates) else "")
    raise InputError(f"restart: every checkpoint in {path} is damaged")
