"""The MPI runtime conventions hold for real launches (subprocesses under mpiexec)."""

from __future__ import annotations

import json
import sys
import textwrap

import pytest
from conftest import hpcclose_cmd, run_mpi

pytestmark = pytest.mark.slow  # every test launches processes under mpiexec


def test_info_json_reports_ranks_and_mpio():
    res = run_mpi(2, [*hpcclose_cmd(), "info", "--json"], timeout=120)
    assert res.returncode == 0, res.stderr
    info = json.loads(res.stdout)  # printed once, by rank 0 only
    assert info["ranks"] == 2 and info["ranks_per_node"] == 2
    assert info["h5py_mpio"] is True
    # the library the launched ranks run on is the one mpi4py in this environment is built against
    from mpi4py import MPI

    assert info["mpi_library"] == MPI.Get_library_version().strip().splitlines()[0]
    assert info["numba_threads_per_rank"] >= 1


def test_exception_on_one_rank_aborts_all(tmp_path):
    # rank 0 waits in a collective that rank 1 never reaches: without the abort hook this hangs
    script = tmp_path / "boom.py"
    script.write_text(textwrap.dedent("""
        from hpcclose.parallel import mpi
        mpi.init()
        comm = mpi.world()
        if comm.Get_rank() == 1:
            raise RuntimeError("deliberate failure")
        comm.barrier()
        print("rank 0 passed the barrier", flush=True)
    """))
    res = run_mpi(2, [sys.executable, str(script)], timeout=60)  # a hang ends in TimeoutExpired
    assert res.returncode != 0
    assert "[rank 1/2]" in res.stderr and "deliberate failure" in res.stderr
    # rank 1 aborted the job: rank 0 never left the barrier (the launcher's own "MPI_Abort" line is not
    # checked: a loaded machine may kill the aborting process before the launcher forwards it)
    assert "passed the barrier" not in res.stdout


def test_user_error_is_one_line_exit_2(tmp_path):
    script = tmp_path / "bad.py"
    script.write_text(textwrap.dedent("""
        from hpcclose.parallel import mpi
        from hpcclose.errors import InputError
        mpi.init()
        raise InputError("cells must be positive (key mesh.cells in demo.toml)")
    """))
    res = run_mpi(1, [sys.executable, str(script)], timeout=60)
    assert res.returncode == 2
    assert "Traceback" not in res.stderr
    assert "mesh.cells" in res.stderr
