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
                     method: str = "auto") -> Path:
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
    write_fields(final, decomp, fields, attrs, component_names, method=method, fsync=True)

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


def latest_checkpoint(run_dir: str | os.PathLike) -> Path | None:
    """The newest complete checkpoint in ``run_dir``: the one ``latest`` names, else the highest step.

    Files that are incomplete or unreadable are skipped (with a warning); None if there is none.
    """
    run_dir = Path(run_dir)
    pointer = run_dir / LATEST
    if pointer.is_file():
        target = run_dir / pointer.read_text(encoding="utf-8").strip()
        if is_complete(target):
            return target
        log.warning("%s names %s, which is missing or incomplete: looking for another", pointer, target)
    for _, p in _checkpoints(run_dir):
        if is_complete(p):
            return p
        log.warning("skipping incomplete checkpoint %s", p)
    return None


def locate(path: str | os.PathLike, decomp=None) -> Path:
    """The checkpoint file ``path`` stands for: the file itself, or a run directory's latest one.

    A directory (or a name without suffix) is searched with :func:`latest_checkpoint`; with a
    ``decomp`` on its rank 0 alone, every rank getting the same answer (then collective).
    Raises :class:`InputError` if the directory holds no complete checkpoint.
    """
    path = Path(path)
    if not (path.is_dir() or not path.suffix):
        return path
    found = latest_checkpoint(path) if decomp is None else decomp.root_only(lambda: latest_checkpoint(path))
    if found is None:
        raise InputError(f"restart: no complete checkpoint in {path}")
    return Path(found)


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
    """Read this rank's block of a checkpoint (collective only for resolving a directory).

    ``path`` is a checkpoint file or a run directory (then its latest checkpoint, chosen on rank 0:
    :func:`locate`). Works for any number of ranks: each slices its block by ``decomp.global_slices``.

    Returns
    -------
    (u_owned, alpha_owned or None, t, step, input_text, attrs) — ``attrs`` has every root
    attribute (``rng_state`` decoded from JSON, ``path`` the file read).
    """
    header = read_header(path, decomp)
    stored = read_grid(header.path)
    if stored != decomp.grid:
        raise InputError(f"restart: {header.path} was written on a {stored.describe()}, but this run has a "
                         f"{decomp.grid.describe()}")
    blocks = read_owned(header.path, decomp, [n for n in ("u", "alpha") if n in header.fields])
    return blocks["u"], blocks.get("alpha"), header.time, header.step, header.input_text, header.attrs
