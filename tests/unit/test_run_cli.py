"""`hpcclose run` / `restart` as a user launches them: run directories, clean stops, crash safety."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
from conftest import MPIEXEC, ROOT, run_mpi

from hpcclose.errors import EXIT_STOPPED
from hpcclose.io.checkpoint import is_complete, latest_checkpoint

PLANE = ROOT / "inputs" / "plane_source_m2.toml"
PERIODIC = ROOT / "inputs" / "periodic_2d_m1.toml"
CLI = [sys.executable, "-m", "hpcclose"]

pytestmark = pytest.mark.slow  # every test launches runs under mpiexec


def _run(nranks: int, *args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return run_mpi(nranks, [*CLI, *args, "--no-progress"], timeout=timeout)


def _final_u(run_dir: Path) -> np.ndarray:
    last = sorted(run_dir.glob("fields_*.h5"))[-1]
    with h5py.File(last, "r") as f:
        return f["fields/u"][...]


def test_refuses_to_overwrite_results(tmp_path):
    args = ["run", str(PLANE), "--set", f"output.dir='{tmp_path / 'r'}'", "--set", "scheme.max_steps=3",
            "--set", "mesh.cells=20"]
    assert _run(1, *args).returncode == 0
    again = _run(1, *args)
    assert again.returncode == 2 and "already holds results" in again.stderr and "--overwrite" in again.stderr
    assert _run(1, *args, "--overwrite").returncode == 0


def test_cli_restart_on_other_rank_count_continues_the_run(tmp_path):
    common = ["--set", "mesh.cells=40", "--set", "output.every_steps=4"]
    full, part = tmp_path / "full", tmp_path / "part"
    assert _run(2, "run", str(PLANE), *common, "--set", f"output.dir='{full}'",
                "--set", "scheme.max_steps=8").returncode == 0
    assert _run(2, "run", str(PLANE), *common, "--set", f"output.dir='{part}'",
                "--set", "scheme.max_steps=4").returncode == 0
    res = _run(3, "restart", str(part), "--set", "scheme.max_steps=8")
    assert res.returncode == 0, res.stderr
    np.testing.assert_allclose(_final_u(part), _final_u(full), rtol=0, atol=1e-12)
    assert len(list(part.glob("fields_*.h5"))) == len(list(full.glob("fields_*.h5")))


def _launch(run_dir: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "NUMBA_NUM_THREADS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.Popen([MPIEXEC, "-n", "2", *CLI, "run", str(PERIODIC), "--no-progress",
                             "--set", f"output.dir='{run_dir}'", "--set", "mesh.cells=[48,48]",
                             "--set", "velocity.quadrature=[8,8]", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                            start_new_session=True)


def _wait_for(path: Path, proc: subprocess.Popen, limit: float = 180, ready=None) -> None:
    """Wait until ``path`` exists (or ``ready()`` is true) while the run is alive; after ``limit`` seconds
    the run is taken to hang (a guard against waiting forever, not a measure of speed)."""
    end = time.monotonic() + limit
    while not (ready() if ready else path.exists()):
        assert proc.poll() is None, proc.communicate()[0]
        if time.monotonic() > end:
            pytest.fail(f"{path} never appeared in {limit:g} s")
        time.sleep(0.2)


def test_sigterm_checkpoints_and_exits_cleanly(tmp_path):
    proc = _launch(tmp_path / "r", "--set", "output.every_steps=5")
    _wait_for(tmp_path / "r" / "fields_00001.h5", proc)
    # to the ranks, as SLURM's --signal=TERM@… does (the launcher's own exit status is unreliable when
    # it is signalled itself: MPICH's mpiexec then sometimes reports 0)
    ranks = subprocess.run(["pgrep", "-f", f"^{sys.executable} -m hpcclose run .*{tmp_path}"], capture_output=True,
                           text=True).stdout.split()
    assert len(ranks) == 2
    for pid in ranks:
        os.kill(int(pid), signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)  # a run that ignores the signal ends in TimeoutExpired
    assert proc.returncode == EXIT_STOPPED, out  # stopped with a checkpoint: resubmit to continue
    assert "stopped (SIGTERM" in out
    ckpt = latest_checkpoint(tmp_path / "r")
    assert ckpt is not None and is_complete(ckpt)


def test_sigkill_during_output_keeps_previous_checkpoint(tmp_path):
    run_dir = tmp_path / "r"
    proc = _launch(run_dir, "--set", "output.every_steps=1", "--set", "output.checkpoint_every_steps=1")
    # checkpoints rotate (two are kept): wait for the third one to have been published at some point
    _wait_for(run_dir, proc, ready=lambda: (c := latest_checkpoint(run_dir)) is not None and
              int(c.stem.split("_")[1]) >= 3)
    time.sleep(0.37)  # somewhere inside the stream of writes
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    ckpt = latest_checkpoint(run_dir)
    assert ckpt is not None and is_complete(ckpt)
    with h5py.File(ckpt, "r") as f:
        u = f["fields/u"][...]
    assert u.shape == (48, 48, 3) and np.all(np.isfinite(u))


@pytest.mark.parametrize("ranks", [2, 3])
def test_restart_after_sigkill_on_any_rank_count(tmp_path, ranks):
    """A node failure: SIGKILL while outputs newer than the last checkpoint exist; the restart (on 2 or 3
    ranks) removes what it supersedes and ends where an uninterrupted run ends, bit for bit."""
    run_dir, ref = tmp_path / "r", tmp_path / "ref"
    extra = ["--set", "output.every_steps=1", "--set", "output.checkpoint_every_steps=4",
             "--set", "scheme.max_steps=40"]
    proc = _launch(run_dir, *extra)
    _wait_for(run_dir, proc, ready=lambda: (c := latest_checkpoint(run_dir)) is not None and
              int(c.stem.split("_")[1]) >= 8)
    _wait_for(run_dir, proc, ready=lambda: len(list(run_dir.glob("fields_*.h5"))) > 10)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    res = _run(ranks, "restart", str(run_dir))
    assert res.returncode == 0, res.stderr
    args = ["--set", f"output.dir='{ref}'", "--set", "mesh.cells=[48,48]", "--set", "velocity.quadrature=[8,8]"]
    assert _run(2, "run", str(PERIODIC), *args, *extra).returncode == 0
    assert np.array_equal(_final_u(run_dir), _final_u(ref))
    times = []
    for p in sorted(run_dir.glob("fields_*.h5")):
        with h5py.File(p, "r") as f:
            times.append(f.attrs["time"])
    assert len(times) == 41 and np.all(np.diff(times) > 0)  # one per step, none twice
