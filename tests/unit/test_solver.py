"""The kinetic solver end to end on one rank: conservation, entropy dissipation, input errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from mpi4py import MPI

from hpcclose import config
from hpcclose.errors import InputError, RealizabilityError, SimulationFailed
from hpcclose.solver import Simulation

INPUTS = Path(__file__).resolve().parents[2] / "inputs"


def simulate(name: str, overrides: list[str]) -> Simulation:
    sim = Simulation(config.load(INPUTS / name, overrides), comm=MPI.COMM_SELF)
    while not sim.done():
        sim.step()
    return sim


def test_periodic_2d_conserves_mass_and_dissipates_entropy():
    sim = simulate("periodic_2d_m1.toml", ["mesh.cells=[24,24]", "velocity.quadrature=[8,10]",
                                          "scheme.t_final=0.6"])
    mass = np.array([r.mass for r in sim.history.records])
    entropy = np.array([r.entropy for r in sim.history.records])
    assert len(mass) > 20
    assert np.max(np.abs(mass - mass[0])) <= 1e-12 * mass[0]
    # h is convex; the first-order kinetic scheme dissipates it: never increases from step to step
    assert np.all(np.diff(entropy) <= 1e-12 * np.abs(entropy[0]))
    assert entropy[-1] < entropy[0]


def _run_cli(tmp_path: Path, text: str, *extra: str) -> subprocess.CompletedProcess:
    path = tmp_path / "case.toml"
    path.write_text(text)
    return subprocess.run([sys.executable, "-m", "hpcclose", "run", str(path), "--no-progress", *extra],
                          capture_output=True, text=True, timeout=300)


BASE = (INPUTS / "periodic_2d_m1.toml").read_text()


@pytest.mark.slow  # one CLI process per case
@pytest.mark.parametrize("change, key", [
    (("[scheme]", "[scheme]\ncfll = 0.3"), "scheme.cfll"),                      # unknown key
    (("cells = [100, 100]", 'cells = "many"'), "mesh.cells"),                    # wrong type
    (("cells = [100, 100]", "cells = [0, 10]"), "mesh.cells"),                   # zero cells
    (("cfl = 0.4", "cfl = 1.5"), "scheme.cfl"),                                  # beyond stability
    (('name = "newton"', 'name = "magic"'), "closure"),                          # unknown closure
    (('name = "periodic_2d"', 'name = "periodic_2d"\ndrift = 0.9'), "global cell (y=0, x=0)"),  # not realizable
])
def test_bad_input_exits_2_with_one_line(tmp_path, change, key):
    res = _run_cli(tmp_path, BASE.replace(*change), "--set", f"output.dir='{tmp_path / 'out'}'")
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.startswith("hpcclose: error")]
    assert len(lines) == 1 and key in lines[0], res.stderr


def test_non_realizable_initial_state_names_the_cell():
    cfg = config.load(INPUTS / "periodic_2d_m1.toml", ["mesh.cells=[8,8]", "velocity.quadrature=[4,4]",
                                                      "problem.drift=0.9"])  # |u1| = 0.9·√2 u0 > u0
    with pytest.raises(RealizabilityError, match=r"initial state.*global cell \(y=0, x=0\)"):
        Simulation(cfg, comm=MPI.COMM_SELF)


@pytest.mark.parametrize(("reconstruct", "remedy"), [(False, "set scheme.realizability_reconstruction = true"),
                                                      (True, "(lower scheme.cfl)")])
def test_guard_names_the_remedy_after_a_step(reconstruct, remedy):
    """A step that leaves a non-realizable state is refused with what to change (not at the initial state)."""
    from hpcclose.stepping.reduction import FusedReduction

    cfg = config.load(INPUTS / "plane_source_m2.toml", ["mesh.cells=10", "scheme.max_steps=1",
                                                       f"scheme.realizability_reconstruction={str(reconstruct).lower()}"])
    sim = Simulation(cfg, comm=MPI.COMM_SELF)
    sim.step()
    sim.u.reshape(-1, sim.n)[3] = [1.0, 1.5, 1.0]  # |u1| > u0
    red = FusedReduction()
    sim.guard.contribute(sim, red)
    red.reduce(sim.decomp)
    with pytest.raises(RealizabilityError, match=r"non-realizable moments.*global cell \(x=3\)") as info:
        sim.guard.act(sim, red)
    assert remedy in str(info.value) and str(info.value).endswith(")")


def test_mesh_problem_dimension_mismatch():
    cfg = config.load(INPUTS / "plane_source_m2.toml", [])
    bad = cfg.model_copy(update={"problem": config.ProblemConfig(name="periodic_2d")})
    with pytest.raises(InputError, match="2D but the mesh is 1D"):
        Simulation(bad, comm=MPI.COMM_SELF)


@pytest.fixture
def failing_closure():
    """Registers "failing_for_tests", a closure that reports cell 3 as failed (the Newton solver practically
    never fails), for the test's duration: defining the subclass registers it globally, so it is removed
    afterwards. Row 3 of every call: runs with it set scheme.skip_unchanged = false (calls on all cells)."""
    from hpcclose.closures.base import Closure
    from hpcclose.closures.pn import PNClosure

    class FailingClosure(PNClosure):
        name = "failing_for_tests"

        def multipliers(self, u, alpha0=None):
            alpha, stats = super().multipliers(u, alpha0)
            stats.failed = np.array([3])
            return alpha, stats

    yield FailingClosure.name
    del Closure.registry[FailingClosure.name]


@pytest.mark.parametrize("policy", ["abort", "accept"])
def test_closure_failure_policy(policy, failing_closure):
    cfg = config.load(INPUTS / "plane_source_m2.toml", ["mesh.cells=10", "scheme.max_steps=3",
                                                       f"closure.name='{failing_closure}'",
                                                       "scheme.skip_unchanged=false",
                                                       f"closure.on_failure='{policy}'"])
    sim = Simulation(cfg, comm=MPI.COMM_SELF)
    if policy == "accept":
        while not sim.done():
            sim.step()
        # one failed cell-solve in every stage of every step: the statistics cover all stages
        assert [r.failed for r in sim.history.records] == [sim.integrator.stages] * 3
        return
    with pytest.raises(RealizabilityError, match=r"closure failed to converge.*global cell \(x=3\)"):
        while not sim.done():
            sim.step()


def test_guard_stop_writes_a_rescue_file(tmp_path, failing_closure):
    # the driver writes the state at which the guard stopped the run, then ends it as failed (status 1)
    from hpcclose.driver import run_loop
    from hpcclose.io.run_dir import RunDirectory

    cfg = config.load(INPUTS / "plane_source_m2.toml", ["mesh.cells=10", "scheme.max_steps=5",
                                                       f"closure.name='{failing_closure}'",
                                                       "scheme.skip_unchanged=false",
                                                       f"output.dir='{tmp_path / 'run'}'"])
    sim = Simulation(cfg, comm=MPI.COMM_SELF)
    with pytest.raises(SimulationFailed, match=r"closure failed.*\(state written to .*rescue_\d+\.h5\)") as info:
        run_loop(sim, RunDirectory(sim), progress=False)
    assert info.value.exit_status == 1 and isinstance(info.value.__cause__, RealizabilityError)
    rescue = sorted((tmp_path / "run").glob("rescue_*.h5"))
    assert len(rescue) == 1
    import h5py

    with h5py.File(rescue[0], "r") as f:
        np.testing.assert_array_equal(f["fields/u"][...], sim.u)
        assert f.attrs["rescue"]
