"""Skipping cells whose moments (closure) or stencil α (flux) did not change gives the same bits.

``scheme.skip_unchanged`` (default on) lets a cell keep its α when its stage input is bitwise the last
one, and its flux divergence when no α in its stencil changed. The run must be bitwise the one that
computes everything: checked on whole runs (every closure kind, 1D and 2D, walls, the reconstruction),
and on the pieces (the memo's bitwise comparison, the flux of the cells within reach).
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import ROOT

from hpcclose import config
from hpcclose.kernels.compare import store_changed
from hpcclose.scheme import BoundaryCondition
from hpcclose.scheme.divergence import FluxDivergence
from hpcclose.scheme.tiling import plan_1d, plan_2d, within_reach
from hpcclose.solver import Simulation
from hpcclose.stepping.unchanged import UnchangedCells
from hpcclose.velocity import gauss_legendre, make_basis, sphere_product

INPUTS = ROOT / "inputs"
RNG = np.random.default_rng(11)
FAR = BoundaryCondition("farfield")


# --- the pieces ------------------------------------------------------------------------------------------
def test_the_memo_lists_the_rows_that_differ_in_any_bit():
    memo = UnchangedCells()
    u = RNG.random((8, 3))
    assert memo.changed(u) is None  # nothing remembered: all
    memo.remember(u, None, np.array([True] * 7 + [False]))
    v = u.copy()
    v[1, 2] = np.nextafter(v[1, 2], 2.0)  # one ulp
    v[3, 0] = np.nan
    u[5, 1], v[5, 1] = 0.0, -0.0  # equal as numbers, not as bits
    memo.remember(u, np.arange(8), np.array([True] * 7 + [False]))
    np.testing.assert_array_equal(memo.changed(v), [1, 3, 5, 7])  # 7: its result may not be reused
    memo.remember(v, memo.changed(v), np.array([True, True, True, False]))
    np.testing.assert_array_equal(memo.last, v)
    np.testing.assert_array_equal(memo.changed(v), [3, 7])  # NaN never equals itself; 7 still not reusable
    assert memo.changed(v[:4]) is None  # another shape: all
    memo.forget()
    assert memo.changed(v) is None


def test_store_changed_copies_and_flags_cells():
    dst = RNG.random((4, 5, 3))
    src = dst.copy()
    src[1, 2, 0] += 1.0
    src[3, 4, 2] = np.nan
    changed = np.zeros((4, 5), bool)
    store_changed(dst, src, changed)
    np.testing.assert_array_equal(dst, src)
    assert set(zip(*np.nonzero(changed), strict=True)) == {(1, 2), (3, 4)}


@pytest.mark.parametrize("shape", [(23, 37), (64, 3), (100, 100)])
def test_the_units_within_reach_cover_every_cell_near_a_change(shape):
    for threads in (1, 3):
        units = plan_2d(*shape, 80, threads)[0]
        for density in (0.0, 0.002, 0.05, 1.0):
            changed = RNG.random(shape) < density
            cover = np.zeros(shape, int)
            for y0, y1, x0, x1 in within_reach(units, changed):
                cover[y0:y1, x0:x1] += 1
            inside = np.zeros(shape, bool)  # the cells of the units
            for y0, y1, x0, x1 in units:
                inside[y0:y1, x0:x1] = True
            near = np.zeros(shape, bool)  # cells whose stencil (2 cells along each axis) meets a change
            for j, i in zip(*np.nonzero(changed), strict=True):
                near[max(0, j - 2):j + 3, i] = True
                near[j, max(0, i - 2):i + 3] = True
            assert cover.max() <= 1 and not (cover[~inside]).any()
            assert (cover[near & inside] == 1).all()
    runs = plan_1d(5000, 2)[0]
    changed = np.zeros(5000, bool)
    changed[[700, 701, 4000]] = True
    cover = np.zeros(5000, int)
    for lo, hi in within_reach(runs, changed):
        cover[lo:hi] += 1
    assert cover.max() == 1 and cover[698:704].all() and cover[3998:4003].all() and cover.sum() <= 3 * 32


PER = BoundaryCondition("periodic")


@pytest.mark.parametrize("dim", [1, 2])
@pytest.mark.parametrize("sides", ["walls", "periodic"])
def test_the_flux_of_the_cells_within_reach_is_the_whole_pass(dim, sides):
    # passes over α0, α1, α2 (each a few owned and ghost values away from the last): computed only within
    # reach of the changes, the last is bitwise the whole pass over α2
    if dim == 1:
        quad, shape, spacing = gauss_legendre(10), (3000,), (0.1,)
        m = make_basis("legendre", 1, 3).evaluate(quad)
    else:
        quad, shape, spacing = sphere_product(4, 8), (40, 57), (0.07, 0.1)
        m = make_basis("monomial", 2, 2).evaluate(quad)
    conds, walls = ([(FAR, FAR)] * dim, [(True, True)] * dim) if sides == "walls" else \
        ([(PER, PER)] * dim, [(False, False)] * dim)
    div = FluxDivergence(m, quad.weights, quad.velocity, spacing, 2, 2.0, False, conds, walls, shape, threads=2)
    ext = tuple(s + 4 for s in shape)
    owned = (slice(2, -2),) * dim
    alphas = [RNG.normal(size=ext + (m.shape[1],)) * 0.3]
    mid = tuple(s // 2 for s in ext)
    # α1: owned cells inside; α2: one ghost α on the low side of every axis (what a neighbour sent; a far-field
    # wall overwrites it with the nearest owned α)
    for moved in ([mid, tuple(s // 3 for s in ext)], [(0,) + mid[1:], mid[:-1] + (1,)] if dim == 2 else [(1,)]):
        a = alphas[-1].copy()
        for cell in moved:
            a[cell] += 0.01
        alphas.append(a)
    out = np.full(shape + (m.shape[1],), np.nan)
    changed = np.zeros(ext, bool)
    div.interior(alphas[0], out)
    div.frame(alphas[0], out)
    for prev, a in zip(alphas[:-1], alphas[1:], strict=True):
        store_changed(prev[owned].copy(), a[owned], changed[owned])  # the owned flags, as the solver sets them
        div.interior(a, out, changed)
        div.frame(a, out, changed)
    ref = np.full_like(out, np.nan)
    div(alphas[-1], ref)
    np.testing.assert_array_equal(out, ref)
    assert div.computed[:, 0].sum() < 3 * div.computed[:, 1].sum()  # the later passes skipped cells


# --- whole runs --------------------------------------------------------------------------------------------
def _run(path, overrides):
    """The run, with the number of cell-solves and of cells whose flux divergence was computed."""
    sim = Simulation(config.load(path, ["output.progress=false", *overrides]))
    count = {"solved": 0, "flux": 0}
    multipliers, flux_pass = sim.closure.multipliers, sim.divergence._pass

    def counting(u, alpha0=None):
        count["solved"] += np.asarray(u).size // sim.n
        return multipliers(u, alpha0)

    def counting_pass(alpha_ext, out, units):
        count["flux"] += int(np.prod(units[:, 1::2] - units[:, ::2], axis=1).sum())
        return flux_pass(alpha_ext, out, units)

    sim.closure.multipliers, sim.divergence._pass = counting, counting_pass
    while not sim.done():
        sim.step()
    return sim, count


CASES = [
    ("line_source_m2.toml", ["mesh.cells=[30,30]", "scheme.t_final=0.4"]),
    ("line_source_m2.toml", ["mesh.cells=[30,30]", "scheme.t_final=0.4", "scheme.realizability_reconstruction=true"]),
    ("line_source_m2.toml", ["mesh.cells=[30,30]", "scheme.t_final=0.4", "closure.name='pn'"]),
    ("line_source_m2.toml", ["mesh.cells=[24,24]", "scheme.t_final=0.3", "closure.name='hybrid'",
                             "closure.hybrid.network='icnn'", "closure.hybrid.model='ICNN20x7_M2_2D_rot'"]),
    ("plane_source_m2.toml", ["scheme.t_final=0.5"]),
    # every region but the voids absorbs (or moves) at every step: here nothing is skipped, still the same bits
    ("hohlraum_m1.toml", ["mesh.cells=[52,52]", "scheme.t_final=0.2"]),
]


@pytest.mark.slow
@pytest.mark.parametrize(("name", "overrides"), CASES)
def test_skipping_unchanged_cells_gives_the_same_bits(name, overrides):
    skip, done = _run(INPUTS / name, overrides)
    full, done_full = _run(INPUTS / name, [*overrides, "scheme.skip_unchanged=false"])
    np.testing.assert_array_equal(skip.u, full.u)
    np.testing.assert_array_equal(skip.alpha, full.alpha)
    # cells were skipped (with the reconstruction every stage input moves in the last bits: the closure runs,
    # finds the same α without an iteration, and the flux skips; P_N's far-field walls change the cells next
    # to them, whose reach covers the small grid: the closure skips)
    assert done["flux"] <= done_full["flux"] and done["solved"] <= done_full["solved"]
    if name != "hohlraum_m1.toml":
        assert done["flux"] + done["solved"] < done_full["flux"] + done_full["solved"]
    cols = ("iterations_max", "regularised", "failed", "mass", "margin")
    for a, b in zip(skip.history.records, full.history.records, strict=True):
        assert [getattr(a, c) for c in cols] == [getattr(b, c) for c in cols]


def test_the_summary_says_how_much_was_skipped():
    import re

    from hpcclose.driver import summary

    skip, done = _run(INPUTS / "line_source_m2.toml", CASES[0][1])
    line = summary(skip, 1.0, "completed").splitlines()[-1]
    solves, flux = (float(x) for x in re.findall(r"([\d.]+) %", line))
    assert line.startswith("skipped where nothing changed")
    stage_inputs = skip.grid.ncells * 2 * skip.step_count  # SSP-RK2: two closures a step
    assert solves == pytest.approx(100 * (1 - done["solved"] / stage_inputs), abs=0.06)
    assert 0 < flux < 100
    full, _ = _run(INPUTS / "line_source_m2.toml", [*CASES[0][1], "scheme.skip_unchanged=false"])
    assert "skipped" not in summary(full, 1.0, "completed")
