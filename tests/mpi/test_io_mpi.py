"""hpcclose.io on several ranks: collective mpio writes, plain-h5py reads, restart on another rank count.

Run: ``mpiexec -n 2 python -m pytest --with-mpi tests/mpi/test_io_mpi.py`` (also -n 3). Every test
is collective: all ranks build the same objects and share one directory made by rank 0.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import h5py
import numpy as np
import pytest

from hpcclose.grid import Grid
from hpcclose.io import (
    latest_checkpoint,
    mpio_available,
    read_checkpoint,
    read_fields,
    write_checkpoint,
    write_fields,
    write_xdmf,
)
from hpcclose.io.fields import write_block
from hpcclose.parallel.decomp import Decomposition

N = 3
EXPECTED = "mpio" if mpio_available() else "gather"
GRIDS = {"1d": dict(x=(0.0, 1.0, 11)), "2d": dict(x=(0.0, 2.0, 9), y=(-1.0, 1.0, 7))}


def _world():
    from hpcclose.parallel.mpi import world

    return world()


@pytest.fixture
def shared_dir():
    """One directory for all ranks (made by rank 0), removed after the test."""
    comm = _world()
    path = Path(comm.bcast(tempfile.mkdtemp(prefix="hpcclose-io-") if comm.rank == 0 else None))
    yield path
    comm.Barrier()
    if comm.rank == 0:
        shutil.rmtree(path, ignore_errors=True)


def global_field(grid: Grid, scale: float = 1.0) -> np.ndarray:
    """Cell index * 10 + component: every value says where it belongs."""
    flat = np.arange(grid.ncells, dtype=float).reshape(grid.shape)
    return scale * (flat[..., None] * 10.0 + np.arange(N))


def _no_temp_files(d: Path) -> bool:
    return not [p for p in d.rglob("*") if ".tmp-" in p.name]


def _layouts(size: int):
    """(kind, dims): default layouts in 1D and 2D, plus both 2D strip layouts."""
    return [("1d", None), ("2d", None), ("2d", (size, 1)), ("2d", (1, size))]


@pytest.mark.mpi(min_size=2)
@pytest.mark.parametrize("case", range(4))
def test_write_fields_collective(shared_dir, case):
    comm = _world()
    kind, dims = _layouts(comm.size)[case]
    dc = Decomposition(Grid.from_extent(**GRIDS[kind]), False, comm=comm, dims=dims)
    g = global_field(dc.grid)
    owned = dc.local_from_global(g)
    out = shared_dir / "fields_000001.h5"
    used = write_fields(out, dc, {"u": owned, "rank": np.full(dc.local_shape, dc.rank, np.int32)},
                        {"time": 0.5, "step": 1, "input_text": "x = 1\n"})
    dc.root_only(lambda: write_xdmf(out))
    assert used == EXPECTED
    assert out.is_file() and out.with_suffix(".xdmf").is_file() and _no_temp_files(shared_dir)
    # Plain h5py, on every rank: the global dataset equals the state, gathered or not.
    fields, attrs = read_fields(out)
    np.testing.assert_array_equal(fields["u"], g)
    assert attrs["nranks"] == comm.size and list(attrs["dims"]) == list(dc.dims)
    assert attrs["io_method"] == EXPECTED and attrs["complete"] is True
    gathered = dc.gather(owned)
    if dc.is_root:
        np.testing.assert_array_equal(fields["u"], gathered)
    # Every rank's block was written by that rank.
    np.testing.assert_array_equal(fields["rank"][dc.global_slices], dc.rank)
    # The coordinates, written in parts by the ranks, are the whole axes (faces as np.linspace gives them).
    with h5py.File(out, "r") as f:
        for a, ax in enumerate(dc.grid.axis_names):
            lo, hi, n = dc.grid.lower[a], dc.grid.upper[a], dc.grid.cells[a]
            np.testing.assert_array_equal(f[f"grid/{ax}"][...], lo + (np.arange(n) + 0.5) * ((hi - lo) / n))
            np.testing.assert_array_equal(f[f"grid/{ax}_edges"][...], np.linspace(lo, hi, n + 1))
    dc.free()


@pytest.mark.mpi(min_size=2)
def test_gather_path_on_several_ranks(shared_dir):
    comm = _world()
    dc = Decomposition(Grid.from_extent(**GRIDS["2d"]), True, comm=comm)
    g = global_field(dc.grid)
    assert write_fields(shared_dir / "g.h5", dc, {"u": dc.local_from_global(g)}, method="gather") == "gather"
    np.testing.assert_array_equal(read_fields(shared_dir / "g.h5")[0]["u"], g)
    dc.free()


@pytest.mark.mpi(min_size=2)
@pytest.mark.skipif(not mpio_available(), reason="h5py without parallel HDF5")
def test_empty_selection_does_not_hang(shared_dir):
    """Only the last rank writes; the others join the collective write with nothing."""
    comm = _world()
    last = comm.size - 1
    dxpl = h5py.h5p.create(h5py.h5p.DATASET_XFER)
    dxpl.set_dxpl_mpio(h5py.h5fd.MPIO_COLLECTIVE)
    path = shared_dir / "sparse.h5"
    with h5py.File(path, "w", driver="mpio", comm=comm) as f:
        d = f.create_dataset("a", (4, 2), "f8")
        write_block(d, (1, 0), np.ones((2, 2)) if comm.rank == last else None, dxpl)
    comm.Barrier()
    with h5py.File(path, "r") as f:
        np.testing.assert_array_equal(f["a"][...], [[0, 0], [1, 1], [1, 1], [0, 0]])


@pytest.mark.mpi(min_size=2)
@pytest.mark.parametrize("kind", ["1d", "2d"])
def test_checkpoint_same_ranks(shared_dir, kind):
    comm = _world()
    dc = Decomposition(Grid.from_extent(**GRIDS[kind]), True, comm=comm)
    run = shared_dir / "run"
    for step in (2, 3):  # keep=1: the second write removes the first (pruning on rank 0 only)
        u = dc.local_from_global(global_field(dc.grid, step))
        write_checkpoint(run, dc, u, 2 * u, 0.1 * step, step, "input\n", rng_state=[1, 2, step], keep=1)
    assert latest_checkpoint(run) == run / "checkpoint_00000003.h5"
    assert sorted(p.name for p in run.glob("*.h5")) == ["checkpoint_00000003.h5"]
    got_u, got_alpha, t, step, text, attrs = read_checkpoint(run, dc)
    np.testing.assert_array_equal(got_u, u)
    np.testing.assert_array_equal(got_alpha, 2 * u)
    assert (step, text, attrs["rng_state"]) == (3, "input\n", [1, 2, 3])
    assert t == pytest.approx(0.3) and attrs["nranks"] == comm.size
    dc.free()


@pytest.mark.mpi(min_size=2)
@pytest.mark.parametrize("kind", ["1d", "2d"])
def test_restart_on_other_rank_count(shared_dir, kind):
    """Write on all P ranks, restart on P-1 (a split communicator), and the other way round."""
    comm = _world()
    grid = Grid.from_extent(**GRIDS[kind])
    g = global_field(grid)
    full = Decomposition(grid, (False,) * grid.dim, comm=comm)
    sub_comm = comm.Split(0 if comm.rank < comm.size - 1 else 1, comm.rank)
    in_sub = comm.rank < comm.size - 1
    sub = Decomposition(grid, (False,) * grid.dim, comm=sub_comm) if in_sub else None

    write_checkpoint(shared_dir / "p", full, full.local_from_global(g), None, 1.0, 10)
    comm.Barrier()
    if in_sub:
        u, alpha, t, step, _, attrs = read_checkpoint(shared_dir / "p", sub)
        np.testing.assert_array_equal(u, sub.local_from_global(g))
        assert alpha is None and step == 10 and attrs["nranks"] == comm.size

        u2, alpha2 = sub.local_from_global(2 * g), sub.local_from_global(g)
        write_checkpoint(shared_dir / "q", sub, u2, alpha2, 2.0, 20)
    comm.Barrier()
    u, alpha, t, step, _, attrs = read_checkpoint(shared_dir / "q", full)
    np.testing.assert_array_equal(u, full.local_from_global(2 * g))
    np.testing.assert_array_equal(alpha, full.local_from_global(g))
    assert (t, step, attrs["nranks"]) == (2.0, 20, comm.size - 1)
    if sub is not None:
        sub.free()
    full.free()
    sub_comm.Free()


@pytest.mark.mpi(min_size=2)
@pytest.mark.parametrize("where", ["commit", "gather-write"])
def test_root_failure_reaches_every_rank(shared_dir, monkeypatch, where):
    """A failure on rank 0 alone (rename, or its serial write) raises on every rank: no hang, no file."""
    from hpcclose.io import fields as fields_mod

    comm = _world()
    dc = Decomposition(Grid.from_extent(**GRIDS["1d"]), False, comm=comm)

    def broken(*args, **kwargs):
        raise OSError("no space left (simulated)")

    if comm.rank == 0:
        monkeypatch.setattr(fields_mod, "commit" if where == "commit" else "write_block", broken)
    method = "auto" if where == "commit" else "gather"
    with pytest.raises(OSError, match="simulated"):
        write_fields(shared_dir / "f.h5", dc, {"u": dc.local_from_global(global_field(dc.grid))},
                     method=method)
    comm.Barrier()
    assert not list(shared_dir.iterdir())
    dc.free()
