"""Up-front refusals on several ranks: the same InputError on every rank (no rank left waiting)."""

from __future__ import annotations

from pathlib import Path

import pytest
from mpi4py import MPI

from hpcclose import config, resources
from hpcclose.errors import InputError
from hpcclose.solver import Simulation

INPUTS = Path(__file__).resolve().parents[2] / "inputs"


def _message_on_every_rank(overrides: list[str]) -> str:
    with pytest.raises(InputError) as exc:
        Simulation(config.load(INPUTS / "periodic_2d_m1.toml", overrides), comm=MPI.COMM_WORLD)
    messages = MPI.COMM_WORLD.allgather(str(exc.value))
    assert len(set(messages)) == 1, messages
    return messages[0]


@pytest.mark.mpi(min_size=2)
def test_huge_mesh_is_refused_on_every_rank():
    message = _message_on_every_rank(["mesh.cells=[1000000, 1000000]"])
    assert "mesh.cells: this run needs ~" in message
    assert f"/ {MPI.COMM_WORLD.Get_size()} rank(s) on this node" in message


@pytest.mark.mpi(min_size=2)
def test_the_tightest_rank_decides_for_all(monkeypatch):
    # only the last rank is short of memory: every rank refuses, naming that rank's figure
    real = resources.memory_available
    last = MPI.COMM_WORLD.Get_rank() == MPI.COMM_WORLD.Get_size() - 1
    monkeypatch.setattr(resources, "memory_available",
                        lambda ranks: resources.Available(2**20, "tight for a test") if last else real(ranks))
    # 256² cells: since the flux stores no nodal values per cell, 64² cells × 64 nodes fit in 1 MiB a rank
    message = _message_on_every_rank(["mesh.cells=[256, 256]", "velocity.quadrature=[8, 8]",
                                      "velocity.hemisphere=false"])
    assert "1.0 MiB available per rank (tight for a test)" in message


@pytest.mark.mpi(min_size=2)
def test_a_run_that_fits_starts_on_every_rank():
    sim = Simulation(config.load(INPUTS / "periodic_2d_m1.toml", ["mesh.cells=[16, 16]", "velocity.quadrature=[4, 4]"]),
                     comm=MPI.COMM_WORLD)
    assert sim.decomp.size == MPI.COMM_WORLD.Get_size()
