"""The MPI runtime conventions hold for real launches (subprocesses under mpiexec)."""

from __future__ import annotations

import json
import sys
import textwrap
import time

from conftest import hpcclose_cmd, run_mpi


def test_info_json_reports_ranks_and_mpio():
    res = run_mpi(2, [*hpcclose_cmd(), "info", "--json"], timeout=120)
    assert res.returncode == 0, res.stderr
    info = json.loads(res.stdout)  # printed once, by rank 0 only
    assert info["ranks"] == 2
    assert info["h5py_mpio"] is True
    assert "MPICH" in info["mpi_library"] or info["mpi_library"]
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
    """))
    start = time.monotonic()
    res = run_mpi(2, [sys.executable, str(script)], timeout=60)
    assert time.monotonic() - start < 30
    assert res.returncode != 0
    assert "[rank 1/2]" in res.stderr and "deliberate failure" in res.stderr


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
