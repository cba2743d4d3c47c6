"""Shared test helpers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
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
