"""Where a rank sits on its node (parallel.mpi.node_rank) and which GPU it is given (devices.place_rank)."""

from __future__ import annotations

import sys
from types import SimpleNamespace

import pytest

from hpcclose import devices
from hpcclose.parallel import mpi


@pytest.fixture
def fresh_state(monkeypatch):
    """No node rank found yet in this process (restored afterwards), no launcher variables set."""
    monkeypatch.setattr(mpi, "_state", {"debug": False})
    for pair in mpi._LAUNCHER_VARS:
        for var in pair:
            monkeypatch.delenv(var, raising=False)


@pytest.mark.parametrize("env, expected", [
    ({}, (0, 1)),                                                           # started on its own
    ({"MPI_LOCALRANKID": "1", "MPI_LOCALNRANKS": "3"}, (1, 3)),             # MPICH/Hydra
    ({"OMPI_COMM_WORLD_LOCAL_RANK": "2", "OMPI_COMM_WORLD_LOCAL_SIZE": "4"}, (2, 4)),  # Open MPI
    ({"SLURM_LOCALID": "2"}, (2, 3)),                                       # no count: the least consistent
    ({"MPI_LOCALRANKID": "x", "PMI_LOCAL_RANK": "1", "PMI_LOCAL_SIZE": "2"}, (1, 2)),  # unreadable: next
])
def test_without_mpi_the_launcher_environment_says(fresh_state, monkeypatch, env, expected):
    monkeypatch.delitem(sys.modules, "mpi4py.MPI", raising=False)  # as in a process that never initialised MPI
    for var, value in env.items():
        monkeypatch.setenv(var, value)
    assert mpi.node_rank() == expected
    assert "node" not in mpi._state  # not kept: once MPI is up the exact split is made


def test_once_mpi_is_up_the_shared_memory_split_says_and_is_kept(fresh_state, monkeypatch):
    from mpi4py import MPI

    monkeypatch.setenv("MPI_LOCALRANKID", "5")  # the launcher's word does not count once MPI is up
    first = mpi.node_rank()
    assert first == (MPI.COMM_WORLD.Get_rank(), MPI.COMM_WORLD.Get_size()) == (0, 1)
    assert mpi.node_rank() is first  # later calls are not collective
    assert mpi.threads_per_rank() >= 1


def test_place_rank_pins_one_gpu_round_robin_over_the_node_ranks(monkeypatch):
    pinned, gpus = [], ["gpu0", "gpu1"]
    config = SimpleNamespace(list_physical_devices=lambda kind: gpus,
                             set_visible_devices=lambda device, kind: pinned.append(device),
                             experimental=SimpleNamespace(set_memory_growth=lambda device, on: None))
    monkeypatch.setattr(devices, "tensorflow", lambda: SimpleNamespace(config=config))
    monkeypatch.setattr(mpi, "node_rank", lambda: mpi.NodeRank(3, 4))
    assert devices.place_rank() == "/GPU:0" and pinned == ["gpu1"]  # node rank 3 of 2 GPUs
    assert devices.place_rank(2) == "/GPU:0" and pinned == ["gpu1", "gpu0"]  # an explicit rank wins
    gpus.clear()
    assert devices.place_rank() == "/CPU:0" and len(pinned) == 2
