"""The scaling-study job scripts, run with stand-ins for srun and sbatch: each node count's job measures its
points with pinned ranks, the merge job combines them, and the submit helper chains one job per node count
to the merge — with hostile names passed through untouched (never pasted into code)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import MPIEXEC, ROOT

JOBS = ROOT / "jobscripts"
pytestmark = pytest.mark.slow  # the scripts launch runs


def _env(tmp: Path, study: Path) -> dict[str, str]:
    """srun runs `mpiexec -n N` here (recording its options); sbatch records each call and prints a job id."""
    bin_ = tmp / "bin"
    bin_.mkdir()
    (bin_ / "srun").write_text(f'#!/bin/bash\nprintf "%s\\n" "$@" >> "{tmp}/srun.args"\nn=1\n'
                               'while [[ $1 == -* ]]; do if [ "$1" = -n ]; then n=$2; shift; fi; shift; done\n'
                               f'exec "{MPIEXEC}" -n "$n" "$@"\n')
    (bin_ / "sbatch").write_text(f'#!/bin/bash\nprintf "%s\\n" "$@" "----" >> "{tmp}/sbatch.args"\n'
                                 f'n=$(grep -c -- "^----$" "{tmp}/sbatch.args")\necho "$((100 + n));cluster"\n')
    (bin_ / "hpcclose").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m hpcclose "$@"\n')
    for p in bin_.iterdir():
        p.chmod(0o755)
    return {**os.environ, "PATH": f"{bin_}:{os.environ['PATH']}", "HPCCLOSE": str(bin_ / "hpcclose"),
            "SLURM_SUBMIT_DIR": str(ROOT), "SLURM_JOB_ID": "4242", "SLURM_NTASKS": "2", "SLURM_JOB_NUM_NODES": "1",
            "NUMBA_NUM_THREADS": "1", "PYTHONPATH": str(ROOT), "HPCCLOSE_STUDY_DIR": str(study)}


def test_a_node_count_job_measures_its_points_and_the_merge_job_combines_them(tmp_path):
    weird = tmp_path / "my inputs" / "o'q $(touch PWNED).toml"
    weird.parent.mkdir()
    weird.write_text((ROOT / "inputs" / "plane_source_m2.toml").read_text())
    study = tmp_path / "study dir"
    env = _env(tmp_path, study)
    job = ["bash", str(JOBS / "strong_scaling.slurm"), str(weird), "--steps", "2", "--warmup", "1", "--repeats",
           "2", "--set", "mesh.cells=120"]
    res = subprocess.run(job, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert res.returncode == 0, res.stderr
    assert sorted(p.name for p in study.iterdir()) == ["strong_P1.json", "strong_P2.json"]  # 1, 2 on one node
    srun = (tmp_path / "srun.args").read_text().split("\n")
    assert srun.count("--cpu-bind=cores") == 2 and "--mpi=pmix" not in srun
    merge = subprocess.run(["bash", str(JOBS / "scaling_merge.slurm"), "strong"], capture_output=True, text=True,
                           env=env, cwd=tmp_path, timeout=120)
    assert merge.returncode == 0, merge.stderr
    result = json.loads((study / "scaling_strong.json").read_text())
    assert [r["ranks"] for r in result["rows"]] == [1, 2] and (study / "scaling_strong.png").exists()
    assert result["provenance"]["input"]["path"] == str(weird)
    assert result["rows"][1]["provenance"]["input"]["overrides"] == ["mesh.cells=120"]
    assert not list(tmp_path.rglob("PWNED")) and not (ROOT / "PWNED").exists()


def test_the_study_is_one_job_per_node_count_then_the_merge(tmp_path):
    env = _env(tmp_path, tmp_path / "study")
    value = "output.dir='a dir/with \"quotes\" and $(x)'"
    inp = str(ROOT / "inputs" / "plane_source_m2.toml")
    res = subprocess.run(["bash", str(JOBS / "scaling_study.sh"), "weak", inp, "1,2,4", "--account=abc", "--",
                          "--steps", "20", "--set", value], capture_output=True, text=True, env=env, timeout=30)
    assert res.returncode == 0, res.stderr
    calls = (tmp_path / "sbatch.args").read_text().split("----\n")[:-1]
    calls = [c.split("\n")[:-1] for c in calls]
    for n, call in zip((1, 2, 4), calls, strict=False):
        assert call == ["--parsable", f"--nodes={n}", "--account=abc", str(JOBS / "weak_scaling.slurm"), inp,
                        "--steps", "20", "--set", value]
    assert calls[3] == ["--parsable", "--dependency=afterany:101:102:103", "--account=abc",
                        str(JOBS / "scaling_merge.slurm"), "weak"]
    assert "merge job 104" in res.stdout
    bad = subprocess.run(["bash", str(JOBS / "scaling_study.sh"), "weak", inp, "1,two"], capture_output=True,
                         text=True, env=env, timeout=30)
    assert bad.returncode == 2 and "NODES" in bad.stderr
