"""The end of a step on several ranks: one reduction per step, and a guard verdict every rank shares."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from mpi4py import MPI

from hpcclose import config
from hpcclose.errors import RealizabilityError
from hpcclose.solver import Simulation
from hpcclose.stepping import FusedReduction

INPUT = Path(__file__).resolve().parents[2] / "inputs" / "plane_source_m2.toml"
COLLECTIVES = {"Allreduce", "allreduce", "Reduce", "reduce", "Bcast", "bcast", "Barrier", "barrier", "Allgather",
               "allgather", "Gather", "gather", "Gatherv", "Scatter", "scatter", "Scatterv", "Alltoall", "alltoall"}


class CountingComm:
    """A communicator that counts the collective calls made through it."""

    def __init__(self, comm) -> None:
        self._comm, self.calls = comm, Counter()

    def __getattr__(self, name: str):
        attr = getattr(self._comm, name)
        if name not in COLLECTIVES:
            return attr

        def counted(*args, **kwargs):
            self.calls[name] += 1
            return attr(*args, **kwargs)

        return counted


@pytest.mark.mpi(min_size=2)
def test_fused_reduction_sums_and_extrema():
    comm = MPI.COMM_WORLD
    r, p = comm.Get_rank(), comm.Get_size()

    class Decomp:
        size, cart = p, comm

    red = FusedReduction()
    s, mx, mn, inf = red.sum(r + 1), red.max(2.0 * r), red.min(10.0 - r), red.min(np.inf if r else 3.0)
    red.reduce(Decomp())
    assert (red[s], red[mx], red[mn], red[inf]) == (p * (p + 1) / 2, 2.0 * (p - 1), 10.0 - (p - 1), 3.0)


@pytest.mark.mpi(min_size=2)
def test_one_allreduce_per_step():
    sim = Simulation(config.load(INPUT, ["mesh.cells=40", "scheme.max_steps=5"]), comm=MPI.COMM_WORLD)
    counting = CountingComm(sim.decomp.cart)
    sim.decomp.cart = counting
    while not sim.done():
        sim.step()
    assert dict(counting.calls) == {"Allreduce": 5}
    assert len(sim.history) == 5


@pytest.mark.mpi(min_size=2)
def test_a_failure_on_one_rank_is_raised_on_every_rank_naming_the_global_cell():
    from hpcclose.closures.base import Closure, available
    from hpcclose.closures.pn import PNClosure

    available()

    class FailsOnRankOne(PNClosure):
        name = "fails_on_rank_one_for_tests"

        def multipliers(self, u, alpha0=None):
            alpha, stats = super().multipliers(u, alpha0)
            if MPI.COMM_WORLD.Get_rank() == 1:
                stats.failed = np.array([u.shape[0] - 1])  # its last owned cell
            return alpha, stats

    try:
        sim = Simulation(config.load(INPUT, ["mesh.cells=40", "scheme.max_steps=3",
                                             f"closure.name='{FailsOnRankOne.name}'"]), comm=MPI.COMM_WORLD)
        offsets, shape = sim.decomp.block_of(1)
        cell = offsets[0] + shape[0] - 1
        start = sim.decomp.bcast(sim.u[-1].tolist() if sim.decomp.rank == 1 else None, root=1)  # stage 0's input
        expected = rf"step 0, stage 0: closure failed .* in 2 cell-solve\(s\); first: global cell \(x={cell}\)"
        with pytest.raises(RealizabilityError, match=expected) as info:
            sim.step()
        assert info.value.collective
        assert str(info.value).endswith(f"u = {np.array2string(np.array(start), precision=6)}")
    finally:
        Closure.registry.pop(FailsOnRankOne.name, None)
