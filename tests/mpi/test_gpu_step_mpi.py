"""The GPU step on several ranks (numba-cuda's simulator, tests/conftest.py): the halo of α crosses between
the ranks' devices staged through pinned host buffers, and every rank's block equals the CPU path's on the
same decomposition to 1e-12 (state, α through its moments, wall fluxes, the step's records)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hpcclose import config
from hpcclose.solver import Simulation

INPUTS = Path(__file__).resolve().parents[2] / "inputs"
TOL = 1e-12


def _run(path: str, overrides: list[str], device: str, comm):
    sim = Simulation(config.load(INPUTS / path, [*overrides, f'parallel.device="{device}"']), comm=comm)
    sim.prime()
    walls = []
    while not sim.done():
        sim.step()
        walls.append(sim.decomp.sum(sim.wall_flux))
    return sim, np.array(walls)


@pytest.mark.mpi(min_size=2)
@pytest.mark.parametrize("path, overrides", [
    ("plane_source_m2.toml", ["mesh.cells=12", "scheme.max_steps=3"]),
    ("line_source_m2.toml", ["mesh.cells=[7,6]", "velocity.quadrature=[4,8]", "scheme.max_steps=2"]),
    ("periodic_2d_m1.toml", ["mesh.cells=[6,7]", "velocity.quadrature=[4,8]", "scheme.max_steps=2"]),
])
def test_gpu_blocks_equal_the_cpu_blocks(path, overrides):
    from mpi4py import MPI

    cpu, cpu_walls = _run(path, overrides, "cpu", MPI.COMM_WORLD)
    gpu, gpu_walls = _run(path, overrides, "gpu", MPI.COMM_WORLD)
    assert gpu.decomp.size == MPI.COMM_WORLD.Get_size() and gpu.halo.nbytes > 0
    scale = float(np.abs(cpu.u).max())
    np.testing.assert_allclose(gpu.u, cpu.u, rtol=0, atol=TOL * scale)
    np.testing.assert_allclose(gpu.closure.moments(gpu.alpha), cpu.closure.moments(cpu.alpha), rtol=0,
                               atol=TOL * scale)
    np.testing.assert_allclose(gpu_walls, cpu_walls, rtol=0, atol=TOL * float(cpu.decomp.max(cpu.u[..., 0].max())))
    for a, b in zip(gpu.history.records, cpu.history.records, strict=True):
        np.testing.assert_allclose([a.mass, a.entropy], [b.mass, b.entropy], rtol=TOL)
    for sim in (cpu, gpu):
        sim.halo.free()
        sim.decomp.free()
