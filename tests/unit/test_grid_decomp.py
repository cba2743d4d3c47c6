"""Grid, block partition, and a one-rank Decomposition + HaloExchange (periodic wrap is a send to self)."""

from __future__ import annotations

import numpy as np
import pytest

from hpcclose.errors import InputError
from hpcclose.grid import NG, Grid
from hpcclose.parallel.decomp import block_offsets, block_sizes, choose_dims

SENTINEL = -1.0


# --- Grid ---------------------------------------------------------------------------------------------
def test_grid_1d_centres_spacing():
    g = Grid.from_extent(x=(-1.0, 1.0, 4))
    assert g.dim == 1 and g.shape == (4,) and g.axis_names == ("x",)
    assert g.spacing == (0.5,) and g.cell_volume == 0.5 and g.ncells == 4
    np.testing.assert_allclose(g.centers(0), [-0.75, -0.25, 0.25, 0.75])
    np.testing.assert_allclose(g.edges(0), [-1, -0.5, 0, 0.5, 1])


def test_grid_2d_axis_order_is_y_x():
    g = Grid.from_extent(x=(0.0, 2.0, 4), y=(0.0, 1.0, 5))
    assert g.dim == 2 and g.shape == (5, 4) and g.axis_names == ("y", "x")
    assert g.axis("x") == 1 and g.axis("y") == 0
    assert g.lower == (0.0, 0.0) and g.upper == (1.0, 2.0)
    np.testing.assert_allclose(g.spacing, (0.2, 0.5))
    assert g.cell_volume == pytest.approx(0.1)
    np.testing.assert_allclose(g.centers(1), [0.25, 0.75, 1.25, 1.75])
    np.testing.assert_allclose(g.centers(0), 0.1 + 0.2 * np.arange(5))
    yy, xx = g.mesh()
    assert yy.shape == xx.shape == (5, 4) and xx[3, 2] == pytest.approx(1.25)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(x=(0.0, 1.0, 0)), "x cells must be >= 1"),
        (dict(x=(0.0, 1.0, 2.5)), "x cells must be an integer"),
        (dict(x=(1.0, 1.0, 3)), "x upper bound must exceed lower"),
        (dict(x=(0.0, 1.0, 3), y=(2.0, 1.0, 3)), "y upper bound must exceed lower"),
        (dict(x=(0.0, 1.0, 3), y=(0.0, 1.0, -1)), "y cells must be >= 1"),
        (dict(x=(0.0, np.inf, 3)), "x extent must be finite"),
        (dict(x=(0.0, 1.0)), "x extent must be"),
    ],
)
def test_grid_validation_names_the_quantity(kwargs, match):
    with pytest.raises(InputError, match=match):
        Grid.from_extent(**kwargs)


def test_grid_frozen():
    g = Grid.from_extent(x=(0, 1, 3))
    with pytest.raises(AttributeError):
        g.cells = (4,)


# --- block partition ----------------------------------------------------------------------------------
def test_block_sizes_all_small_combinations():
    for n in range(1, 61):
        for p in range(1, n + 1):
            s, o = block_sizes(n, p), block_offsets(n, p)
            assert len(s) == len(o) == p and sum(s) == n
            assert max(s) - min(s) <= 1 and min(s) >= 1
            assert s == sorted(s, reverse=True)  # the first n % p blocks are the larger ones
            assert sum(1 for b in s if b > n // p) == n % p
            assert o[0] == 0 and all(o[i + 1] == o[i] + s[i] for i in range(p - 1))


def test_block_sizes_large():
    assert block_sizes(10**9 + 7, 4096)[0] - block_sizes(10**9 + 7, 4096)[-1] == 1
    assert sum(block_sizes(10**9 + 7, 4096)) == 10**9 + 7


def test_choose_dims():
    assert choose_dims(4, (64, 64), (False, False)) == (2, 2)
    assert choose_dims(2, (64, 64), (False, False)) == (2, 1)  # tie: MPI.Compute_dims order
    assert choose_dims(2, (10, 100), (False, False)) == (1, 2)  # cut across the long side
    assert choose_dims(2, (1, 100), (True, True)) == (1, 2)
    assert choose_dims(6, (30, 20), (False, False)) in ((3, 2), (2, 3))
    assert choose_dims(5, (17,), (True,)) == (5,)
    with pytest.raises(InputError, match="cannot be laid out"):
        choose_dims(3, (2, 2), (False, False))


# --- one-rank Decomposition + HaloExchange ------------------------------------------------------------
def _self_comm():
    from mpi4py import MPI

    return MPI.COMM_SELF


def _f(flat_global, n):
    """The test field: global flat cell index * 10 + component."""
    return flat_global[..., None] * 10.0 + np.arange(n)


def expected_extended(dc, n, ng=None):
    """What an extended array must hold after a halo exchange of f (sentinel where nothing arrives)."""
    ng = dc.ng if ng is None else ng
    cells = dc.grid.cells
    glob = [np.arange(-dc.ng, m + dc.ng) + o for m, o in zip(dc.local_shape, dc.offsets, strict=True)]
    idx = np.meshgrid(*glob, indexing="ij")
    blocks = list(zip(idx, dc.offsets, dc.local_shape, strict=True))
    outside = [(g < o) | (g >= o + m) for g, o, m in blocks]
    too_far = [(g < o - ng) | (g >= o + m + ng) for g, o, m in blocks]
    wrapped = [g % c if per else g for g, c, per in zip(idx, cells, dc.periodic, strict=True)]
    valid = np.logical_and.reduce([(w >= 0) & (w < c) for w, c in zip(wrapped, cells, strict=True)])
    valid &= sum(o.astype(int) for o in outside) <= 1  # corners are never filled
    valid &= ~np.logical_or.reduce(too_far)
    flat = np.ravel_multi_index([np.clip(w, 0, c - 1) for w, c in zip(wrapped, cells, strict=True)], cells)
    exp = _f(flat, n)
    exp[~valid] = SENTINEL
    return exp


def filled_extended(dc, n):
    ext = np.full(dc.extended_shape(n), SENTINEL)
    ext[dc.owned] = expected_extended(dc, n)[dc.owned]
    return ext


@pytest.mark.parametrize("ng", [2, 1])
@pytest.mark.parametrize(
    "extent, periodic",
    [
        (dict(x=(0, 1, 5)), (True,)),
        (dict(x=(0, 1, 5)), (False,)),
        (dict(x=(0, 1, 5), y=(0, 1, 4)), (True, True)),
        (dict(x=(0, 1, 5), y=(0, 1, 4)), (False, True)),
        (dict(x=(0, 1, 5), y=(0, 1, 4)), (True, False)),
    ],
)
def test_one_rank_halo(extent, periodic, ng):
    from hpcclose.parallel.decomp import Decomposition
    from hpcclose.parallel.halo import HaloExchange

    n = 3
    dc = Decomposition(Grid.from_extent(**extent), periodic, comm=_self_comm())
    halo = HaloExchange(dc, n, ng=ng)
    try:
        assert dc.dims == (1,) * dc.dim and dc.local_shape == dc.grid.shape
        for d, per in enumerate(periodic):
            assert dc.is_lower_wall(d) == dc.is_upper_wall(d) == (not per)
        ext = filled_extended(dc, n)
        for _ in range(2):  # persistent requests are reusable
            out = halo.exchange(ext)
            assert out is ext
            np.testing.assert_array_equal(ext, expected_extended(dc, n, ng))
        faces = [np.prod([m for e, m in enumerate(dc.local_shape) if e != d]) for d in range(dc.dim)]
        assert halo.nbytes == sum(2 * ng * n * 8 * f for f, per in zip(faces, periodic, strict=True) if per)
    finally:
        halo.free()
        dc.free()


def test_one_rank_periodic_1d_wrap_explicit():
    from hpcclose.parallel.decomp import Decomposition
    from hpcclose.parallel.halo import HaloExchange

    dc = Decomposition(Grid.from_extent(x=(0, 1, 4)), True, comm=_self_comm())
    halo = HaloExchange(dc, 1)
    ext = np.full(dc.extended_shape(1), -1.0)
    ext[NG:-NG, 0] = [10, 11, 12, 13]
    halo.start(ext)
    ext[NG + 1, 0] = 99.0  # already packed: changing the interior between start and finish is safe
    halo.finish(ext)
    np.testing.assert_array_equal(ext[:, 0], [12, 13, 10, 99, 12, 13, 10, 11])
    halo.free()
    halo.free()  # idempotent
    dc.free()
    dc.free()


def test_halo_misuse_and_thin_blocks():
    from hpcclose.parallel.decomp import Decomposition
    from hpcclose.parallel.halo import HaloExchange

    dc = Decomposition(Grid.from_extent(x=(0, 1, 4), y=(0, 1, 3)), (True, True), comm=_self_comm())
    halo = HaloExchange(dc, 2)
    a, b = np.zeros(dc.extended_shape(2)), np.zeros(dc.extended_shape(2))
    with pytest.raises(ValueError, match="extended shape"):
        halo.start(np.zeros(dc.extended_shape(3)))
    with pytest.raises(RuntimeError, match="no exchange"):
        halo.finish(a)
    halo.start(a)
    with pytest.raises(RuntimeError, match="not been finished"):
        halo.start(a)
    with pytest.raises(ValueError, match="not the array"):
        halo.finish(b)
    halo.finish()
    halo.free()
    dc.free()
    thin = Decomposition(Grid.from_extent(x=(0, 1, 4), y=(0, 1, 1)), (True, True), comm=_self_comm())
    with pytest.raises(InputError, match="periodic y axis needs at least 2 cells"):
        HaloExchange(thin, 2)
    HaloExchange(thin, 2, ng=1).free()
    thin.free()
    walls = Decomposition(Grid.from_extent(x=(0, 1, 4), y=(0, 1, 1)), (False, True), comm=_self_comm())
    HaloExchange(walls, 2).free()  # no neighbour along y: a 1-cell block is fine
    walls.free()


def test_decomposition_validation():
    from hpcclose.parallel.decomp import Decomposition

    g2 = Grid.from_extent(x=(0, 1, 4), y=(0, 1, 3))
    with pytest.raises(InputError, match="multiply to the number of ranks 1"):
        Decomposition(g2, True, comm=_self_comm(), dims=(2, 1))
    with pytest.raises(InputError, match="dims needs 2 entries"):
        Decomposition(g2, True, comm=_self_comm(), dims=(1,))
    with pytest.raises(InputError, match="periodic needs 2 flag"):
        Decomposition(g2, (True,), comm=_self_comm())


def test_one_rank_maps_and_collectives():
    from hpcclose.parallel.decomp import Decomposition

    g = Grid.from_extent(x=(0, 1, 4), y=(0, 1, 3))
    dc = Decomposition(g, (False, True), comm=_self_comm())
    try:
        assert dc.is_root and dc.size == 1 and dc.offsets == (0, 0) and dc.local_shape == (3, 4)
        assert dc.extended_shape(5) == (7, 8, 5) and dc.extended_shape() == (7, 8)
        assert dc.to_global((2, 1)) == (2, 1) and dc.to_local((2, 3)) == (2, 3)
        assert dc.to_local((3, 0)) is None
        assert dc.global_cell_index(5) == (1, 1)
        np.testing.assert_array_equal(dc.global_cell_index(np.array([0, 11]))[1], [0, 3])
        np.testing.assert_allclose(dc.local_centers(1), g.centers(1))
        assert dc.sum(3) == 3 and dc.min(2.5) == 2.5 and dc.max(True) is True
        assert dc.sum(np.array([True, True, False])).tolist() == [1, 1, 0]
        np.testing.assert_array_equal(dc.max(np.arange(3.0)), np.arange(3.0))
        glob = np.arange(12.0 * 2).reshape(3, 4, 2)
        np.testing.assert_array_equal(dc.gather(glob), glob)
        np.testing.assert_array_equal(dc.scatter(glob), glob)
        np.testing.assert_array_equal(dc.local_from_global(glob), glob)
        assert "1 x 1 (y x x)" in dc.describe() and "x periodic" in dc.describe()
        assert dc.empty_extended(2).shape == (7, 8, 2)
    finally:
        dc.free()


def test_parts_of_an_axis_equal_the_whole_axis():
    """A rank computes its own cell centres and faces; they equal slices of the whole axis bit for bit
    (faces as np.linspace gives them), so no rank needs an array of the global grid's size."""
    for lo, hi, n in [(-1.1, 1.1, 100), (0.0, 14.0, 28), (-3.5, 1.7, 777), (0.1, 0.3, 5)]:
        g = Grid.from_extent(x=(lo, hi, n))
        np.testing.assert_array_equal(g.edges(0), np.linspace(lo, hi, n + 1))
        for start, stop in [(0, 2), (1, 4), (n - 2, n)]:
            np.testing.assert_array_equal(g.centers(0, start, stop), g.centers(0)[start:stop])
            np.testing.assert_array_equal(g.edges(0, start, stop + 1), g.edges(0)[start:stop + 1])
