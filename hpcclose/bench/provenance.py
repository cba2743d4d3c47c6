"""Where a benchmark figure came from: one record written into every bench JSON.

A figure is only worth publishing with its circumstances: which code (version and git commit), which
MPI library and launcher, which machine (host, cores, threads per rank, load), when, and from which
input and overrides. :func:`provenance` gathers them; it never initialises MPI itself (the MPI library
is named where the process already runs MPI, as every ``hpcclose`` command does).
"""

from __future__ import annotations

import datetime
import hashlib
import os
import platform
import subprocess
import sys
from pathlib import Path

from .. import __version__

#: Launchers recognised from their environment: (variable they set, how to name them).
_LAUNCHERS = (("SLURM_STEP_ID", "srun"), ("MPI_LOCALRANKID", "mpiexec (MPICH Hydra)"),
              ("PMI_RANK", "mpiexec (PMI)"), ("OMPI_COMM_WORLD_SIZE", "mpirun (Open MPI)"),
              ("PMIX_RANK", "a PMIx launcher"))


def code_version() -> dict:
    """hpcclose's version and, in a git checkout, the commit and whether the tree had changes."""
    out: dict = {"hpcclose": __version__}
    root = Path(__file__).resolve().parents[2]
    try:
        git = ["git", "-C", str(root)]
        commit = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        if commit.returncode == 0:
            dirty = subprocess.run([*git, "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                                   text=True, timeout=10)
            out |= {"git_commit": commit.stdout.strip(), "git_dirty": bool(dirty.stdout.strip())}
    except (OSError, subprocess.SubprocessError):  # no git, or not a checkout: the version alone
        pass
    return out


def mpi_library() -> dict | None:
    """The MPI library and standard of this process, or None where MPI is not initialised here."""
    mpi_mod = sys.modules.get("mpi4py.MPI")
    if mpi_mod is None or not mpi_mod.Is_initialized():
        return None
    import mpi4py

    major, minor = mpi_mod.Get_version()
    return {"library": " ".join(mpi_mod.Get_library_version().split("\n")[0].split()), "standard": f"{major}.{minor}",
            "mpi4py": mpi4py.__version__}


def launcher() -> str:
    """The launcher that started this process, as its environment says ("none" for a process on its own)."""
    return next((name for var, name in _LAUNCHERS if var in os.environ), "none")


def machine() -> dict:
    """Host, processor, logical CPUs, the CPUs this process may run on, threads per rank and load."""
    import numba

    cpus = os.cpu_count() or 1
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cpus
    out = {"host": platform.node(), "processor": platform.processor() or platform.machine(), "cpus": cpus,
           "cpus_usable": usable, "threads_per_rank": numba.get_num_threads(),
           "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None}
    slurm = {k: os.environ[k] for k in ("SLURM_JOB_ID", "SLURM_JOB_NUM_NODES", "SLURM_JOB_PARTITION",
                                        "SLURM_CPU_BIND") if k in os.environ}
    return out | ({"slurm": slurm} if slurm else {})


def input_record(path: str | os.PathLike | None, overrides: list[str] | tuple[str, ...] = ()) -> dict | None:
    """The input file (path, SHA-256 and text) and the overrides applied to it."""
    if path is None:
        return None
    text = Path(path).read_text(encoding="utf-8")
    return {"path": str(path), "sha256": hashlib.sha256(text.encode()).hexdigest(), "text": text,
            "overrides": list(overrides)}


def provenance(input_path: str | os.PathLike | None = None, overrides: list[str] | tuple[str, ...] = (),
               **extra) -> dict:
    """Everything a published figure needs to say about its making (``extra`` adds bench-specific keys)."""
    import numba
    import numpy

    return {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "code": code_version(), "python": platform.python_version(), "numpy": numpy.__version__,
            "numba": numba.__version__, "mpi": mpi_library(), "launcher": launcher(), "machine": machine(),
            "input": input_record(input_path, overrides), "command": sys.argv, **extra}
