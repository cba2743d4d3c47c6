"""The GPU-resident step (``parallel.device = "gpu"``) against the CPU path, under numba-cuda's simulator
(tests/conftest.py turns it on where no NVIDIA device exists): the device flux kernel by itself (walls of
every kind, 1D/2D, orders, linear ansatz), whole runs (Newton, integrators, sources, reconstruction,
periodic self-halo), the input checks, CUDA-aware detection and ``hpcclose info``. Grids are tiny: the
simulator runs every GPU thread as Python."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT, hpcclose_cmd
from mpi4py import MPI
from numba import cuda

from hpcclose import config, devices
from hpcclose.diagnostics import BALANCE
from hpcclose.errors import InputError
from hpcclose.scheme.boundary import BoundaryCondition
from hpcclose.scheme.divergence import FluxDivergence
from hpcclose.solver import Simulation
from hpcclose.velocity import make_basis
from hpcclose.velocity.rules import build

TOL = 1e-12


def _close(a, b, scale=None):
    """|a − b| ≤ TOL · scale (default: the largest |b|)."""
    scale = float(np.abs(b).max()) if scale is None else scale
    np.testing.assert_allclose(a, b, rtol=0, atol=TOL * max(scale, 1e-300))


# --- the flux kernel alone --------------------------------------------------------------------------------
def _walls(dim: int, shape: tuple[int, ...], Q: int, rng) -> list:
    """Per array axis (low, high): a prescribed wall that varies along it (2D: its own value per position) or
    is constant, and a far-field wall."""
    conds = []
    for axis in range(dim):
        if dim == 2:  # values broadcast over the ghost layers, one row of nodal values per wall position
            along = [1, 1]
            along[1 - axis] = shape[1 - axis]
            low = BoundaryCondition("prescribed", rng.uniform(1e-3, 1.0, size=(*along, Q)))
        else:
            low = BoundaryCondition.constant(1e-3, Q)
        conds.append((low, BoundaryCondition("farfield")))
    return conds


@pytest.mark.parametrize("dim, order, linear", [(1, 1, False), (1, 2, False), (2, 1, False), (2, 2, False),
                                                (2, 2, True)])
def test_device_flux_equals_the_cpu_fused_flux(dim, order, linear):
    from hpcclose.gpu.flux import DeviceFlux

    rng = np.random.default_rng(dim * 10 + order)
    quad = build(dim, 2, None, None, None)
    basis = make_basis("monomial", dim, 2).on(quad)
    m = basis.evaluate(quad)
    Q, n = m.shape
    shape, spacing = ((7,), (0.1,)) if dim == 1 else ((5, 6), (0.2, 0.1))
    div = FluxDivergence(m, quad.weights, quad.velocity, spacing, order, 1.5, linear, _walls(dim, shape, Q, rng),
                         [(True, True)] * dim, shape)
    ext = rng.normal(size=tuple(s + 4 for s in shape) + (n,)) * 0.3
    ext[..., 0] -= 1.0
    cpu = np.zeros(shape + (n,))
    div(ext.copy(), cpu)
    flux = DeviceFlux(div)
    gpu = cuda.device_array(cpu.shape)
    flux(cuda.to_device(ext), gpu)
    _close(gpu.copy_to_host(), cpu)
    _close(flux.wall_flux(), div.wall_flux())
    assert np.all(div.wall_flux() != 0)  # every side is a wall here: the sums were compared, not zeros


def test_device_entropy_is_each_closures_formula():
    """The step's entropy on the device: the closure's own formula (½α·u for P_N, α·u − u0 at Newton's dual
    optimum, α·u − ⟨e^{α·m}⟩ otherwise), or None (the host's) for a closure with a formula of its own."""
    from hpcclose.closures import Closure, get_closure
    from hpcclose.gpu.base import THREADS, blocks
    from hpcclose.gpu.step import _entropy, _entropy_mode

    basis, quad = make_basis("monomial", 1, 2), build(1, 2, None, None, None)
    rng = np.random.default_rng(3)
    alpha = np.column_stack([rng.uniform(-1, 0, 9), rng.uniform(-1, 1, (9, 2))])
    newton, pn = get_closure("newton", basis, quad), get_closure("pn", basis, quad)
    u = newton.moments(alpha)
    cases = [(pn, pn.entropy(u, alpha)), (newton, newton.entropy(u, alpha)),
             (newton, Closure.entropy(newton, u, alpha))]  # the generic formula, on the same data
    for (closure, host), mode in zip(cases, (0, 1, 2), strict=True):
        assert mode == 2 or _entropy_mode(closure) == mode
        h = cuda.device_array(9)
        m = (cuda.to_device(closure.m.T.copy()), cuda.to_device(closure.w))
        _entropy[blocks(9), THREADS](cuda.to_device(u), cuda.to_device(alpha), *m, mode, h)
        _close(h.copy_to_host(), host)
    assert _entropy_mode(get_closure("m1_exact", make_basis("monomial", 1, 1), quad)) is None


# --- whole runs -----------------------------------------------------------------------------------------
def _run(path: str, overrides: list[str], device: str) -> tuple[Simulation, list]:
    cfg = config.load(ROOT / "inputs" / path, [*overrides, f'parallel.device="{device}"'])
    sim = Simulation(cfg, comm=MPI.COMM_SELF)
    sim.prime()
    walls = []
    while not sim.done():
        sim.step()
        walls.append(sim.wall_flux.copy())
    sim.halo.free()
    sim.decomp.free()
    return sim, walls


CASES = {
    "1D plane source, SSP-RK2, scattering": ("plane_source_m2.toml", ["mesh.cells=10", "scheme.max_steps=3"]),
    "1D, Euler, 1st order, reconstruction": ("plane_source_m2.toml", [
        "mesh.cells=8", "scheme.max_steps=2", 'scheme.integrator="euler"', "scheme.order=1",
        "scheme.realizability_reconstruction=true"]),
    "1D inflow, SSP-RK3": ("inflow_m2.toml", ["mesh.cells=8", "scheme.max_steps=2", 'scheme.integrator="ssprk3"']),
    "2D line source M2": ("line_source_m2.toml", ["mesh.cells=[6,5]", "scheme.max_steps=2"]),
    "2D checkerboard: sigma_a, source": ("checkerboard_m1.toml", [
        "mesh.x=[2.5,4.5]", "mesh.y=[2.5,4.5]", "mesh.cells=[8,8]", "scheme.max_steps=2",
        "velocity.quadrature=[6,12]"]),
    "2D periodic, one rank": ("periodic_2d_m1.toml", ["mesh.cells=[5,4]", "scheme.max_steps=2",
                                                      "velocity.quadrature=[6,12]"]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_gpu_run_equals_the_cpu_run(case):
    path, overrides = CASES[case]
    cpu, cpu_walls = _run(path, overrides, "cpu")
    gpu, gpu_walls = _run(path, overrides, "gpu")
    assert gpu.device is not None and cpu.device is None
    assert gpu.step_count == cpu.step_count > 0
    _close(gpu.u, cpu.u)
    # α through the moments it gives: near the realizability boundary α itself is ill-conditioned (a change
    # of 1e-17 in u moves it by 1e-9 there), while ⟨m G_α⟩ stays within the closure's tolerance of u
    _close(gpu.closure.moments(gpu.alpha), cpu.closure.moments(cpu.alpha), np.abs(cpu.u).max())
    scale = float(cpu.u[..., 0].max())
    _close(np.array(gpu_walls), np.array(cpu_walls), scale)
    for column in ("mass", "entropy", "min_u0", "iterations_max", "regularised", "failed", *BALANCE):
        g, c = ([getattr(r, column) for r in s.history.records] for s in (gpu, cpu))
        _close(np.array(g, float), np.array(c, float), max(np.abs(c).max(), 1.0))


def test_restore_puts_the_state_and_warm_start_on_the_device():
    path, overrides = CASES["1D plane source, SSP-RK2, scattering"]
    cpu, _ = _run(path, overrides, "cpu")
    cfg = config.load(ROOT / "inputs" / path, [*overrides, 'parallel.device="gpu"', "scheme.max_steps=5"])
    gpu = Simulation(cfg, comm=MPI.COMM_SELF)
    gpu.restore(cpu.u.copy(), cpu.alpha.copy(), cpu.t, cpu.step_count)
    np.testing.assert_array_equal(gpu.device.u.copy_to_host(), cpu.u)
    np.testing.assert_array_equal(gpu.alpha, cpu.alpha)
    gpu.step()
    assert gpu.step_count == cpu.step_count + 1 and np.isfinite(gpu.u).all()
    assert not np.array_equal(gpu.u, cpu.u)  # the step moved the state: the host copy was refreshed
    gpu.halo.free()
    gpu.decomp.free()


# --- input checks, placement, CUDA-aware MPI, info ------------------------------------------------------
def test_gpu_device_without_numba_cuda_is_an_input_error(monkeypatch):
    import importlib.metadata

    real = importlib.metadata.version

    def version(name):
        if name == "numba-cuda":
            raise importlib.metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(importlib.metadata, "version", version)
    with pytest.raises(InputError, match=r"parallel\.device.*numba-cuda.*\.\[gpu\]"):
        config.load(ROOT / "inputs" / "plane_source_m2.toml", ['parallel.device="gpu"'])
    with pytest.raises(InputError, match=r"parallel\.device"):
        config.load(ROOT / "inputs" / "plane_source_m2.toml", ['parallel.device="tpu"'])


@pytest.mark.slow
def test_gpu_device_without_a_gpu_is_one_line_and_status_2(tmp_path):
    env = {"NUMBA_ENABLE_CUDASIM": "0", "PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    res = subprocess.run([*hpcclose_cmd(), "run", str(ROOT / "inputs" / "plane_source_m2.toml"), "--set",
                          'parallel.device="gpu"', "--set", f'output.dir="{tmp_path}/run"'],
                         capture_output=True, text=True, env=env, timeout=120)
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "parallel.device" in lines[0] and "no GPU" in lines[0], res.stderr


def test_cuda_aware_mpi_detection_and_overrides(monkeypatch):
    monkeypatch.delenv(devices.CUDA_AWARE_ENV, raising=False)
    assert devices.cuda_aware_mpi(None) == (False, "simulator")  # never under the simulator
    assert devices.cuda_aware_mpi(True) == (True, "parallel.cuda_aware_mpi")
    monkeypatch.setenv(devices.CUDA_AWARE_ENV, "1")
    assert devices.cuda_aware_mpi(None) == (True, devices.CUDA_AWARE_ENV)
    assert devices.cuda_aware_mpi(False) == (False, "parallel.cuda_aware_mpi")  # the input wins
    # outside the simulator: the MPI library is asked (this MPICH answers, and it is not CUDA-aware)
    monkeypatch.delenv(devices.CUDA_AWARE_ENV)
    monkeypatch.setattr(devices, "simulator", lambda: False)
    aware, why = devices.cuda_aware_mpi(None)
    assert why in ("MPIX_Query_cuda_support", "the MPI library cannot be asked (no MPIX_Query_cuda_support)")
    assert aware is False


def test_place_cuda_picks_the_gpu_of_the_local_rank():
    assert devices.place_cuda(0) == "GPU 0 (simulator)"
    assert devices.place_cuda(3) == "GPU 0 (simulator)"  # one (simulated) GPU: every local rank shares it
    assert devices.cuda_gpus() == ["simulator"]


@pytest.mark.slow
def test_info_reports_the_gpus_and_cuda_aware_mpi_without_tensorflow():
    res = subprocess.run([*hpcclose_cmd(), "info", "--json"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert res.returncode == 0 and res.stderr == "", res.stderr
    info = json.loads(res.stdout)
    assert info["cuda_gpus"] == ["simulator"] and info["cuda_aware_mpi"] == "no (simulator)"
    assert info["numba_cuda"]
    code = "import sys; from hpcclose.cli import info; info.collect(); print('tensorflow' in sys.modules)"
    quiet = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert quiet.stdout.strip() == "False", quiet.stderr


@pytest.mark.slow
def test_mpiexec_two_ranks_gpu_run_writes_the_fields_of_the_cpu_run(tmp_path):
    """The issue's command on a tiny grid: two ranks, staged halo; outputs and checkpoints as on the CPU."""
    from conftest import run_mpi

    from hpcclose.io.fields import read_fields

    common = ["--set", "mesh.cells=[6,7]", "--set", "velocity.quadrature=[4,8]", "--set", "scheme.max_steps=3",
              "--set", "output.every_steps=3", "--set", "output.checkpoint_every_steps=2", "--no-progress"]
    fields = {}
    for device in ("cpu", "gpu"):
        res = run_mpi(2, [*hpcclose_cmd(), "run", str(ROOT / "inputs" / "line_source_m2.toml"), "--set",
                          f'parallel.device="{device}"', "--set", f'output.dir="{tmp_path / device}"', *common],
                      timeout=300)
        assert res.returncode == 0, res.stderr
        assert (tmp_path / device / "checkpoint_00000002.h5").exists()
        fields[device] = read_fields(sorted((tmp_path / device).glob("fields_*.h5"))[-1])
    (gpu, gpu_attrs), (cpu, cpu_attrs) = fields["gpu"], fields["cpu"]
    assert gpu_attrs["step"] == cpu_attrs["step"] == 3
    _close(gpu["u"], cpu["u"])
    _close(gpu["alpha"], cpu["alpha"])


@pytest.mark.slow
def test_gpu_bench_script_checks_and_measures_under_the_simulator(tmp_path):
    """scripts/gpu_bench.sh's whole flow (package check, info, the check against the CPU path, every
    measurement, JSON and markdown) on the simulator's sizes: what can be run of it without a GPU."""
    env = {**os.environ, "PYTHON": sys.executable, "NUMBA_NUM_THREADS": "1"}
    res = subprocess.run(["bash", str(ROOT / "scripts" / "gpu_bench.sh"), "--simulator", "--tiny", "--out",
                          str(tmp_path)], capture_output=True, text=True, env=env, timeout=900, cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    result = json.loads((tmp_path / "gpu_bench.json").read_text())
    assert result["simulator"] and result["gpus"] == ["simulator"] and result["cpu_threads"] == 1
    assert len(result["check"]) == 3 and all(r["ok"] for r in result["check"]), result["check"]
    for name in ("newton_cold", "newton_warm"):
        assert result["closures"][name]["gpu_s"] > 0 and result["closures"][name]["moments"] == 64
    assert result["line_source"]["cells"] == 36 and result["line_source"]["gpu_ns_per_cell_step"] > 0
    assert "2D line source M2, 36 cells" in (tmp_path / "gpu_bench.md").read_text()


@pytest.mark.slow
def test_gpu_run_restarted_from_its_checkpoint_ends_as_the_uninterrupted_cpu_run(tmp_path):
    """A GPU run stopped at step 2 and restarted (on the GPU) from its checkpoint to step 4 writes the CPU
    run's step-4 fields: the checkpoint reads the device state back, restore() puts it (and α) on again."""
    from hpcclose.io.fields import read_fields

    common = ["--set", "mesh.cells=[6,7]", "--set", "velocity.quadrature=[4,8]", "--set", "output.every_steps=2",
              "--set", "output.checkpoint_every_steps=2", "--no-progress"]
    line = str(ROOT / "inputs" / "line_source_m2.toml")
    gpu_dir, cpu_dir, gpu = tmp_path / "gpu", tmp_path / "cpu", ["--set", 'parallel.device="gpu"']
    for argv in (["run", line, *common, *gpu, "--set", "scheme.max_steps=2", "--set", f'output.dir="{gpu_dir}"'],
                 ["restart", str(gpu_dir), *gpu, "--set", "scheme.max_steps=4", "--no-progress"],
                 ["run", line, *common, "--set", "scheme.max_steps=4", "--set", f'output.dir="{cpu_dir}"']):
        res = subprocess.run([*hpcclose_cmd(), *argv], capture_output=True, text=True, cwd=ROOT, timeout=300)
        assert res.returncode == 0, res.stderr
    (g, g_attrs), (c, c_attrs) = (read_fields(sorted(d.glob("fields_*.h5"))[-1]) for d in (gpu_dir, cpu_dir))
    assert g_attrs["step"] == c_attrs["step"] == 4
    _close(g["u"], c["u"])
    _close(g["alpha"], c["alpha"])
