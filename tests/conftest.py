"""Shared test helpers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# No NVIDIA device here: numba-cuda runs the GPU path's kernels in its simulator (set before numba is imported,
# which reads it once; the CLI runs the tests launch inherit it)
if not Path("/dev/nvidiactl").exists():
    os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")
MPIEXEC = str(Path(sys.executable).parent / "mpiexec")


def run_mpi(nranks: int, argv: list[str], timeout: float = 120, cwd: Path | None = None,
            env: dict | None = None) -> subprocess.CompletedProcess:
    """Launch ``argv`` under the venv's mpiexec with ``nranks`` ranks and capture its output."""
    full_env = {**os.environ, "NUMBA_NUM_THREADS": "1", "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})}
    return subprocess.run([MPIEXEC, "-n", str(nranks), *argv], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd or ROOT, env=full_env)


def hpcclose_cmd() -> list[str]:
    """The CLI as a command line (the venv's python -m hpcclose)."""
    return [sys.executable, "-m", "hpcclose"]


@pytest.fixture
def mpirun():
    return run_mpi


def plane_source_error(closure: str, overrides: list[str], input_file: str = "plane_source_m2.toml") -> float:
    """e_u ([A] eq. 52) of ``closure`` against Newton on an inputs/ plane source, one rank, in-process, through
    drivers/closure_error.py's ``solve`` (the command docs/closures.md gives)."""
    import importlib.util

    import numpy as np

    spec = importlib.util.spec_from_file_location("closure_error", ROOT / "drivers" / "closure_error.py")
    driver = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(driver)
    path = str(ROOT / "inputs" / input_file)
    ref, _, _ = driver.solve(path, [*overrides, "closure.name='newton'"])
    u, _, _ = driver.solve(path, [*overrides, f"closure.name='{closure}'"])
    return float(np.linalg.norm(u - ref) / np.linalg.norm(ref))


@pytest.fixture(name="plane_source_error")
def plane_source_error_fixture():
    return plane_source_error


@pytest.fixture(scope="session")
def small_runs(tmp_path_factory) -> dict[str, Path]:
    """Two short runs as a user starts them (one rank, the CLI): "1d", the plane source (Legendre M2, 4
    outputs), and "2d", the line source (monomial M2 on 16 × 12 cells, 3 outputs)."""
    base = tmp_path_factory.mktemp("small_runs")
    runs = {"1d": (base / "plane", "plane_source_m2.toml", ["mesh.cells=40", "scheme.t_final=0.3",
                                                              "output.every=0.1"]),
            "2d": (base / "line", "line_source_m2.toml", ["mesh.cells=[16, 12]", "scheme.t_final=0.1",
                                                            "output.every=0.05"])}
    env = {**os.environ, "NUMBA_NUM_THREADS": "1"}
    for out, name, sets in runs.values():
        argv = [*hpcclose_cmd(), "run", str(ROOT / "inputs" / name), "--no-progress",
                "--set", f"output.dir='{out}'", *(a for s in sets for a in ("--set", s))]
        res = subprocess.run(argv, capture_output=True, text=True, timeout=300, cwd=ROOT, env=env)
        assert res.returncode == 0, res.stderr
    return {key: out for key, (out, _, _) in runs.items()}
