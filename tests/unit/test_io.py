"""hpcclose.io on one rank: field files, XDMF sidecars, time series, checkpoints and crash safety."""

from __future__ import annotations

import csv
import json
import logging
import xml.etree.ElementTree as ET
from pathlib import Path

import h5py
import numpy as np
import pytest

import hpcclose
from hpcclose.errors import InputError
from hpcclose.grid import Grid
from hpcclose.io import fields as fields_mod
from hpcclose.io import (
    latest_checkpoint,
    mpio_available,
    read_checkpoint,
    read_fields,
    read_grid,
    read_timeseries,
    write_checkpoint,
    write_fields,
    write_timeseries,
    write_xdmf,
    write_xdmf_series,
)
from hpcclose.parallel.decomp import Decomposition

N = 3
METHODS = ["gather"] + (["mpio"] if mpio_available() else [])
GRIDS = {"1d": dict(x=(-1.0, 1.0, 7)), "2d": dict(x=(0.0, 2.0, 5), y=(0.0, 1.0, 4))}


def _decomp(kind: str) -> Decomposition:
    from mpi4py import MPI

    return Decomposition(Grid.from_extent(**GRIDS[kind]), False, comm=MPI.COMM_SELF)


def _state(grid: Grid, scale: float = 1.0) -> np.ndarray:
    flat = np.arange(grid.ncells, dtype=float).reshape(grid.shape)
    return scale * (flat[..., None] * 10.0 + np.arange(N))


def _no_temp_files(d: Path) -> bool:
    return not [p for p in d.rglob("*") if ".tmp-" in p.name]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("kind", ["1d", "2d"])
def test_round_trip(tmp_path, kind, method, caplog):
    dc = _decomp(kind)
    u = _state(dc.grid)
    count = np.arange(dc.grid.ncells, dtype=np.int32).reshape(dc.grid.shape)  # no component axis
    attrs = dict(time=0.25, step=7, closure="newton", basis="legendre", N=N - 1, input_text="[grid]\n")
    out = tmp_path / "out" / "fields_000007.h5"
    with caplog.at_level(logging.INFO, logger="hpcclose"):
        used = write_fields(out, dc, {"u": u, "iters": count}, attrs, {"u": ["rho", "j", "k"]}, method=method)
    assert used == method
    assert f"via {method}" in caplog.text
    assert _no_temp_files(tmp_path)

    fields, got = read_fields(out)
    np.testing.assert_array_equal(fields["u"], u)
    np.testing.assert_array_equal(fields["iters"], count)
    assert fields["iters"].dtype == np.int32
    assert got["time"] == 0.25 and got["step"] == 7 and got["closure"] == "newton" and got["N"] == N - 1
    assert got["input_text"] == "[grid]\n"
    assert got["hpcclose_version"] == hpcclose.__version__ and got["nranks"] == 1
    assert got["complete"] is True and got["io_method"] == method and "created" in got
    assert read_grid(out) == dc.grid
    with h5py.File(out, "r") as f:
        assert list(f["fields/u"].attrs["components"]) == ["rho", "j", "k"]
        for a, ax in enumerate(dc.grid.axis_names):
            np.testing.assert_allclose(f[f"grid/{ax}"][...], dc.grid.centers(a))
            np.testing.assert_allclose(f[f"grid/{ax}_edges"][...], dc.grid.edges(a))


def test_bad_field_shape_raises(tmp_path):
    dc = _decomp("1d")
    with pytest.raises(ValueError, match="local shape"):
        write_fields(tmp_path / "a.h5", dc, {"u": np.zeros((3, N))})
    with pytest.raises(ValueError, match="component names"):
        write_fields(tmp_path / "a.h5", dc, {"u": _state(dc.grid)}, component_names={"u": ["a"]})
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("method", METHODS)
def test_failed_write_leaves_no_file(tmp_path, monkeypatch, method):
    dc = _decomp("2d")
    calls = []

    def broken(dset, start, block, dxpl=None):
        calls.append(dset.name)
        if dset.name.startswith("/fields"):
            raise OSError("disk full (simulated)")

    monkeypatch.setattr(fields_mod, "write_block", broken)
    with pytest.raises(OSError, match="simulated"):
        write_fields(tmp_path / "f.h5", dc, {"u": _state(dc.grid)}, method=method)
    assert calls and not list(tmp_path.iterdir())


# --- XDMF ---------------------------------------------------------------------------------------------
def _check_xdmf(xdmf: Path) -> list[ET.Element]:
    """Every HDF reference exists with the declared dimensions; slabs and meshes are consistent."""
    root = ET.parse(xdmf).getroot()
    assert root.tag == "Xdmf" and root.get("Version") == "3.0"
    grids = [g for g in root.iter("Grid") if g.get("GridType") == "Uniform"]
    assert grids
    for g in grids:
        for item in g.iter("DataItem"):
            if item.get("Format") != "HDF":
                continue
            fname, dpath = item.text.strip().split(":", 1)
            with h5py.File(xdmf.parent / fname, "r") as f:
                assert dpath in f, dpath
                assert tuple(f[dpath].shape) == tuple(int(n) for n in item.get("Dimensions").split())
                assert int(item.get("Precision")) == f[dpath].dtype.itemsize
        topo = g.find("Topology")
        assert topo.get("TopologyType") == "2DRectMesh"
        npts = [int(n) for n in topo.get("Dimensions").split()]
        geo = g.find("Geometry")
        assert geo.get("GeometryType") == "VXVY"
        vx, vy = geo.findall("DataItem")
        assert [int(vy.get("Dimensions")), int(vx.get("Dimensions"))] == npts  # VX is x, VY is y
        cells = [n - 1 for n in npts]
        for att in g.findall("Attribute"):
            assert att.get("Center") == "Cell"
            item = att.find("DataItem")
            assert [int(n) for n in item.get("Dimensions").split()] == cells  # the mesh's cell shape
            assert item.get("ItemType") == "HyperSlab"
            sel, src = item.findall("DataItem")
            rows = np.array(sel.text.split(), dtype=int).reshape(3, -1)  # start, stride, count
            src_dims = [int(n) for n in src.get("Dimensions").split()]
            assert rows.shape[1] == len(src_dims) and np.prod(rows[2]) == np.prod(cells)
            assert all(rows[0] + (rows[2] - 1) * rows[1] < src_dims)
    return grids


@pytest.mark.parametrize("kind", ["1d", "2d"])
def test_xdmf_sidecar(tmp_path, kind):
    dc = _decomp(kind)
    out = tmp_path / "fields_000003.h5"
    write_fields(out, dc, {"u": _state(dc.grid), "alpha": -_state(dc.grid)}, {"time": 0.5, "step": 3})
    write_xdmf(out)
    xdmf = out.with_suffix(".xdmf")
    assert xdmf.is_file() and _no_temp_files(tmp_path)
    (g,) = _check_xdmf(xdmf)
    assert float(g.find("Time").get("Value")) == 0.5
    names = [a.get("Name") for a in g.findall("Attribute")]
    assert names == [f"alpha{k}" for k in range(N)] + [f"u{k}" for k in range(N)]
    # Sidecar in another directory: the reference is relative to it.
    other = write_xdmf(out, tmp_path / "view" / "a.xdmf")
    _check_xdmf(other)


def test_xdmf_series(tmp_path):
    dc = _decomp("2d")
    files = []
    for step in range(3):
        p = tmp_path / "out" / f"fields_{step:06d}.h5"
        write_fields(p, dc, {"u": _state(dc.grid, step + 1.0)}, {"time": 0.1 * step, "step": step})
        files.append(p)
    series = write_xdmf_series(files, tmp_path / "series.xdmf")
    grids = _check_xdmf(series)
    assert [float(g.find("Time").get("Value")) for g in grids] == [0.0, 0.1, 0.2]
    coll = ET.parse(series).getroot().find("Domain/Grid")
    assert coll.get("GridType") == "Collection" and coll.get("CollectionType") == "Temporal"


# --- time series ------------------------------------------------------------------------------------------
def test_timeseries(tmp_path):
    cols = {"step": [0, 1, 2], "time": [0.0, 0.1, 0.30000000000000004], "mass": [1.0, 1 / 3, 2e-17],
            "closure": ["newton", "newton", "net"]}
    write_timeseries(tmp_path / "diag.h5", tmp_path / "diag.csv", cols, attrs={"problem": "plane"})
    assert _no_temp_files(tmp_path)
    got, attrs = read_timeseries(tmp_path / "diag.h5")
    assert list(got) == list(cols) and attrs["problem"] == "plane"
    np.testing.assert_array_equal(got["mass"], cols["mass"])
    assert list(got["closure"]) == cols["closure"]
    with open(tmp_path / "diag.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == list(cols)
    assert [float(r[2]) for r in rows[1:]] == cols["mass"]  # exact round trip
    with pytest.raises(ValueError, match="length"):
        write_timeseries(None, tmp_path / "bad.csv", {"a": [1], "b": [1, 2]})


# --- checkpoints ------------------------------------------------------------------------------------------
def _ckpt(dc, run, step, **kw):
    u = _state(dc.grid, step + 1.0)
    return write_checkpoint(run, dc, u, -u, 0.01 * step, step, "input = 1\n", {"closure": "newton"}, **kw)


def test_checkpoint_keep_last_and_latest(tmp_path):
    dc = _decomp("2d")
    run = tmp_path / "run"
    assert latest_checkpoint(run) is None
    for step in (10, 20, 30, 40):
        path = _ckpt(dc, run, step, rng_state={"seed": 5, "draws": step})
        assert path.name == f"checkpoint_{step:08d}.h5"
        assert (run / "latest").read_text().strip() == path.name
    assert sorted(p.name for p in run.iterdir()) == ["checkpoint_00000030.h5", "checkpoint_00000040.h5",
                                                      "latest"]
    assert latest_checkpoint(run) == run / "checkpoint_00000040.h5"
    u, alpha, t, step, text, attrs = read_checkpoint(run, dc)
    np.testing.assert_array_equal(u, _state(dc.grid, 41.0))
    np.testing.assert_array_equal(alpha, -u)
    assert (t, step, text) == (0.4, 40, "input = 1\n")
    assert attrs["rng_state"] == {"seed": 5, "draws": 40} and attrs["closure"] == "newton"
    assert attrs["kind"] == "checkpoint"
    # keep=1, and no alpha
    write_checkpoint(run, dc, _state(dc.grid), None, 0.5, 50, keep=1)
    assert sorted(p.name for p in run.glob("*.h5")) == ["checkpoint_00000050.h5"]
    u, alpha, *_ = read_checkpoint(run / "checkpoint_00000050.h5", dc)
    assert alpha is None


def test_crash_during_checkpoint_keeps_previous(tmp_path, monkeypatch):
    dc = _decomp("1d")
    run = tmp_path / "run"
    _ckpt(dc, run, 1)
    _ckpt(dc, run, 2)
    real = fields_mod.write_block

    def crash(dset, start, block, dxpl=None):
        if dset.name == "/fields/alpha":
            raise RuntimeError("killed mid-write (simulated)")
        real(dset, start, block, dxpl)

    monkeypatch.setattr(fields_mod, "write_block", crash)
    with pytest.raises(RuntimeError, match="simulated"):
        _ckpt(dc, run, 3)
    monkeypatch.undo()
    assert sorted(p.name for p in run.iterdir()) == ["checkpoint_00000001.h5", "checkpoint_00000002.h5",
                                                      "latest"]
    assert latest_checkpoint(run) == run / "checkpoint_00000002.h5"
    u, _, t, step, *_ = read_checkpoint(run, dc)
    np.testing.assert_array_equal(u, _state(dc.grid, 3.0))
    assert step == 2


def test_crash_leftovers_are_ignored(tmp_path):
    """A killed writer leaves a temp file (maybe a stale pointer): restart finds the newest good one."""
    dc = _decomp("1d")
    run = tmp_path / "run"
    _ckpt(dc, run, 1)
    _ckpt(dc, run, 2)
    (run / ".checkpoint_00000003.h5.tmp-999").write_bytes(b"\x89HDF partial")
    assert latest_checkpoint(run) == run / "checkpoint_00000002.h5"
    (run / "latest").write_text("checkpoint_00000009.h5\n")  # points at nothing
    (run / "checkpoint_00000005.h5").write_bytes(b"garbage")  # unreadable
    assert latest_checkpoint(run) == run / "checkpoint_00000002.h5"
    # An incomplete file (no complete attribute) is skipped too.
    with h5py.File(run / "checkpoint_00000004.h5", "w") as f:
        f.attrs["format"] = "hpcclose-fields"
        f.create_dataset("fields/u", data=np.zeros((7, N)))
    assert latest_checkpoint(run) == run / "checkpoint_00000002.h5"


def test_read_checkpoint_checks_grid(tmp_path):
    dc = _decomp("1d")
    _ckpt(dc, tmp_path, 1)
    from mpi4py import MPI

    other = Decomposition(Grid.from_extent(x=(-1.0, 1.0, 8)), False, comm=MPI.COMM_SELF)
    with pytest.raises(InputError, match="written on"):
        read_checkpoint(tmp_path, other)
    with pytest.raises(InputError, match="no complete checkpoint"):
        read_checkpoint(tmp_path / "empty", dc)


def test_attr_conversion():
    from hpcclose.io.attrs import from_attr, to_attr

    assert to_attr(None) is None
    assert json.loads(to_attr({"a": 1})) == {"a": 1}
    assert from_attr(to_attr(Path("/x"))) == "/x"
    assert list(to_attr([1, 2.5])) == [1.0, 2.5]
    assert from_attr(np.bool_(True)) is True
