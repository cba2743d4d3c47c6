"""The one place that initialises MPI for hpcclose and makes a failure on one rank end every rank.

Conventions (as in PyFR's mpiutil and Dedalus' logging):
- :func:`init` imports mpi4py (MPI_Init happens there), installs an excepthook that prints the rank
  and the message and calls ``COMM_WORLD.Abort(1)``: a run never hangs because one rank died;
- :func:`setup_logging` puts the rank in every log line; ranks other than 0 log warnings and above;
- :func:`node_rank` says where a rank sits on its node (for its GPU and its share of the cores);
- :func:`threads_per_rank` divides the node's cores between the ranks that share it (MPICH does not
  pin ranks, and every rank's Numba would otherwise start one thread per core).
"""

from __future__ import annotations

import logging
import os
import sys
import time
import traceback
from types import TracebackType
from typing import NamedTuple

_state: dict[str, object] = {"debug": False, "crash_dir": None}


def world():
    """COMM_WORLD (imports mpi4py, i.e. initialises MPI, on first use)."""
    from mpi4py import MPI

    return MPI.COMM_WORLD


def rank() -> int:
    return world().Get_rank()


def size() -> int:
    return world().Get_size()


def _excepthook(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    """Print one line '[rank r/P] cause' and abort every rank.

    The traceback goes to stderr with --debug; otherwise, for an internal error (a bug, not a user
    error), to ``crash-rank<r>.txt`` in the run directory once one is known (:func:`set_crash_dir`).
    """
    from ..errors import EXIT_FAILED, HpccloseError

    comm = world()
    r = comm.Get_rank()
    user_error = isinstance(exc, HpccloseError)
    name = "error" if user_error else exc_type.__name__
    trace = "".join(traceback.format_exception(exc_type, exc, tb))
    hint = ""
    if not (user_error or _state["debug"] or isinstance(exc, KeyboardInterrupt)):
        hint = f" ({_keep_traceback(trace, r)}; --debug prints it)"
    cause = " ".join(str(exc).split())  # one line, even for messages from MPI or HDF5
    text = f"hpcclose: [rank {r}/{comm.Get_size()}] {name}: {cause}{hint}\n" + (trace if _state["debug"] else "")
    # one write of the whole report, and a moment for the launcher to forward it: Abort makes mpiexec
    # kill every process, and output still in its pipes would be lost
    sys.stderr.flush()
    data = text.encode()
    while data:
        data = data[os.write(2, data):]
    code = exc.exit_status if user_error else EXIT_FAILED
    if comm.Get_size() > 1:
        time.sleep(0.5)
        comm.Abort(code)
    # alone: exit at once (mpiexec passes the status on); no MPI_Finalize, whose clean-up would retry
    # whatever just failed (a parallel HDF5 file that cannot be flushed on a full disk crashes there)
    os._exit(code)


def _keep_traceback(trace: str, r: int) -> str:
    """Write an internal error's traceback next to the run's results; returns where it went."""
    where = _state.get("crash_dir")
    if where is None:
        return "traceback not kept"
    path = os.path.join(where, f"crash-rank{r}.txt")
    try:
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(trace)
    except OSError:
        return "traceback not kept"
    return f"traceback in {path}"


def set_crash_dir(path: str | os.PathLike | None) -> None:
    """Where the excepthook keeps the traceback of an internal error (the run directory)."""
    _state["crash_dir"] = None if path is None else os.fspath(path)


def init(debug: bool = False) -> None:
    """Initialise MPI and install the abort-on-exception hook (idempotent)."""
    _state["debug"] = debug
    world()
    sys.excepthook = _excepthook


def abort_on_error(exc: BaseException) -> None:
    """Report ``exc`` as the excepthook would and end all ranks (for code that catches exceptions)."""
    _excepthook(type(exc), exc, exc.__traceback__)


class _RankFilter(logging.Filter):
    def __init__(self, r: int, n: int):
        super().__init__()
        self.tag = f"[{r}/{n}]"

    def filter(self, record: logging.LogRecord) -> bool:
        record.rank = self.tag
        return True


def setup_logging(level: int = logging.INFO) -> logging.Logger:
    """Configure the 'hpcclose' logger: the rank in every line, non-root ranks at WARNING and above."""
    comm = world()
    r, n = comm.Get_rank(), comm.Get_size()
    logger = logging.getLogger("hpcclose")
    logger.handlers.clear()
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_RankFilter(r, n))
    handler.setFormatter(logging.Formatter("%(asctime)s %(rank)s %(levelname)s %(message)s", "%H:%M:%S"))
    logger.addHandler(handler)
    logger.setLevel(level if r == 0 else max(level, logging.WARNING))
    logger.propagate = False
    return logger


# The launchers' variables: (this process's rank on its node, the job's ranks on its node).
_LAUNCHER_VARS = (("MPI_LOCALRANKID", "MPI_LOCALNRANKS"),  # MPICH/Hydra
                  ("OMPI_COMM_WORLD_LOCAL_RANK", "OMPI_COMM_WORLD_LOCAL_SIZE"),  # Open MPI
                  ("SLURM_LOCALID", "SLURM_NTASKS_PER_NODE"),  # srun (the count only with --ntasks-per-node)
                  ("PMI_LOCAL_RANK", "PMI_LOCAL_SIZE"),  # Cray PMI
                  ("MV2_COMM_WORLD_LOCAL_RANK", "MV2_COMM_WORLD_LOCAL_SIZE"))  # MVAPICH2


class NodeRank(NamedTuple):
    """Where a process sits on its node: its rank among the job's ranks there, and how many there are."""

    rank: int
    size: int


def node_rank() -> NodeRank:
    """This process's rank among the job's ranks on its node, and their number.

    * Once MPI is initialised (:func:`init`, or any import of ``mpi4py.MPI``): a shared-memory split of
      COMM_WORLD (``MPI_COMM_TYPE_SHARED``), exact whatever the launcher. The split is collective, so it
      is made once, by the first call after MPI_Init — the commands make it on every rank at start-up
      (:func:`configure_threads`) — and kept: later calls (a GPU closure choosing its device) talk to no
      other rank.
    * Before (a process that never initialises MPI, e.g. TensorFlow-only use): the launcher's environment
      (MPICH/Hydra, Open MPI, Slurm, Cray PMI, MVAPICH2), which needs neither MPI nor the other ranks; a
      launcher that gives the rank but not the count gets the smallest count consistent with it; (0, 1)
      when no launcher variable is set (a process started on its own).
    """
    if "node" in _state:
        return _state["node"]
    MPI = sys.modules.get("mpi4py.MPI")
    if MPI is None or not MPI.Is_initialized() or MPI.Is_finalized():
        return _launcher_node_rank()
    node = world().Split_type(MPI.COMM_TYPE_SHARED)
    try:
        _state["node"] = NodeRank(node.Get_rank(), node.Get_size())
    finally:
        node.Free()
    return _state["node"]


def _launcher_node_rank() -> NodeRank:
    """:func:`node_rank` from the first launcher variable set (no MPI)."""
    for rank_var, size_var in _LAUNCHER_VARS:
        r = os.environ.get(rank_var, "").strip()
        if r.isdigit():
            n = os.environ.get(size_var, "").strip()
            return NodeRank(int(r), max(int(n) if n.isdigit() else 1, int(r) + 1))
    return NodeRank(0, 1)


def threads_per_rank() -> int:
    """Numba threads a rank should use: cores available / ranks on this node (≥ 1).

    An explicit ``NUMBA_NUM_THREADS`` wins. Must run before the first parallel Numba kernel.
    """
    if "NUMBA_NUM_THREADS" in os.environ:
        return int(os.environ["NUMBA_NUM_THREADS"])
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, cores // node_rank().size)


def barrier() -> None:
    """Wait for every rank of the job (start-up coordination only, never inside the time loop)."""
    world().Barrier()


def configure_threads() -> int:
    """Set Numba's thread count for this rank (see :func:`threads_per_rank`) and return it."""
    n = threads_per_rank()
    import numba

    numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    return numba.get_num_threads()
