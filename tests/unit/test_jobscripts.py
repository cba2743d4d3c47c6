"""The SLURM job scripts, run with stand-ins for srun/scontrol/sbatch: the requeue chain of run.slurm,
and arguments with spaces and quotes passed through untouched (never pasted into code)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

JOBS = ROOT / "jobscripts"
pytestmark = pytest.mark.slow  # the scripts launch runs


def _stubs(tmp: Path) -> dict[str, str]:
    """A PATH whose srun runs the command here, and whose scontrol/sbatch record their arguments."""
    bin_ = tmp / "bin"
    bin_.mkdir()
    (bin_ / "srun").write_text('#!/bin/sh\nexec "$@"\n')
    for tool in ("scontrol", "sbatch"):
        (bin_ / tool).write_text(f'#!/bin/sh\nfor a in "$@"; do printf "%s\\n" "$a"; done > "{tmp}/{tool}.args"\n')
    hpcclose = bin_ / "hpcclose"
    hpcclose.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m hpcclose "$@"\n')
    for p in bin_.iterdir():
        p.chmod(0o755)
    return {**os.environ, "PATH": f"{bin_}:{os.environ['PATH']}", "HPCCLOSE": str(hpcclose),
            "SLURM_SUBMIT_DIR": str(ROOT), "SLURM_JOB_ID": "4242", "NUMBA_NUM_THREADS": "1",
            "PYTHONPATH": str(ROOT)}


def test_run_slurm_requeues_until_complete_with_hostile_names(tmp_path):
    weird = tmp_path / "my inputs" / "o'q $(touch PWNED).toml"
    weird.parent.mkdir()
    weird.write_text((ROOT / "inputs" / "plane_source_m2.toml").read_text())
    run_dir = tmp_path / "run dir"
    run_dir.mkdir()
    (run_dir / "STOP").touch()  # the first job "hits its time limit" after one step
    env = _stubs(tmp_path)
    job = ["bash", str(JOBS / "run.slurm"), str(weird), "--set", f'output.dir="{run_dir}"', "--set", "mesh.cells=30",
           "--set", "scheme.max_steps=4"]
    first = subprocess.run(job, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert first.returncode == 3, first.stderr
    assert (tmp_path / "scontrol.args").read_text().split("\n")[:2] == ["requeue", "4242"]
    second = subprocess.run(job, capture_output=True, text=True, env={**env, "SLURM_RESTART_COUNT": "1"},
                            cwd=tmp_path, timeout=120)
    # it continued the run (a second `run` would refuse the directory with status 2)
    assert second.returncode == 0 and "run complete" in second.stdout, second.stderr
    assert (run_dir / "checkpoint_00000004.h5").exists()
    third = subprocess.run(job, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert third.returncode == 0 and "already complete" in third.stderr
    assert not list(tmp_path.rglob("PWNED")) and not (ROOT / "PWNED").exists()


def test_submit_passes_options_through_untouched(tmp_path):
    env = _stubs(tmp_path)
    value = "output.dir='a dir/with \"quotes\" and $(x)'"
    res = subprocess.run(["bash", str(JOBS / "submit.sh"), "run", str(ROOT / "inputs" / "plane_source_m2.toml"),
                          "--ntasks=8", "--", "--set", value], capture_output=True, text=True, env=env, timeout=30)
    assert res.returncode == 0, res.stderr
    args = (tmp_path / "sbatch.args").read_text().split("\n")[:-1]
    assert args == ["--ntasks=8", str(JOBS / "run.slurm"), str(ROOT / "inputs" / "plane_source_m2.toml"), "--set",
                    value]


def test_run_gpu_slurm_runs_the_step_on_the_device_with_bound_ranks(tmp_path):
    """run_gpu.slurm: run.slurm's chain with parallel.device = "gpu" (numba-cuda's simulator here) and srun
    told the cores per rank and to bind them."""
    env = {**_stubs(tmp_path), "SLURM_CPUS_PER_TASK": "4"}
    (tmp_path / "bin" / "srun").write_text(
        f'#!/bin/sh\nprintf "%s %s\\n" "$SLURM_CPU_BIND" "$SRUN_CPUS_PER_TASK" > "{tmp_path}/srun.env"\nexec "$@"\n')
    run_dir = tmp_path / "run dir"
    job = ["bash", str(JOBS / "run_gpu.slurm"), str(ROOT / "inputs" / "plane_source_m2.toml"), "--set",
           f'output.dir="{run_dir}"', "--set", "mesh.cells=12", "--set", "scheme.max_steps=2"]
    res = subprocess.run(job, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert res.returncode == 0 and "run complete" in res.stdout, res.stderr
    assert (tmp_path / "srun.env").read_text() == "cores 4\n"
    assert "device: GPU 0 (simulator); halo staged through pinned host buffers (simulator)" in res.stderr
    assert list(run_dir.glob("fields_*.h5"))
