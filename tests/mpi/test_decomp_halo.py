"""Decomposition + HaloExchange on several ranks: ghosts hold the neighbours' cells, gather reassembles.

Run: ``mpiexec -n 2 python -m pytest --with-mpi tests/mpi/test_decomp_halo.py`` (also -n 3, and -n 4
for the 2 x 2 layout). Every test builds the same objects on every rank (collective).
"""

from __future__ import annotations

import numpy as np
import pytest

from hpcclose.errors import InputError
from hpcclose.grid import Grid
from hpcclose.parallel.decomp import block_sizes

SENTINEL = -1.0
N = 3  # components per cell

CASES = [
    (dict(x=(0, 1, 11)), (True,)),
    (dict(x=(0, 1, 11)), (False,)),
    (dict(x=(0, 2, 9), y=(0, 1, 7)), (True, True)),
    (dict(x=(0, 2, 9), y=(0, 1, 7)), (False, False)),
    (dict(x=(0, 2, 9), y=(0, 1, 7)), (True, False)),  # y periodic, x walls
    (dict(x=(0, 2, 9), y=(0, 1, 7)), (False, True)),
]


def _world():
    from hpcclose.parallel.mpi import world

    return world()


def _f(flat_global):
    """The test field: global flat cell index * 10 + component."""
    return flat_global[..., None] * 10.0 + np.arange(N)


def global_field(grid):
    return _f(np.arange(grid.ncells).reshape(grid.shape))


def expected_extended(dc, ng):
    """The extended array after an exchange: f of the (wrapped) global index, sentinel where none arrives."""
    cells = dc.grid.cells
    glob = [np.arange(-dc.ng, m + dc.ng) + o for m, o in zip(dc.local_shape, dc.offsets, strict=True)]
    idx = np.meshgrid(*glob, indexing="ij")
    blocks = list(zip(idx, dc.offsets, dc.local_shape, strict=True))
    outside = [(g < o) | (g >= o + m) for g, o, m in blocks]
    too_far = [(g < o - ng) | (g >= o + m + ng) for g, o, m in blocks]
    wrapped = [g % c if per else g for g, c, per in zip(idx, cells, dc.periodic, strict=True)]
    valid = np.logical_and.reduce([(w >= 0) & (w < c) for w, c in zip(wrapped, cells, strict=True)])
    valid &= sum(o.astype(int) for o in outside) <= 1  # corners: never filled
    valid &= ~np.logical_or.reduce(too_far)
    exp = _f(np.ravel_multi_index([np.clip(w, 0, c - 1) for w, c in zip(wrapped, cells, strict=True)], cells))
    exp[~valid] = SENTINEL
    return exp


def _dims_options(grid, size):
    opts = [None]
    if grid.dim == 2:
        opts += [(size, 1), (1, size)]
    return opts


@pytest.mark.mpi(min_size=2)
@pytest.mark.parametrize("ng", [2, 1])
@pytest.mark.parametrize("extent, periodic", CASES)
def test_halo_matches_neighbours(extent, periodic, ng):
    from hpcclose.parallel.decomp import Decomposition
    from hpcclose.parallel.halo import HaloExchange

    grid = Grid.from_extent(**extent)
    size = _world().Get_size()
    for dims in _dims_options(grid, size):
        if dims is not None and any(p > n for p, n in zip(dims, grid.cells, strict=True)):
            with pytest.raises(InputError, match="ranks along"):
                Decomposition(grid, periodic, dims=dims)
            continue
        dc = Decomposition(grid, periodic, dims=dims)
        thin = any((p > 1 or per) and min(block_sizes(n, p)) < ng
                   for n, p, per in zip(grid.cells, dc.dims, periodic, strict=True))
        if thin:  # all ranks must raise together (no rank left waiting)
            with pytest.raises(InputError, match="thinner than"):
                HaloExchange(dc, N, ng=ng)
            dc.free()
            continue
        halo = HaloExchange(dc, N, ng=ng)
        try:
            assert dc.size == size and np.prod(dc.dims) == size
            exp = expected_extended(dc, ng)
            ext = np.full(dc.extended_shape(N), SENTINEL)
            ext[dc.owned] = exp[dc.owned]
            for it in range(3):  # persistent requests: reusable, and ghosts are overwritten each time
                halo.start(ext)
                halo.finish(ext)
                np.testing.assert_array_equal(ext, exp, err_msg=f"rank {dc.rank} {dc.describe()} it {it}")
                if it == 0:
                    ghosts = np.ones(ext.shape[:-1], bool)
                    ghosts[dc.owned] = False
                    ext[ghosts & (exp[..., 0] != SENTINEL)] = 1e9  # must be overwritten next time
        finally:
            halo.free()
            dc.free()


@pytest.mark.mpi(min_size=2)
@pytest.mark.parametrize("extent, periodic", CASES)
def test_neighbours_and_walls(extent, periodic):
    from hpcclose.parallel.decomp import Decomposition

    dc = Decomposition(Grid.from_extent(**extent), periodic)
    try:
        for d in range(dc.dim):
            lo, hi = dc.neighbours[d]
            first, last = dc.coords[d] == 0, dc.coords[d] == dc.dims[d] - 1
            assert dc.is_lower_wall(d) == (first and not periodic[d])
            assert dc.is_upper_wall(d) == (last and not periodic[d])
            # The lower neighbour's block ends where mine starts (modulo the wrap).
            if not dc.is_lower_wall(d):
                offs, shape = dc.block_of(lo)
                assert (offs[d] + shape[d]) % dc.grid.cells[d] == dc.offsets[d]
            if not dc.is_upper_wall(d):
                offs, _ = dc.block_of(hi)
                assert offs[d] == (dc.offsets[d] + dc.local_shape[d]) % dc.grid.cells[d]
    finally:
        dc.free()


@pytest.mark.mpi(min_size=2)
@pytest.mark.parametrize("extent, periodic", CASES)
def test_gather_scatter_roundtrip(extent, periodic):
    from hpcclose.parallel.decomp import Decomposition

    grid = Grid.from_extent(**extent)
    dc = Decomposition(grid, periodic)
    try:
        glob = global_field(grid)
        mine = dc.local_from_global(glob)
        assert mine.shape == dc.local_shape + (N,)
        # Blocks tile the grid: counts add up, and the owned values are f of the global index.
        assert dc.sum(dc.ncells_local) == grid.ncells
        flat = np.arange(dc.ncells_local)
        gidx = dc.global_cell_index(flat)
        np.testing.assert_array_equal(mine.reshape(-1, N), _f(np.ravel_multi_index(gidx, grid.shape)))
        assert dc.to_local(dc.to_global((0,) * dc.dim)) == (0,) * dc.dim
        gathered = dc.gather(mine)
        if dc.is_root:
            np.testing.assert_array_equal(gathered, glob)
        else:
            assert gathered is None
        last = dc.size - 1  # another root, and an array without a component axis
        g32 = dc.gather(mine[..., 0].astype(np.int32), root=last)
        if dc.rank == last:
            np.testing.assert_array_equal(g32, glob[..., 0].astype(np.int32))
        else:
            assert g32 is None
        got = dc.scatter(glob if dc.is_root else None)
        assert got.dtype == glob.dtype
        np.testing.assert_array_equal(got, mine)
    finally:
        dc.free()


@pytest.mark.mpi(min_size=2)
def test_collectives_and_describe():
    from hpcclose.parallel.decomp import Decomposition

    dc = Decomposition(Grid.from_extent(x=(0, 1, 8), y=(0, 1, 8)), (True, False))
    try:
        r, s = dc.rank, dc.size
        if s == 4:
            assert dc.dims == (2, 2)  # the least-cut layout of a square grid
        assert dc.sum(r) == s * (s - 1) // 2
        assert dc.min(float(r)) == 0.0 and dc.max(r) == s - 1
        assert dc.max(r == 1) is True and dc.min(r == 1) is False
        assert dc.sum(r == 0) == 1
        np.testing.assert_array_equal(dc.sum(np.array([r, 1])), [s * (s - 1) // 2, s])
        np.testing.assert_array_equal(dc.max(np.array([r, -r])), [s - 1, 0])
        assert dc.bcast(r * 7 + 1) == 1
        d = dc.describe()
        assert f"{s} rank(s)" in d and "y periodic" in d and "x walls" in d
        assert dc.to_global((0, 0)) == dc.offsets
        assert dc.to_local(dc.offsets) == (0, 0)
        assert dc.sum(int(dc.to_local((0, 0)) is not None)) == 1  # exactly one rank owns a cell
    finally:
        dc.free()


@pytest.mark.mpi(min_size=2)
def test_bad_dims_raise_on_every_rank():
    from hpcclose.parallel.decomp import Decomposition

    size = _world().Get_size()
    with pytest.raises(InputError, match="multiply to the number of ranks"):
        Decomposition(Grid.from_extent(x=(0, 1, 10)), False, dims=(size + 1,))
    with pytest.raises(InputError, match=f"{size} ranks along x but only 1 x cells"):
        Decomposition(Grid.from_extent(x=(0, 1, 1), y=(0, 1, 10)), False, dims=(1, size))
