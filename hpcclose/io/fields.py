"""Field output: one self-describing HDF5 file per output time, written in parallel.

Layout (format ``hpcclose-fields``, version 1) — one file per output time, because a file is then
complete or absent (the temp-name + rename below), can be deleted, copied or opened on its own, and
a crash never corrupts earlier output (PyFR's native writer makes the same choice)::

    /fields/<name>      global array, shape grid.shape + trailing (1D: (nx, n); 2D: (ny, nx, n)),
                        contiguous, attrs: components (names, one per trailing entry), axes, center,
                        and what the caller adds (hpcclose's runs: long_name, units, component_long_names,
                        current_components; see io/run_dir.py)
    /grid/<ax>          cell centres per axis ('x'; 2D also 'y'), /grid/<ax>_edges the faces, each with
                        long_name and units; group attrs axes, lower, upper, cells (enough to rebuild the Grid)
    root attrs          whatever the caller passes (time, step, closure, basis, N, input_text, …)
                        plus format, format_version, hpcclose_version, nranks, dims, decomposition,
                        units_convention, created (ISO 8601, UTC), io_method, and complete=True written last.

Units follow CF: every dataset hpcclose writes has ``units`` and ``long_name``; the code is nondimensional
(:data:`UNITS_CONVENTION`), so ``units`` is "1" and the long name says in which unit of the problem.

Writing (Dedalus' evaluator): with a parallel h5py (``h5py.get_config().mpi``) every rank opens
the file with ``driver="mpio"`` on ``decomp.cart`` and writes its owned block of each global
dataset in ONE collective H5Dwrite (low-level, with a collective transfer list — what
``with dset.collective:`` sets — because h5py's high-level ``dset[sel] = a`` returns early on an
empty selection, which would leave the other ranks waiting in the collective). A rank with nothing
to write takes part with an empty selection. Otherwise (serial h5py) the blocks are gathered to
rank 0 (:meth:`Decomposition.gather`) and written serially. The path taken is logged and returned.

Every file is written under :func:`~hpcclose.io.files.temp_name` in the target directory (name
chosen on rank 0 and broadcast), fsynced, and renamed by rank 0 (:func:`~hpcclose.io.files.commit`)
once every rank has closed it: readers never see a partial file under the final name. Whether a
file also gets an XDMF sidecar is the caller's choice (:mod:`hpcclose.io.run_dir`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from .. import __version__
from ..errors import InputError
from ..grid import Grid
from .attrs import get_attrs, set_attrs
from .files import commit, now_iso, remove_quietly, temp_name

log = logging.getLogger("hpcclose")

FORMAT = "hpcclose-fields"
FORMAT_VERSION = 1
METHODS = ("auto", "mpio", "gather")
#: What ``units`` = "1" means on hpcclose's datasets (the root attribute ``units_convention`` says it too).
UNITS_CONVENTION = ("nondimensional: lengths in the problem's length unit (that of the input's mesh), times in "
                    "that unit over the particle speed (c = 1), moments u in the units of the problem's angular "
                    "density psi (its initial and boundary data), multipliers alpha such that psi = exp(alpha.m); "
                    "units = '1' marks such numbers")


def mpio_available() -> bool:
    """True if this h5py was built against parallel HDF5 (the ``mpio`` driver exists)."""
    return bool(h5py.get_config().mpi)


# --- field specs (checked collectively: a mismatch raises on every rank, never hangs) -------------
def _field_specs(decomp, fields: Mapping[str, np.ndarray], component_names, field_attrs) -> list[tuple]:
    """[(name, trailing shape, dtype str, component names, dataset attributes)] as on root, after checking
    every rank."""
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
        specs.append((name, tuple(trailing), dtype, None if names is None else list(names),
                      dict((field_attrs or {}).get(name, {}))))
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


CHUNK_BYTES = 1 << 20  # checksummed datasets: ~1 MiB chunks (HDF5 filters need chunked storage)


def _chunks(shape: tuple[int, ...], itemsize: int) -> tuple[int, ...]:
    """A chunk shape of about CHUNK_BYTES: whole trailing axes, as many leading rows as fit (≥ 1)."""
    chunk = list(shape)
    for a in range(len(shape)):
        inner = itemsize * int(np.prod(shape[a + 1:], dtype=np.int64))
        if inner * shape[a] <= CHUNK_BYTES:
            break
        chunk[a] = max(1, CHUNK_BYTES // inner)
        if inner <= CHUNK_BYTES:
            break
        chunk[a] = 1
    return tuple(chunk)


def _create_layout(f: h5py.File, grid: Grid, specs, root_attrs: Mapping[str, Any], checksum: bool = False) -> dict:
    """Groups, datasets and attributes (identical calls on every rank for mpio). Returns the datasets.

    ``checksum``: the field datasets carry HDF5's Fletcher32 filter, so a reader detects flipped bits.
    """
    g = f.create_group("grid")
    set_attrs(g, {"axes": list(grid.axis_names), "lower": list(grid.lower), "upper": list(grid.upper),
                  "cells": list(grid.cells)})
    coords = {}  # dataset → (axis, faces?): the values are computed by the rank(s) that write them
    for a, ax in enumerate(grid.axis_names):
        for key, size, faces, where in ((ax, grid.cells[a], False, "cell centres"),
                                         (f"{ax}_edges", grid.cells[a] + 1, True, "cell faces")):
            coords[key] = (g.create_dataset(key, (size,), "f8"), a, faces)
            set_attrs(coords[key][0], {"long_name": f"{ax}, {where} (the problem's length unit)", "units": "1"})
    fg = f.create_group("fields")
    dsets = {}
    for name, trailing, dtype, comps, attrs in specs:
        shape, dt = grid.shape + trailing, np.dtype(dtype)
        filters = {"chunks": _chunks(shape, dt.itemsize), "fletcher32": True} if checksum else {}
        d = fg.create_dataset(name, shape, dt, **filters)
        set_attrs(d, {"components": comps, "center": "cell",
                      "axes": list(grid.axis_names) + ["component"] * len(trailing), **attrs})
        dsets[name] = d
    set_attrs(f, root_attrs)
    return {"coords": coords, "fields": dsets}


def _coordinate_part(decomp, axis: int, faces: bool) -> tuple[int | None, int | None]:
    """The part ``start:stop`` of an axis' centres (or faces) this rank writes; (None, None) for none.

    The ranks whose Cartesian coordinates along the other axes are 0 write their block's range; for
    faces the last rank along the axis also writes the closing face.
    """
    if any(c != 0 for d, c in enumerate(decomp.coords) if d != axis):
        return None, None
    start = decomp.offsets[axis]
    stop = start + decomp.local_shape[axis]
    last = decomp.coords[axis] == decomp.dims[axis] - 1
    return start, stop + 1 if faces and last else stop


def _write_mpio(tmp: Path, decomp, fields, grid, specs, root_attrs, checksum: bool) -> None:
    dxpl = _collective_dxpl()
    with h5py.File(tmp, "w", driver="mpio", comm=decomp.cart) as f:
        made = _create_layout(f, grid, specs, root_attrs, checksum)
        # Coordinates: along each axis the ranks first along the other axes write their own part (no
        # rank computes a whole axis: scales to any grid); the others join with empty selections.
        for dset, a, faces in made["coords"].values():
            start, stop = _coordinate_part(decomp, a, faces)
            values = None if start is None else (grid.edges if faces else grid.centers)(a, start, stop)
            write_block(dset, (start or 0,), values, dxpl)
        for name, *_ in specs:
            block = np.asarray(fields[name])
            start = tuple(decomp.offsets) + (0,) * (block.ndim - decomp.dim)
            write_block(made["fields"][name], start, block, dxpl)
        f.attrs["complete"] = True  # last: a reader can tell a finished file from a partial one


def _write_gather(tmp: Path, decomp, fields, grid, specs, root_attrs, checksum: bool) -> None:
    # Root keeps taking part in every gather even after a failure, then tells everyone: no hang.
    f, error = None, None
    if decomp.is_root:
        try:
            f = h5py.File(tmp, "w")
            made = _create_layout(f, grid, specs, root_attrs, checksum)
            for dset, a, faces in made["coords"].values():
                write_block(dset, (0,), grid.edges(a) if faces else grid.centers(a))
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
    out = {"format": FORMAT, "format_version": FORMAT_VERSION, "decomposition": decomp.describe(),
           "units_convention": UNITS_CONVENTION}
    out.update(attrs or {})
    out.update({"hpcclose_version": __version__, "nranks": decomp.size, "dims": list(decomp.dims),
                "created": now_iso(), "io_method": method})
    return out


def write_fields(path: str | os.PathLike, decomp, fields: Mapping[str, np.ndarray],
                 attrs: Mapping[str, Any] | None = None,
                 component_names: Mapping[str, Sequence[str]] | None = None,
                 grid: Grid | None = None, *, method: str = "auto", fsync: bool = True,
                 checksum: bool = False, field_attrs: Mapping[str, Mapping[str, Any]] | None = None) -> str:
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
    fsync : flush the file and the directory entry to disk before returning.
    checksum : Fletcher32 checksums on the field datasets (chunked storage), checked by every read.
    field_attrs : name -> more attributes of that field's dataset (``long_name``, ``units``, …).

    Returns
    -------
    str : the path taken, ``"mpio"`` or ``"gather"``.
    """
    path = Path(path)
    grid = decomp.grid if grid is None else grid
    method = _choose_method(method)
    specs = _field_specs(decomp, fields, component_names, field_attrs)
    setup = None
    if decomp.is_root:
        path.parent.mkdir(parents=True, exist_ok=True)
        setup = (temp_name(path), _root_attrs(attrs, decomp, method))
    tmp, root_attrs = decomp.bcast(setup)
    writer = _write_mpio if method == "mpio" else _write_gather
    try:
        writer(tmp, decomp, fields, grid, specs, root_attrs, checksum)
        decomp.barrier()  # every rank has closed the file before it is renamed
    except BaseException:
        if decomp.is_root:
            remove_quietly(tmp)
        raise

    def publish() -> None:
        try:
            commit(tmp, path, fsync)
        except BaseException:
            remove_quietly(tmp)
            raise

    decomp.root_only(publish)  # also the final sync: the file exists for every rank on return
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
