"""Field output: one self-describing HDF5 file per output time, written in parallel.

Layout (format ``hpcclose-fields``, version 1) — one file per output time, because a file is then
complete or absent (the temp-name + rename below), can be deleted, copied or opened on its own, and
a crash never corrupts earlier output (PyFR's native writer makes the same choice)::

    /fields/<name>      global array, shape grid.shape + trailing (1D: (nx, n); 2D: (ny, nx, n)),
                        contiguous, attrs: components (names, one per trailing entry), axes, center
    /grid/<ax>          cell centres per axis ('x'; 2D also 'y'), /grid/<ax>_edges the faces;
                        group attrs axes, lower, upper, cells (enough to rebuild the Grid)
    root attrs          whatever the caller passes (time, step, closure, basis, N, input_text, …)
                        plus format, format_version, hpcclose_version, nranks, dims, decomposition,
                        created (ISO 8601, UTC), io_method, and complete=True written last.

Writing (Dedalus' evaluator): with a parallel h5py (``h5py.get_config().mpi``) every rank opens
the file with ``driver="mpio"`` on ``decomp.cart`` and writes its owned block of each global
dataset in ONE collective H5Dwrite (low-level, with a collective transfer list — what
``with dset.collective:`` sets — because h5py's high-level ``dset[sel] = a`` returns early on an
empty selection, which would leave the other ranks waiting in the collective). A rank with nothing
to write takes part with an empty selection. Otherwise (serial h5py) the blocks are gathered to
rank 0 (:meth:`Decomposition.gather`) and written serially. The path taken is logged and returned.

Every file is written as ``.<name>.tmp-<pid>`` in the target directory (name chosen on rank 0 and
broadcast), fsynced, and renamed with :func:`os.replace` by rank 0 once every rank has closed it
(PyFR's writer): readers never see a partial file under the final name.
"""

from __future__ import annotations

import csv
import datetime
import io
import json
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from numbers import Number
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from .. import __version__
from ..errors import InputError
from ..grid import Grid

log = logging.getLogger("hpcclose")

FORMAT = "hpcclose-fields"
FORMAT_VERSION = 1
METHODS = ("auto", "mpio", "gather")


# --- files: temp names, fsync, atomic replace ------------------------------------------------------
def mpio_available() -> bool:
    """True if this h5py was built against parallel HDF5 (the ``mpio`` driver exists)."""
    return bool(h5py.get_config().mpi)


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


def _remove_quietly(path: str | os.PathLike) -> None:
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
        _remove_quietly(tmp)
        raise
    return path


def root_only(decomp, fn: Callable[[], Any]) -> Any:
    """Run ``fn`` on rank 0 and hand its result, or its failure, to every rank (collective).

    Non-root ranks wait in the broadcast, so no rank is left hanging when rank 0's file work fails.
    """
    result, error = None, None
    if decomp.is_root:
        try:
            result = fn()
        except Exception as exc:  # noqa: BLE001 - re-raised on every rank below
            error = exc
    status = decomp.bcast((result, None if error is None else f"{type(error).__name__}: {error}"))
    if error is not None:
        raise error
    if status[1] is not None:
        raise OSError(f"rank 0 failed: {status[1]}")
    return status[0]


def now_iso() -> str:
    """The current time, ISO 8601 in UTC, to the second."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


# --- attributes: python values <-> HDF5 attributes ------------------------------------------------
def to_attr(value: Any) -> Any:
    """An HDF5-storable form of ``value``, or None to skip it (None values are not stored).

    Numbers and strings are stored as they are (strings as variable-length UTF-8: no size limit,
    and parallel HDF5 accepts them in attributes); sequences of numbers as arrays, of strings as
    string arrays; mappings and mixed sequences as a JSON string.
    """
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)):
        return np.bool_(value)
    if isinstance(value, (str, Number, np.generic)):
        return value
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, np.ndarray) and value.dtype.kind not in "UO":
        return value
    if isinstance(value, (Sequence, np.ndarray)) and not isinstance(value, (bytes, bytearray)):
        items = np.asarray(value).tolist() if isinstance(value, np.ndarray) else list(value)
        if items and all(isinstance(v, str) for v in items):
            return np.array(items, dtype=h5py.string_dtype())
        if items and all(isinstance(v, Number) and not isinstance(v, bool) for v in items):
            return np.asarray(items)
    return json.dumps(value, default=str)


def from_attr(value: Any) -> Any:
    """A plain python value from an HDF5 attribute (bytes decoded, numpy scalars unwrapped)."""
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.ndarray) and value.dtype.kind in "SO":
        return [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in value.ravel()]
    if isinstance(value, np.ndarray) and value.dtype.kind == "U":
        return [str(v) for v in value.ravel()]
    if isinstance(value, np.generic):
        return value.item()
    return value


def set_attrs(obj: h5py.HLObject, attrs: Mapping[str, Any]) -> None:
    """Set every storable entry of ``attrs`` on an HDF5 group/dataset (skipping None)."""
    for key, value in attrs.items():
        v = to_attr(value)
        if v is not None:
            obj.attrs[key] = v


def get_attrs(obj: h5py.HLObject) -> dict[str, Any]:
    """All attributes of an HDF5 object as plain python values."""
    return {k: from_attr(v) for k, v in obj.attrs.items()}


# --- field specs (checked collectively: a mismatch raises on every rank, never hangs) -------------
def _field_specs(decomp, fields: Mapping[str, np.ndarray], component_names) -> list[tuple]:
    """[(name, trailing shape, dtype str, component names)] as on root, after checking every rank."""
    errors = []
    local = []
    for name, a in fields.items():
        a = np.asarray(a)
        if a.shape[: decomp.dim] != tuple(decomp.local_shape):
            errors.append(f"field {name!r}: owned array shape {a.shape} does not start with the local "
                          f"shape {tuple(decomp.local_shape)} on rank {decomp.rank}")
        local.append((name, a.shape[decomp.dim:], a.dtype.str))
    everyone = decomp.cart.allgather((local, errors))
    errors = [e for _, errs in everyone for e in errs]
    if not errors and any(spec != everyone[0][0] for spec, _ in everyone):
        errors.append("fields differ between ranks (names, trailing shapes or dtypes)")
    if errors:
        raise ValueError("write_fields: " + "; ".join(errors))
    specs = []
    for name, trailing, dtype in everyone[0][0]:
        names = (component_names or {}).get(name)
        if names is None and len(trailing) == 1:
            names = [f"{name}{k}" for k in range(trailing[0])]
        if names is not None and (len(trailing) != 1 or len(names) != trailing[0]):
            raise ValueError(f"write_fields: {len(names)} component names for field {name!r} "
                             f"with trailing shape {trailing}")
        specs.append((name, tuple(trailing), dtype, None if names is None else list(names)))
    return specs


def _choose_method(method: str) -> str:
    if method not in METHODS:
        raise ValueError(f"write_fields: method must be one of {METHODS}, got {method!r}")
    if method == "auto":
        return "mpio" if mpio_available() else "gather"
    if method == "mpio" and not mpio_available():
        raise ValueError("write_fields: method='mpio' needs h5py built with parallel HDF5")
    return method


# --- the writes -------------------------------------------------------------------------------------
def _collective_dxpl():
    dxpl = h5py.h5p.create(h5py.h5p.DATASET_XFER)
    dxpl.set_dxpl_mpio(h5py.h5fd.MPIO_COLLECTIVE)
    return dxpl


def write_block(dset: h5py.Dataset, start: Sequence[int] | None, block: np.ndarray | None,
                dxpl=None) -> None:
    """Write ``block`` at ``start`` of ``dset`` with one H5Dwrite; ``block=None`` writes nothing.

    In a collective transfer (``dxpl`` from an mpio file) every rank must call this once per
    dataset: a rank with nothing to write passes ``None`` and takes part with an empty selection.
    """
    fspace = dset.id.get_space()
    if block is None or np.size(block) == 0:
        fspace.select_none()
        mspace = h5py.h5s.create_simple((1,))
        mspace.select_none()
        buf = np.zeros(1, dtype=dset.dtype)
    else:
        buf = np.ascontiguousarray(block, dtype=dset.dtype)
        fspace.select_hyperslab(tuple(int(s) for s in start), buf.shape)
        mspace = h5py.h5s.create_simple(buf.shape)
    dset.id.write(mspace, fspace, buf, dxpl=dxpl)


def _create_layout(f: h5py.File, grid: Grid, specs, root_attrs: Mapping[str, Any]) -> dict:
    """Groups, datasets and attributes (identical calls on every rank for mpio). Returns the datasets."""
    g = f.create_group("grid")
    set_attrs(g, {"axes": list(grid.axis_names), "lower": list(grid.lower), "upper": list(grid.upper),
                  "cells": list(grid.cells)})
    coords = {}
    for a, ax in enumerate(grid.axis_names):
        coords[ax] = (g.create_dataset(ax, (grid.cells[a],), "f8"), grid.centers(a))
        coords[f"{ax}_edges"] = (g.create_dataset(f"{ax}_edges", (grid.cells[a] + 1,), "f8"), grid.edges(a))
    fg = f.create_group("fields")
    dsets = {}
    for name, trailing, dtype, comps in specs:
        d = fg.create_dataset(name, grid.shape + trailing, np.dtype(dtype))
        set_attrs(d, {"components": comps, "center": "cell",
                      "axes": list(grid.axis_names) + ["component"] * len(trailing)})
        dsets[name] = d
    set_attrs(f, root_attrs)
    return {"coords": coords, "fields": dsets}


def _write_mpio(tmp: Path, decomp, fields, grid, specs, root_attrs) -> None:
    dxpl = _collective_dxpl()
    with h5py.File(tmp, "w", driver="mpio", comm=decomp.cart) as f:
        made = _create_layout(f, grid, specs, root_attrs)
        # Small coordinate arrays: rank 0 writes them, the others join with empty selections.
        for dset, values in made["coords"].values():
            write_block(dset, (0,), values if decomp.is_root else None, dxpl)
        for name, *_ in specs:
            block = np.asarray(fields[name])
            start = tuple(decomp.offsets) + (0,) * (block.ndim - decomp.dim)
            write_block(made["fields"][name], start, block, dxpl)
        f.attrs["complete"] = True  # last: a reader can tell a finished file from a partial one


def _write_gather(tmp: Path, decomp, fields, grid, specs, root_attrs) -> None:
    # Root keeps taking part in every gather even after a failure, then tells everyone: no hang.
    f, error = None, None
    if decomp.is_root:
        try:
            f = h5py.File(tmp, "w")
            made = _create_layout(f, grid, specs, root_attrs)
            for dset, values in made["coords"].values():
                write_block(dset, (0,), values)
        except Exception as exc:  # noqa: BLE001 - reported to every rank below
            error = exc
    for name, *_ in specs:
        glob = decomp.gather(np.asarray(fields[name]))
        if decomp.is_root and error is None:
            try:
                write_block(made["fields"][name], (0,) * glob.ndim, glob)
            except Exception as exc:  # noqa: BLE001
                error = exc
    if f is not None:
        try:
            if error is None:
                f.attrs["complete"] = True
            f.close()
        except Exception as exc:  # noqa: BLE001
            error = error or exc
    message = decomp.bcast(None if error is None else f"{type(error).__name__}: {error}")
    if error is not None:
        raise error
    if message is not None:
        raise OSError(f"write_fields: rank 0 failed to write {tmp}: {message}")


def _root_attrs(attrs: Mapping[str, Any] | None, decomp, method: str) -> dict[str, Any]:
    out = {"format": FORMAT, "format_version": FORMAT_VERSION, "decomposition": decomp.describe()}
    out.update(attrs or {})
    out.update({"hpcclose_version": __version__, "nranks": decomp.size, "dims": list(decomp.dims),
                "created": now_iso(), "io_method": method})
    return out


def write_fields(path: str | os.PathLike, decomp, fields: Mapping[str, np.ndarray],
                 attrs: Mapping[str, Any] | None = None,
                 component_names: Mapping[str, Sequence[str]] | None = None,
                 grid: Grid | None = None, *, method: str = "auto", xdmf: bool = False,
                 fsync: bool = True) -> str:
    """Write owned blocks of global fields into one HDF5 file (collective over ``decomp.cart``).

    Parameters
    ----------
    path : the final file name; written as a hidden temporary and renamed when complete.
    decomp : Decomposition
    fields : name -> owned array, shape ``decomp.local_shape + trailing`` (usually ``(n,)``).
    attrs : root attributes (time, step, closure, basis, N, input_text, …), taken from rank 0.
    component_names : name -> one name per component (default ``<name>0``, ``<name>1``, …).
    grid : the global grid (default ``decomp.grid``).
    method : ``"auto"`` (mpio if h5py is parallel, else gather), ``"mpio"`` or ``"gather"``.
    xdmf : also write the XDMF sidecar ``<path>.xdmf`` (rank 0) for ParaView/VisIt.
    fsync : flush the file and the directory entry to disk before returning.

    Returns
    -------
    str : the path taken, ``"mpio"`` or ``"gather"``.
    """
    path = Path(path)
    grid = decomp.grid if grid is None else grid
    method = _choose_method(method)
    specs = _field_specs(decomp, fields, component_names)
    setup = None
    if decomp.is_root:
        path.parent.mkdir(parents=True, exist_ok=True)
        setup = (temp_name(path), _root_attrs(attrs, decomp, method))
    tmp, root_attrs = decomp.bcast(setup)
    writer = _write_mpio if method == "mpio" else _write_gather
    try:
        writer(tmp, decomp, fields, grid, specs, root_attrs)
        decomp.barrier()  # every rank has closed the file before it is renamed
    except BaseException:
        if decomp.is_root:
            _remove_quietly(tmp)
        raise

    def publish() -> None:
        try:
            commit(tmp, path, fsync)
        except BaseException:
            _remove_quietly(tmp)
            raise
        if xdmf:
            from .xdmf import write_xdmf

            write_xdmf(path)

    root_only(decomp, publish)  # also the final sync: the file exists for every rank on return
    log.info("wrote %s via %s (%d rank(s), fields %s)", path, method, decomp.size,
             ", ".join(s[0] for s in specs))
    return method


# --- reading (plain h5py, any number of ranks) ---------------------------------------------------
def read_fields(path: str | os.PathLike, names: Sequence[str] | None = None
                ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read whole global fields and the root attributes of a field file (serial, plain h5py)."""
    with h5py.File(path, "r") as f:
        group = f["fields"]
        names = list(group) if names is None else list(names)
        return {n: group[n][...] for n in names}, get_attrs(f)


def read_grid(path: str | os.PathLike) -> Grid:
    """The :class:`Grid` a field file was written on."""
    with h5py.File(path, "r") as f:
        a = get_attrs(f["grid"])
    return Grid(tuple(np.ravel(a["lower"])), tuple(np.ravel(a["upper"])),
                tuple(int(c) for c in np.ravel(a["cells"])))


def read_owned(path: str | os.PathLike, decomp, names: Sequence[str]) -> dict[str, np.ndarray]:
    """This rank's owned block of each named global field (slices by ``decomp.global_slices``).

    Independent of the number of ranks that wrote the file; needs only the same global grid.
    """
    out = {}
    with h5py.File(path, "r") as f:
        for name in names:
            d = f["fields"][name]
            if tuple(d.shape[: decomp.dim]) != tuple(decomp.grid.shape):
                raise InputError(f"{path}: field {name!r} has cells {d.shape[: decomp.dim]}, but the "
                                 f"grid has {decomp.grid.shape}")
            out[name] = d[tuple(decomp.global_slices)]
    return out


# --- diagnostics history (one process) -----------------------------------------------------------
def _column(values) -> np.ndarray:
    a = np.asarray(values)
    return a.astype(h5py.string_dtype()) if a.dtype.kind in "UO" else a


def write_timeseries(path_h5: str | os.PathLike | None, path_csv: str | os.PathLike | None,
                     columns: Mapping[str, Sequence], attrs: Mapping[str, Any] | None = None,
                     fsync: bool = True) -> None:
    """Write a diagnostics history (mass, entropy, …) as HDF5 and/or CSV. Call on rank 0 only.

    ``columns`` maps a name to one value per record (all the same length). HDF5: one 1-D dataset
    per column under ``/timeseries`` (root attr ``columns`` keeps the order); CSV: a header line
    and one row per record. Both are written under temporary names and renamed.
    """
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
                    g.create_dataset(name, data=_column(values))
                set_attrs(f, {**(attrs or {}), "columns": list(columns), "hpcclose_version": __version__,
                              "created": now_iso(), "complete": True})
            commit(tmp, path_h5, fsync)
        except BaseException:
            _remove_quietly(tmp)
            raise
    if path_csv is not None:
        # Python floats print as the shortest string that round-trips: no precision is lost.
        buf = io.StringIO()
        out = csv.writer(buf, lineterminator="\n")
        out.writerow(list(columns))
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
