"""Every shipped input file is valid and runs its first steps as given (no overrides but the step cap)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from mpi4py import MPI

from hpcclose import config
from hpcclose.solver import Simulation

INPUTS = sorted((Path(__file__).resolve().parents[2] / "inputs").glob("*.toml"))
SIMULATIONS = [p for p in INPUTS if not p.name.startswith("train_")]


@pytest.mark.parametrize("path", SIMULATIONS, ids=[p.stem for p in SIMULATIONS])
def test_input_runs_as_given(path):
    sim = Simulation(config.load(path, ["scheme.max_steps=2"]), comm=MPI.COMM_SELF)
    while not sim.done():
        sim.step()
    rec = sim.history.records[-1]
    assert np.all(np.isfinite(sim.u)) and rec.failed == 0 and rec.min_u0 > 0 and sim.guard.state.min_u0 > 0
