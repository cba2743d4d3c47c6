"""The summary's mass balance: what left through each wall and what the sources added, per step and over
the run, against the mass the state itself holds (change = sources − out + conservation error, the error
at round-off for these conservative runs)."""

from __future__ import annotations

import re

import numpy as np
import pytest
from conftest import ROOT

from hpcclose import config
from hpcclose.diagnostics import BALANCE
from hpcclose.driver import mass_balance
from hpcclose.solver import Simulation

CASES = {
    # mass leaves through both walls (the issue's −40 % at t = 3)
    "plane": ("plane_source_m2.toml", ["mesh.cells=60", "scheme.t_final=3"]),
    # inflow through the left wall, absorption in the slab
    "inflow": ("inflow_m2.toml", ["mesh.cells=40", "scheme.max_steps=60"]),
    # a source in 2D and walls on all four sides
    "checkerboard": ("checkerboard_m1.toml", ["mesh.cells=[28,28]", "scheme.max_steps=12"]),
}


def _run(name: str) -> Simulation:
    path, overrides = CASES[name]
    sim = Simulation(config.load(ROOT / "inputs" / path, [*overrides, "output.progress=false"]))
    while not sim.done():
        sim.step()
    return sim


def _mass(sim: Simulation) -> float:
    """The state's mass computed here, not by the guard: Σ u0 × cell volume."""
    return float(sim.u[..., 0].sum() * sim.grid.cell_volume)


@pytest.fixture(scope="module")
def runs():
    return {name: _run(name) for name in CASES}


@pytest.mark.parametrize("name", CASES)
def test_every_step_balances(runs, name):
    """Per step: the next step's starting mass − this one's = sources − Σ out, to round-off."""
    sim = runs[name]
    hist = sim.history.records
    ends = [r.mass for r in hist[1:]] + [_mass(sim)]
    for rec, end in zip(hist, ends, strict=True):
        moved = rec.sources - sum(getattr(rec, k) for k in BALANCE if k.startswith("out_"))
        assert abs((end - rec.mass) - moved) <= 1e-12 * max(1.0, abs(rec.mass), abs(end))


@pytest.mark.parametrize("name", CASES)
def test_summary_line_adds_up(runs, name):
    sim = runs[name]
    hist = sim.history.records
    line = mass_balance(sim.grid.axis_names, hist, _mass(sim))
    numbers = dict(re.findall(r"([xy] (?:low|high)) (\S+?)[,( ]", line))
    out = sum(float(v) for v in numbers.values())
    sources = float(re.search(r"sources (\S+);", line).group(1))
    error = float(re.search(r"conservation error (\S+) ", line).group(1))
    initial, final = hist[0].mass, _mass(sim)
    assert len(numbers) == 2 * sim.dim
    # the printed terms (6 digits) add up to the change, and the error is round-off
    assert abs((final - initial) - (sources - out + error)) <= 1e-5 * max(abs(initial), abs(final), 1e-300)
    assert abs(error) <= 1e-12 * max(abs(initial), abs(final), abs(sources), abs(out))


def test_what_each_case_moves(runs):
    """The terms are where the physics puts them (independent of the bookkeeping above)."""
    plane, inflow, board = (runs[k].history.records for k in ("plane", "inflow", "checkerboard"))
    total = lambda hist, key: sum(getattr(r, key) for r in hist)  # noqa: E731
    # plane source: symmetric, ~40 % of the unit mass gone by t = 3, no sources
    assert total(plane, "out_x_low") == pytest.approx(total(plane, "out_x_high"), rel=1e-10)
    assert 0.3 < total(plane, "out_x_low") + total(plane, "out_x_high") < 0.5
    assert total(plane, "sources") == 0.0 and total(plane, "out_y_low") == 0.0
    # inflow: mass comes in on the left (negative out), the absorber takes some
    assert total(inflow, "out_x_low") < 0 and total(inflow, "sources") < 0
    # checkerboard: the source adds mass
    assert total(board, "sources") > 0
    assert np.isfinite([total(board, k) for k in BALANCE]).all()


def test_history_plot_shows_the_balance(runs):
    """The histories plot's mass panel: the mass, what left (cumulative to each step's start) and the
    conservation error in its title; old files without the balance columns get the relative change."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from hpcclose.plot.histories import _mass_panel

    cols = runs["plane"].history.columns()
    t = np.asarray(cols["t"])
    fig, ax = plt.subplots()
    _mass_panel(ax, t, cols)
    mass, out = (line.get_ydata() for line in ax.get_lines()[:2])
    np.testing.assert_allclose(mass + out, mass[0], rtol=0, atol=1e-13)  # the plane source: no sources
    error = float(re.search(r"error ≤ (\S+) of", ax.get_title()).group(1))
    assert error < 1e-13
    old = {k: v for k, v in cols.items() if k not in BALANCE}
    fig2, ax2 = plt.subplots()
    _mass_panel(ax2, t, old)
    assert ax2.get_title() == "relative mass change"
    plt.close(fig)
    plt.close(fig2)
