"""Restart equivalence: N + N steps with a restart between equal 2N steps, on any rank count."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from mpi4py import MPI

from hpcclose import config
from hpcclose.io.checkpoint import read_checkpoint, write_checkpoint
from hpcclose.solver import Simulation

INPUT = Path(__file__).resolve().parents[2] / "inputs" / "plane_source_m2.toml"
N = 10


def _cfg(steps: int):
    return config.load(INPUT, ["mesh.cells=48", f"scheme.max_steps={steps}"])


def _advance(sim: Simulation) -> Simulation:
    while not sim.done():
        sim.step()
    return sim


def _shared_tmpdir(comm) -> Path:
    return Path(comm.bcast(tempfile.mkdtemp(prefix="hpcclose-restart-") if comm.Get_rank() == 0 else None))


def _restart_on(comm, run_dir: Path) -> np.ndarray | None:
    sim = Simulation(_cfg(2 * N), comm=comm)
    u, alpha, t, step, text, _ = read_checkpoint(run_dir, sim.decomp)
    assert step == N and text == _cfg(N).text
    sim.restore(u, alpha, t, step)
    return _advance(sim).decomp.gather(sim.u)


def _reference(comm) -> np.ndarray | None:
    """2N steps without a restart, gathered on rank 0."""
    full = _advance(Simulation(_cfg(2 * N), comm=comm))
    return full.decomp.gather(full.u)


def _first_half(comm, run_dir: Path) -> None:
    """N steps on ``comm``, checkpointed into ``run_dir``."""
    first = _advance(Simulation(_cfg(N), comm=comm))
    write_checkpoint(run_dir, first.decomp, first.u, first.alpha.reshape(first.u.shape), first.t,
                     first.step_count, first.cfg.text)


@pytest.mark.mpi(min_size=2)
def test_restart_same_ranks_is_bitwise():
    world = MPI.COMM_WORLD
    reference = _reference(world)
    tmp = _shared_tmpdir(world)
    _first_half(world, tmp)
    result = _restart_on(world, tmp)
    if world.Get_rank() == 0:
        assert np.array_equal(result, reference)
        shutil.rmtree(tmp)


@pytest.mark.mpi(min_size=3)
def test_restart_two_rank_checkpoint_on_three_ranks():
    world = MPI.COMM_WORLD
    reference = _reference(world)
    tmp = _shared_tmpdir(world)
    pair = world.Split(0 if world.Get_rank() < 2 else MPI.UNDEFINED, world.Get_rank())
    if pair != MPI.COMM_NULL:  # the first half of the run on two ranks only
        _first_half(pair, tmp)
        pair.Free()
    world.Barrier()
    result = _restart_on(world, tmp)
    if world.Get_rank() == 0:
        np.testing.assert_allclose(result, reference, rtol=0, atol=1e-12 * np.abs(reference).max())
        shutil.rmtree(tmp)
