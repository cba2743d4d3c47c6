"""The end of a step: schedules, the fused reduction, observers, and statistics over every stage."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from mpi4py import MPI

from hpcclose import config
from hpcclose.closures.base import Closure
from hpcclose.solver import Simulation
from hpcclose.stepping import FusedReduction, Observer, Schedule

INPUTS = Path(__file__).resolve().parents[2] / "inputs"


# --- schedules ----------------------------------------------------------------------------------------
def test_schedule_by_simulated_time_lands_on_multiples():
    s = Schedule(time=0.25)
    s.start(0.1)
    assert s.next_time() == 0.25 and not s.due(0.2, 1, 0.0) and s.due(0.25 * (1 - 1e-13), 2, 0.0)
    s.fired(0.25, 0.0)
    assert s.next_time() == 0.5


def test_schedule_by_steps_and_wall_and_never():
    steps, wall, never = Schedule(steps=3), Schedule(wall=10.0), Schedule()
    for s in (steps, wall, never):
        s.start(0.0)
    assert [steps.due(0.0, k, 0.0) for k in range(1, 7)] == [False, False, True, False, False, True]
    assert not wall.due(0.0, 1, 9.9) and wall.due(0.0, 2, 10.0)
    wall.fired(0.0, 10.0)
    assert not wall.due(0.0, 3, 19.0) and wall.due(0.0, 4, 20.5)
    assert not never.enabled and not any(never.due(1.0, k, 1e9) for k in range(1, 10))
    assert Schedule(always=True).due(0.0, 1, 0.0) and never.next_time() is None


def test_fused_reduction_on_one_rank_returns_the_values():
    class One:
        size = 1

    red = FusedReduction()
    a, b, c = red.sum(2.5), red.max(-1.0), red.min(np.inf)
    red.reduce(One())
    assert (red[a], red[b], red[c]) == (2.5, -1.0, np.inf)


# --- a simulation's steps -----------------------------------------------------------------------------
@pytest.fixture
def registered():
    """Closures registered by a test are removed afterwards (the registry is global)."""
    from hpcclose.closures.base import available

    before = set(available())  # the built-in ones imported first, so only the test's are new
    yield
    for name in set(Closure.registry) - before:
        del Closure.registry[name]


def _sim(*overrides: str) -> Simulation:
    cfg = config.load(INPUTS / "plane_source_m2.toml", ["mesh.cells=20", "scheme.max_steps=4", *overrides])
    return Simulation(cfg, comm=MPI.COMM_SELF)


def _counting(sim: Simulation) -> list:
    calls = []
    solve = sim.closure.multipliers

    def counted(u, alpha0=None):
        alpha, stats = solve(u, alpha0)
        calls.append(stats)
        return alpha, stats

    sim.closure.multipliers = counted
    return calls


def test_closure_statistics_cover_every_stage(registered):
    """Regularised cell-solves of later stages and their r are recorded (they were lost at stage 0 only)."""
    from hpcclose.closures.pn import PNClosure

    class Regularising(PNClosure):
        name = "regularising_for_tests"
        calls = 0

        def multipliers(self, u, alpha0=None):
            alpha, stats = super().multipliers(u, alpha0)
            Regularising.calls += 1
            stats.regularised, stats.reg_r = np.array([2]), np.array([1e-3 * Regularising.calls])
            return alpha, stats

    sim = _sim("closure.name='regularising_for_tests'", "scheme.integrator='ssprk3'")
    Regularising.calls = 0
    while not sim.done():
        sim.step()
    recs = sim.history.records
    assert [r.regularised for r in recs] == [3] * 4  # one per stage
    np.testing.assert_allclose([r.reg_r_max for r in recs], [3e-3, 6e-3, 9e-3, 12e-3])  # the last stage's r


def test_no_extra_closure_solve_and_wall_covers_the_stages(tmp_path):
    from hpcclose.driver import run_loop
    from hpcclose.io.run_dir import RunDirectory

    # (every cell at every stage: skipping unchanged cells can leave a stage without a call)
    sim = _sim(f"output.dir='{tmp_path / 'run'}'", "scheme.skip_unchanged=false")
    calls = _counting(sim)
    run_loop(sim, RunDirectory(sim), progress=False)
    assert len(calls) == 1 + sim.integrator.stages * sim.step_count  # the initial α, then the stages only
    assert len(sim.history) == sim.step_count
    for r in sim.history.records:
        assert r.wall >= r.closure_s + r.halo_s + r.flux_s > 0


def test_reconstruction_solves_each_stage_once():
    """Realizability reconstruction replaces each stage input by the moments of its ansatz, solving the
    closure once per stage (the rhs reuses that α)."""
    plain, rebuilt = _sim(), _sim("scheme.realizability_reconstruction=true")
    calls = _counting(rebuilt)
    for sim in (plain, rebuilt):
        while not sim.done():
            sim.step()
    assert len(calls) == rebuilt.integrator.stages * rebuilt.step_count
    assert not np.array_equal(plain.u, rebuilt.u)  # it did change the states …
    np.testing.assert_allclose(rebuilt.u, plain.u, rtol=0, atol=1e-7)  # … by the closure's tolerance


def test_observers_act_on_schedule_and_finish(tmp_path):
    """An added observer acts after the steps its schedule names; every observer sees the reduced values."""
    sim = _sim("scheme.max_steps=6")
    seen = []

    class Every2(Observer):
        def contribute(self, sim, red):
            self.slot = red.sum(sim.u[:, 0].sum())

        def act(self, sim, red):
            seen.append((sim.step_count, red[self.slot]))

    sim.observers.add(Every2(Schedule(steps=2)))
    sim.observers.start(sim)
    while not sim.done():
        sim.step()
    assert [s for s, _ in seen] == [2, 4, 6]
    assert seen[-1][1] == sim.u[:, 0].sum()
