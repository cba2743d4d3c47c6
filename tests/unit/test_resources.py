"""Runs that cannot fit or would not end are refused before Simulation allocates anything large.

The memory estimate is compared with what a real small run allocates: tracemalloc's peak of the
Python-visible allocations (numpy's buffers) while building the Simulation and taking three steps,
after a warm-up run of the same kind has compiled the Numba kernels.
"""

from __future__ import annotations

import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import pytest
from mpi4py import MPI

from hpcclose import config, resources
from hpcclose.errors import InputError
from hpcclose.solver import Simulation

ROOT = Path(__file__).resolve().parents[2]
INPUTS = ROOT / "inputs"
PLANE = INPUTS / "plane_source_m2.toml"
PERIODIC_2D = INPUTS / "periodic_2d_m1.toml"


def _refused(path: Path, overrides: list[str]) -> str:
    with pytest.raises(InputError) as exc:
        Simulation(config.load(path, overrides), comm=MPI.COMM_SELF)
    return str(exc.value)


# --- memory ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("path, cells", [(PERIODIC_2D, "[1000000, 1000000]"), (PLANE, "100000000000")])
def test_huge_mesh_is_refused_quickly_without_allocating(path, cells):
    tracemalloc.start()
    start = time.perf_counter()
    message = _refused(path, [f"mesh.cells={cells}"])
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert message.startswith(f"{path}: mesh.cells: this run needs ~") and "available per rank (" in message
    assert "; use more ranks, fewer cells or fewer quadrature nodes" in message
    assert peak < 20 * 2**20 and seconds < 20, (peak, seconds)


def test_refusal_names_the_quadrature_when_nodes_dominate(monkeypatch):
    monkeypatch.setattr(resources, "memory_available", lambda ranks: resources.Available(2**20, "1 MiB for a test"))
    message = _refused(PERIODIC_2D, ["mesh.cells=[4, 4]", "velocity.quadrature=[100, 200]"])
    assert ": velocity.quadrature: this run needs ~" in message
    assert "1.0 MiB available per rank (1 MiB for a test)" in message


def _peak_of_run(path: Path, overrides: list[str]) -> tuple[int, int]:
    """(estimated bytes, traced peak bytes) of building ``path`` with ``overrides`` and three steps."""
    small = [o for o in overrides if not o.startswith(("mesh.cells", "velocity.quadrature"))]
    warm = Simulation(config.load(path, [*small, "scheme.max_steps=2"]), comm=MPI.COMM_SELF)
    while not warm.done():
        warm.step()
    del warm
    cfg = config.load(path, [*overrides, "scheme.max_steps=3"])
    tracemalloc.start()
    sim = Simulation(cfg, comm=MPI.COMM_SELF)
    while not sim.done():
        sim.step()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    # no output is written in these runs: no gather on rank 0
    est = sum(resources.estimate_memory(cfg, sim.grid, sim.n, sim.quad.size, sim.decomp.dims, False).values())
    return est, peak


@pytest.mark.parametrize("path, overrides", [
    (PERIODIC_2D, ["mesh.cells=[48, 48]", "velocity.quadrature=[16, 16]"]),      # f at the nodes dominates
    # per-cell moments dominate; every cell computed: skipping the vacuum would shrink the closure's temporaries
    # below the worst case the estimate is for (everything changing, as in the 2D case above)
    (PLANE, ["mesh.cells=20000", "scheme.skip_unchanged=false"]),
    (INPUTS / "inflow_m1.toml", ["mesh.cells=20000", "closure.name='monotone'",  # the ansatz at every node
                                 "closure.monotone.model='MONO30x2_M1_1D'"]),
])
def test_estimate_is_within_one_and_a_half_of_a_real_run(path, overrides):
    est, peak = _peak_of_run(path, overrides)
    assert 1 / 1.5 <= est / peak <= 1.5, (est, peak)


def test_memory_available_is_shared_by_the_ranks_on_a_node():
    one, four = resources.memory_available(1), resources.memory_available(4)
    assert one is not None and one.bytes > 0
    assert four.bytes < 0.3 * one.bytes and "/ 4 rank(s) on this node" in four.how


@pytest.mark.parametrize("version", [1, 2])
def test_cgroup_limit_is_the_tightest_level(tmp_path, version):
    mount = tmp_path / "cgroup"
    if version == 2:
        membership, root, files = "0::/job/step\n", mount, ("memory.max", "memory.current")
        limits = {"job": ("3000", "1000"), "job/step": ("max", "500")}  # the job's limit binds
    else:
        membership, root, files = "4:memory:/job/step\n3:cpu:/\n", mount / "memory", ("memory.limit_in_bytes",
                                                                                      "memory.usage_in_bytes")
        limits = {"": (str(2**63 - 4096), "7"), "job/step": ("5000", "4000")}
    for level, (limit, usage) in limits.items():
        (root / level).mkdir(parents=True, exist_ok=True)
        (root / level / files[0]).write_text(limit + "\n")
        (root / level / files[1]).write_text(usage + "\n")
    (tmp_path / "cgroup.txt").write_text(membership)
    assert resources.cgroup_free(tmp_path / "cgroup.txt", mount) == (2000 if version == 2 else 1000)
    assert resources.cgroup_free(tmp_path / "none", mount) is None


def test_address_space_limit_is_per_process():
    code = ("import resource; from hpcclose import resources as r; "
            "vm = next(int(l.split()[1]) * 1024 for l in open('/proc/self/status') if l.startswith('VmSize:')); "
            "resource.setrlimit(resource.RLIMIT_AS, (vm + 2**28, resource.RLIM_INFINITY)); "
            "a = r.memory_available(8); print(a.bytes, a.how)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={"PYTHONPATH": str(ROOT), "NUMBA_NUM_THREADS": "1"})
    free, how = res.stdout.split(maxsplit=1)
    assert 0 < int(free) <= 2**28 and "RLIMIT_AS" in how, res.stderr


# --- work: a finite end, a bounded number of files ---------------------------------------------------
@pytest.mark.parametrize("overrides, start", [
    (["scheme.cfl=1e-300"], "scheme.cfl: cfl = 1e-300 gives dt = "),
    (["scheme.t_final=1e12", "output.every=1e11"], "scheme.t_final: reaching t_final = 1e+12 takes ~"),
    (["output.every=1e-9"], "output.every: every = 1e-09 asks for ~1e+09 field files"),
    (["scheme.t_final=2000", "output.every_steps=1"], "output.every_steps: every 1 of ~"),
    (["scheme.t_final=2000", "output.checkpoint_every_steps=1"], "output.checkpoint_every_steps: every 1 of ~"),
])
def test_unbounded_work_is_refused_up_front(overrides, start):
    message = _refused(PLANE, overrides)
    assert message.startswith(f"{PLANE}: {start}"), message
    assert "allowed" in message


def test_max_steps_bounds_the_run():
    # a cap on the steps is a finite end, whatever t_final and cfl say
    sim = Simulation(config.load(PLANE, ["scheme.cfl=1e-300", "scheme.max_steps=3", "output.every=1e-9"]),
                     comm=MPI.COMM_SELF)
    assert sim.dt < 1e-299
