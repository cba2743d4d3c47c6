"""Reliability on a cluster: an error on one rank ends the job, and a run directory is used safely."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import h5py
import numpy as np
import pytest
from conftest import MPIEXEC, ROOT

from hpcclose import warmup
from hpcclose.errors import EXIT_COMPLETED, EXIT_FAILED, EXIT_INPUT, EXIT_STOPPED, InputError
from hpcclose.io.checkpoint import latest_checkpoint, read_checkpoint, write_checkpoint
from hpcclose.io.lock import RunLock

PLANE = ROOT / "inputs" / "plane_source_m2.toml"
ENV = {**os.environ, "NUMBA_NUM_THREADS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}

# Runs the CLI with one function made to fail on rank 1 from its n-th call on: a fault in one phase
# of a step, on one rank only, while the other ranks go on into the next collective.
FAULT = textwrap.dedent('''
    import sys
    from mpi4py import MPI
    phase, nth = sys.argv[1], int(sys.argv[2])
    calls = [0]

    def failing(real):
        def patched(*args, **kwargs):
            calls[0] += 1
            if MPI.COMM_WORLD.Get_rank() == 1 and calls[0] >= nth:
                raise RuntimeError(f"injected fault in the {phase}")
            return real(*args, **kwargs)
        return patched

    import hpcclose.io.run_dir as run_dir
    import hpcclose.parallel.halo as halo
    import hpcclose.scheme.divergence as divergence
    import hpcclose.solver as solver
    where = {"closure": (solver.Simulation, "_close"), "halo": (halo.HaloExchange, "finish"),
             "flux": (divergence.FluxDivergence, "frame"), "output": (run_dir.RunDirectory, "write_output"),
             "checkpoint": (run_dir, "write_checkpoint")}[phase]
    setattr(*where, failing(getattr(*where)))
    from hpcclose.__main__ import main
    sys.exit(main(sys.argv[3:]))
''')


def _cli(nranks: int, *args: str, script: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    argv = [sys.executable, *([str(script)] if script else ["-m", "hpcclose"]), *args]
    return subprocess.run([MPIEXEC, "-n", str(nranks), *argv], capture_output=True, text=True, timeout=timeout,
                          cwd=ROOT, env=ENV)


# Calls of each phase in the kernel warm-up before the run (warmup.TINY_STEPS steps of SSP-RK2 on one rank,
# after one closure for its α): the fault comes from the n-th call on, so it lands in the run itself.
STAGES = 2 * warmup.TINY_STEPS


@pytest.mark.slow  # launches runs under mpiexec
@pytest.mark.parametrize("phase, nth", [("closure", 1 + STAGES + 4), ("halo", STAGES + 4), ("flux", STAGES + 4),
                                        ("output", 2), ("checkpoint", 1)])
def test_an_error_on_one_rank_ends_the_job_in_every_phase(tmp_path, phase, nth):
    """The other rank waits in a halo exchange, a reduction or a collective write: the job must still end
    (the timeout fails the test instead of hanging), with one line naming the rank and the cause."""
    script = tmp_path / "fault.py"
    script.write_text(FAULT)
    res = _cli(2, phase, str(nth), "run", str(PLANE), "--no-progress", "--set", f"output.dir='{tmp_path / 'r'}'",
               "--set", "mesh.cells=40", "--set", "scheme.max_steps=12", "--set", "output.every_steps=2",
               "--set", "output.checkpoint_every_steps=3", script=script, timeout=90)
    assert res.returncode == EXIT_FAILED, res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.startswith("hpcclose: [rank 1/2] RuntimeError")]
    assert len(lines) == 1 and f"injected fault in the {phase}" in lines[0], res.stderr
    assert "Traceback" not in res.stderr
    assert (tmp_path / "r" / "crash-rank1.txt").read_text().startswith("Traceback")  # kept for the bug report


@pytest.mark.slow  # launches runs under mpiexec
def test_guard_stop_on_a_strong_absorber_is_collective_with_a_rescue_file(tmp_path):
    """The issue's hang: moments leave the realizable set in some cells of one rank of two."""
    res = _cli(2, "run", str(ROOT / "inputs" / "checkerboard_m1.toml"), "--no-progress",
               "--set", "mesh.x=[0.0,14.0]", "--set", "mesh.cells=[28,14]", "--set", "problem.sigma_absorber=1e6",
               "--set", "parallel.dims=[1,2]", "--set", f"output.dir='{tmp_path / 'cb'}'", timeout=90)
    assert res.returncode == EXIT_FAILED, res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.startswith("hpcclose: error")]
    assert len(lines) == 1 and "global cell (y=" in lines[0] and "rescue_" in lines[0], res.stderr
    assert len(list((tmp_path / "cb").glob("rescue_*.h5"))) == 1


# --- the run directory ------------------------------------------------------------------------------
def _run_directory(path: str, raw: str | None = None):
    from mpi4py import MPI

    from hpcclose import config
    from hpcclose.io.run_dir import RunDirectory
    from hpcclose.solver import Simulation

    cfg = config.load(PLANE, ["mesh.cells=10", f"output.dir={raw or repr(path)}"])
    return RunDirectory(Simulation(cfg, comm=MPI.COMM_SELF))


def test_an_unusable_output_directory_is_one_line(tmp_path):
    (tmp_path / "file").touch()
    for path, reason in [(tmp_path / "file", "File exists"), (tmp_path / "file" / "sub", "Not a directory"),
                         (tmp_path / ("x" * 300), "File name too long")]:
        with pytest.raises(InputError, match=rf"output.dir .*: cannot write results there \(.*{reason}"):
            _run_directory(str(path))
    with pytest.raises(InputError, match=r"cannot write results there \(embedded null byte"):
        _run_directory("", raw=f'"{tmp_path}/a\\u0000b"')  # a TOML escape for NUL


@pytest.fixture
def tiny_fs(tmp_path):
    """A 64 KiB file system (tmpfs; the test is skipped where mounting is not allowed)."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here")
    yield mnt
    subprocess.run(["umount", str(mnt)], check=False)


@pytest.mark.slow  # launches runs under mpiexec
def test_full_or_read_only_file_system(tiny_fs):
    (tiny_fs / "fill").write_bytes(b"\0" * 65536)
    with pytest.raises(InputError, match="cannot write results there .No space left on device"):
        _run_directory(str(tiny_fs / "run"))
    (tiny_fs / "fill").unlink()
    subprocess.run(["mount", "-o", "remount,ro", str(tiny_fs)], check=True)
    with pytest.raises(InputError, match="cannot write results there .Read-only file system"):
        _run_directory(str(tiny_fs / "run"))
    subprocess.run(["mount", "-o", "remount,rw", str(tiny_fs)], check=True)
    # full during the run: one line, status 1, the earlier files intact and no partial file left behind
    res = _cli(1, "run", str(PLANE), "--no-progress", "--set", f"output.dir='{tiny_fs / 'r'}'",
               "--set", "mesh.cells=2000", "--set", "scheme.max_steps=3", "--set", "output.every_steps=1")
    assert res.returncode == EXIT_FAILED
    lines = [ln for ln in res.stderr.splitlines() if ln.startswith("hpcclose:")]
    assert len(lines) == 1 and "No space left on device" in lines[0], res.stderr
    assert not list((tiny_fs / "r").glob(".*.tmp-*")) and (tiny_fs / "r" / "input.toml").exists()


@pytest.mark.slow  # launches runs under mpiexec
def test_one_run_per_directory(tmp_path):
    lock = RunLock(tmp_path)
    with pytest.raises(InputError, match=rf"output.dir {tmp_path} is in use by another run \(pid {os.getpid()}"):
        RunLock(tmp_path)
    res = _cli(1, "run", str(PLANE), "--no-progress", "--overwrite", "--set", f"output.dir='{tmp_path}'")
    assert res.returncode == EXIT_INPUT and "is in use by another run" in res.stderr
    lock.release()
    RunLock(tmp_path).release()  # free again


def _ckpt(run: Path, step: int) -> Path:
    from mpi4py import MPI

    from hpcclose.grid import Grid
    from hpcclose.parallel.decomp import Decomposition

    dc = Decomposition(Grid.from_extent(x=(0.0, 1.0, 3000)), False, comm=MPI.COMM_SELF)
    u = np.full((3000, 3), float(step))
    return write_checkpoint(run, dc, u, -u, 0.1 * step, step, "text")


def test_latest_never_leads_outside_the_run_directory(tmp_path):
    run = tmp_path / "run"
    _ckpt(run, 1)
    _ckpt(tmp_path / "elsewhere", 7)
    for pointer in ("../elsewhere/checkpoint_00000007.h5", "/etc/passwd", "checkpoint_00000007.h5/../../x"):
        (run / "latest").write_text(pointer + "\n")
        assert latest_checkpoint(run) == run / "checkpoint_00000001.h5"
    (run / "checkpoint_00000009.h5").symlink_to(tmp_path / "elsewhere" / "checkpoint_00000007.h5")
    assert latest_checkpoint(run) == run / "checkpoint_00000001.h5"


def test_a_damaged_checkpoint_is_detected_and_the_previous_one_used(tmp_path, caplog):
    from mpi4py import MPI

    from hpcclose.grid import Grid
    from hpcclose.parallel.decomp import Decomposition

    run = tmp_path / "run"
    _ckpt(run, 1)
    newest = _ckpt(run, 2)
    with h5py.File(newest, "r") as f:
        assert f["fields/u"].fletcher32 and f["fields/alpha"].fletcher32
        offset = f["fields/u"].id.get_chunk_info(0).byte_offset
    with open(newest, "r+b") as fh:  # flip the lowest bit of one number: a relative change of 1e-16
        fh.seek(offset + 8 * 17)
        byte = fh.read(1)
        fh.seek(offset + 8 * 17)
        fh.write(bytes([byte[0] ^ 1]))
    dc = Decomposition(Grid.from_extent(x=(0.0, 1.0, 3000)), False, comm=MPI.COMM_SELF)
    u, _, t, step, *_ = read_checkpoint(run, dc)
    assert step == 1 and np.all(u == 1.0)
    assert "checkpoint_00000002.h5 is damaged" in caplog.text and "Fletcher32" in caplog.text
    with pytest.raises(InputError, match="checkpoint_00000002.h5 is damaged"):
        read_checkpoint(newest, dc)


def _listing(run: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in run.iterdir() if p.name != ".hpcclose.lock"}


@pytest.mark.slow  # launches runs under mpiexec
def test_stop_file_is_consumed_and_a_completed_run_restarts_as_a_no_op(tmp_path):
    run = tmp_path / "r"
    run.mkdir()
    (run / "STOP").touch()
    common = ["--set", "mesh.cells=40", "--set", "scheme.max_steps=6", "--set", "output.every_steps=2"]
    stopped = _cli(1, "run", str(PLANE), "--no-progress", "--set", f"output.dir='{run}'", *common)
    assert stopped.returncode == EXIT_STOPPED, stopped.stderr
    assert "stopped (stop file" in stopped.stdout and not (run / "STOP").exists()
    (run / ".fields_00009.h5.tmp-4242").write_bytes(b"left by a killed writer")
    done = _cli(1, "restart", str(run), "--no-progress")
    assert done.returncode == EXIT_COMPLETED and "completed: t = " in done.stdout, done.stderr
    assert not list(run.glob(".*.tmp-*"))
    before = _listing(run)
    again = _cli(1, "restart", str(run), "--no-progress")
    assert again.returncode == EXIT_COMPLETED and "already complete" in again.stderr, again.stderr
    assert _listing(run) == before  # nothing written: no duplicate final frame
