"""Diagnostics history (mass, entropy, min u0, …, one value per step) as HDF5 and/or CSV.

HDF5: one 1-D dataset per column under ``/timeseries`` with its ``units`` and ``long_name`` attributes,
root attribute ``columns`` keeping the order. CSV: the header line (the same column names), then one
comment line per described column, ``# name [units]: long name``, then one row per record — pandas reads
it with ``read_csv(path, comment="#")``, numpy with ``genfromtxt(path, delimiter=",", names=True)``.
Written by one process, each under a temporary name and renamed (:mod:`hpcclose.io.files`).
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from .. import __version__
from .attrs import get_attrs, set_attrs
from .files import atomic_write_text, commit, now_iso, remove_quietly, temp_name


def _column(values) -> np.ndarray:
    """One column as an HDF5-storable array (strings become variable-length UTF-8)."""
    a = np.asarray(values)
    return a.astype(h5py.string_dtype()) if a.dtype.kind in "UO" else a


def write_timeseries(path_h5: str | os.PathLike | None, path_csv: str | os.PathLike | None,
                     columns: Mapping[str, Sequence], attrs: Mapping[str, Any] | None = None,
                     fsync: bool = True, column_attrs: Mapping[str, Mapping[str, Any]] | None = None) -> None:
    """Write a diagnostics history (mass, entropy, …) as HDF5 and/or CSV. Call on rank 0 only.

    ``columns`` maps a name to one value per record (all the same length); ``column_attrs`` a name to
    its dataset's attributes (``units``, ``long_name``: also the CSV's comment lines). HDF5: one 1-D
    dataset per column under ``/timeseries`` (root attr ``columns`` keeps the order); CSV: a header
    line, the comment lines and one row per record. Both are written under temporary names and renamed.
    """
    column_attrs = column_attrs or {}
    lengths = {k: len(v) for k, v in columns.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"write_timeseries: columns differ in length: {lengths}")
    if path_h5 is not None:
        path_h5 = Path(path_h5)
        path_h5.parent.mkdir(parents=True, exist_ok=True)
        tmp = temp_name(path_h5)
        try:
            with h5py.File(tmp, "w") as f:
                g = f.create_group("timeseries")
                for name, values in columns.items():
                    set_attrs(g.create_dataset(name, data=_column(values)), column_attrs.get(name, {}))
                set_attrs(f, {**(attrs or {}), "columns": list(columns), "hpcclose_version": __version__,
                              "created": now_iso(), "complete": True})
            commit(tmp, path_h5, fsync)
        except BaseException:
            remove_quietly(tmp)
            raise
    if path_csv is not None:
        # Python floats print as the shortest string that round-trips: no precision is lost.
        buf = io.StringIO()
        out = csv.writer(buf, lineterminator="\n")
        out.writerow(list(columns))
        for name, a in column_attrs.items():
            if name in columns:
                buf.write(f"# {name} [{a.get('units', '?')}]: {a.get('long_name', '')}\n")
        out.writerows(zip(*(np.asarray(v).tolist() for v in columns.values()), strict=True))
        atomic_write_text(path_csv, buf.getvalue(), fsync)


def read_timeseries(path_h5: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Columns (in written order) and root attributes of a :func:`write_timeseries` HDF5 file."""
    with h5py.File(path_h5, "r") as f:
        attrs = get_attrs(f)
        g = f["timeseries"]
        order = attrs.get("columns", list(g))
        cols = {}
        for name in order:
            d = g[name]
            cols[name] = d.asstr()[...] if h5py.check_string_dtype(d.dtype) else d[...]
        return cols, attrs
