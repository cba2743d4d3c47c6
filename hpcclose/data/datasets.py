"""Sampled closure data in memory (:class:`Dataset`) and on disk (HDF5, serial h5py).

File layout (format ``hpcclose-dataset``, version 1)::

    /alpha   (count, n)  full multipliers, α0 included
    /u       (count, n)  full moments ⟨m exp(α·m)⟩
    /h       (count,)    entropy α·u − u0
    root attrs: format, format_version, hpcclose_version, created (UTC, ISO 8601), and the provenance
        the sampler recorded: sampler, bounds/size (grid) or max_norm/tau/seed/draws (sobol; extra: the
        [max_norm, count] of each ball of extra points, appended after the main sample), w0 (test
        sets with varying u0), basis_kind, basis_dim, basis_N, quadrature, quadrature_size, count.

Files are written under a temporary name and renamed, so a reader never sees a partial file.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from .. import __version__
from ..errors import InputError
from ..velocity import Basis

FORMAT = "hpcclose-dataset"
FORMAT_VERSION = 1
ARRAYS = ("alpha", "u", "h")


@dataclass
class Dataset:
    """Samples (α, u, h) of the Maxwell–Boltzmann closure with their provenance ``attrs``."""

    alpha: np.ndarray
    u: np.ndarray
    h: np.ndarray
    attrs: dict = field(default_factory=dict)

    @property
    def count(self) -> int:
        return self.alpha.shape[0]

    def describe(self) -> str:
        a = self.attrs
        return (f"{self.count} samples ({a.get('sampler', '?')}), {a.get('basis_kind', '?')} basis "
                f"{a.get('basis_dim', '?')}D N={a.get('basis_N', '?')}, "
                f"quadrature {a.get('quadrature', '?')}")


def concatenate(parts: list[Dataset], **attrs) -> Dataset:
    """One dataset of all samples of ``parts`` (in order); provenance: the first part's, its count
    replaced by the total, updated with ``attrs``."""
    joined = {name: np.concatenate([getattr(p, name) for p in parts]) for name in ARRAYS}
    provenance = {**parts[0].attrs, "count": int(joined["h"].size), **attrs}
    return Dataset(joined["alpha"], joined["u"], joined["h"], provenance)


def save(path: str | os.PathLike, ds: Dataset) -> Path:
    """Write ``ds`` to ``path`` (HDF5, atomically); returns the path."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with h5py.File(tmp, "w") as f:
            for name in ARRAYS:
                f.create_dataset(name, data=np.asarray(getattr(ds, name), dtype=float))
            for key, value in ds.attrs.items():
                f.attrs[key] = value
            f.attrs["format"] = FORMAT
            f.attrs["format_version"] = FORMAT_VERSION
            f.attrs["hpcclose_version"] = __version__
            f.attrs["created"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def _plain(value):
    """HDF5 attribute → plain Python (bytes → str, numpy scalars → Python scalars, arrays → lists, e.g. the
    [max_norm, count] rows of ``extra``), so provenance read from a file can be written as JSON again."""
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def load(path: str | os.PathLike, basis: Basis | None = None) -> Dataset:
    """Read a dataset; with ``basis``, refuse (InputError naming the mismatch) data of another basis/dim/N."""
    path = Path(path)
    try:
        f = h5py.File(path, "r")
    except (FileNotFoundError, OSError) as exc:
        raise InputError(f"{path}: cannot open dataset ({exc})") from None
    with f:
        attrs = {k: _plain(v) for k, v in f.attrs.items()}
        if attrs.get("format") != FORMAT:
            raise InputError(f"{path}: not an hpcclose dataset (format {attrs.get('format')!r}, "
                             f"expected {FORMAT!r})")
        missing = [a for a in ARRAYS if a not in f]
        if missing:
            raise InputError(f"{path}: dataset lacks array(s) {', '.join(missing)}")
        alpha, u, h = (f[a][...] for a in ARRAYS)
    if basis is not None:
        # compare what the data were sampled for with what the caller will use them for
        want = {"basis_kind": basis.kind, "basis_dim": basis.dim, "basis_N": basis.N}
        bad = [f"{k} is {attrs.get(k)!r}, expected {v!r}" for k, v in want.items() if attrs.get(k) != v]
        if bad or alpha.shape[1] != basis.n:
            raise InputError(f"{path}: dataset does not match the {basis.describe()}: " + "; ".join(
                bad or [f"{alpha.shape[1]} components, expected {basis.n}"]))
    return Dataset(alpha, u, h, attrs)
