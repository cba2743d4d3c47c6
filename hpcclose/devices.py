"""Accelerator placement — the one place that decides which device a rank uses, for both GPU paths.

* numba-cuda (``[parallel] device = "gpu"``: the whole step on the GPU, :mod:`hpcclose.gpu`): every local MPI
  rank gets one GPU, local rank modulo the GPUs numba-cuda sees (:func:`place_cuda`); :func:`cuda_missing`
  says why a run cannot have one; :func:`cuda_aware_mpi` whether the halo may hand device buffers to MPI.
* TensorFlow (training, the TF inference backend): the same rule, with memory growth (:func:`place_rank`).

Both are imported lazily (numba-cuda ≈2 s, TensorFlow ≈3 s): a CPU simulation never pays for them. Under
numba-cuda's simulator (``NUMBA_ENABLE_CUDASIM=1``) one simulated GPU is visible and MPI is never CUDA-aware.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib
import importlib.metadata
import os
import sys

from .parallel import mpi

#: "1"/"0" forces the halo's device-buffer MPI on / off (the input's ``parallel.cuda_aware_mpi`` wins)
CUDA_AWARE_ENV = "HPCCLOSE_CUDA_AWARE_MPI"


def tensorflow():
    """Import TensorFlow quietly: its C++ log level defaults to errors only, and the lines its libraries
    print while loading, before that level applies (absl's "All log messages before
    absl::InitializeLog()…", oneDNN's notice), are dropped. A failed import still raises ImportError."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    with _stderr_dropped():
        return importlib.import_module("tensorflow")


@contextlib.contextmanager
def _stderr_dropped():
    """File descriptor 2 goes to /dev/null meanwhile (C++ code writes there, past Python's sys.stderr)."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def gpus() -> list[str]:
    """Names of the GPUs TensorFlow sees (empty without TensorFlow or GPUs)."""
    try:
        tf = tensorflow()
    except ImportError:
        return []
    return [d.name for d in tf.config.list_physical_devices("GPU")]


def place_rank(local_rank: int | None = None) -> str:
    """Pin this process to one GPU (round-robin over local ranks) and return the TF device string.

    ``local_rank``: this process's rank on its node; by default :func:`hpcclose.parallel.mpi.node_rank`'s.
    """
    tf = tensorflow()
    devices = tf.config.list_physical_devices("GPU")
    if not devices:
        return "/CPU:0"
    if local_rank is None:
        local_rank = mpi.node_rank().rank
    mine = devices[local_rank % len(devices)]
    try:
        tf.config.set_visible_devices(mine, "GPU")
        tf.config.experimental.set_memory_growth(mine, True)
    except RuntimeError:  # already initialised: keep the placement made earlier
        pass
    return "/GPU:0"


# --- numba-cuda ------------------------------------------------------------------------------------------
def simulator() -> bool:
    """numba-cuda's simulator is on (``NUMBA_ENABLE_CUDASIM=1``): kernels run as Python on the CPU."""
    import numba

    return bool(numba.config.ENABLE_CUDASIM)


def cuda_missing() -> str | None:
    """Why ``device = "gpu"`` cannot run here (one line), or None: numba-cuda not installed, or no GPU
    visible to it outside the simulator."""
    try:
        importlib.metadata.version("numba-cuda")
    except importlib.metadata.PackageNotFoundError:
        return "device \"gpu\" needs numba-cuda: pip install -e .[gpu] (with the CUDA of the cluster)"
    if simulator():
        return None
    from numba import cuda

    if not cuda.is_available():
        return "device \"gpu\": numba-cuda sees no GPU (no CUDA driver or no device visible to this process)"
    return None


def cuda_gpus() -> list[str]:
    """Names of the GPUs numba-cuda sees (empty without numba-cuda, driver or GPU; "simulator" per simulated
    GPU). Imports numba.cuda only where numba-cuda is installed."""
    try:
        importlib.metadata.version("numba-cuda")
    except importlib.metadata.PackageNotFoundError:
        return []
    from numba import cuda

    if not cuda.is_available():
        return []
    return [_name(g) for g in cuda.gpus]


def _name(gpu) -> str:
    name = getattr(gpu, "name", b"simulator")
    return name.decode() if isinstance(name, bytes) else str(name)


def place_cuda(local_rank: int | None = None) -> str:
    """Make this process's numba-cuda context on GPU (local rank modulo the GPUs it sees); returns
    "GPU i (name)". ``local_rank``: by default :func:`hpcclose.parallel.mpi.node_rank`'s."""
    from numba import cuda

    if local_rank is None:
        local_rank = mpi.node_rank().rank
    index = local_rank % len(cuda.gpus)
    cuda.select_device(index)
    return f"GPU {index} ({_name(cuda.get_current_device())})"


def cuda_aware_mpi(setting: bool | None = None) -> tuple[bool, str]:
    """(whether MPI takes device buffers, why): the input's ``setting`` if given, else :data:`CUDA_AWARE_ENV`,
    else never under the simulator, else the MPI library's own answer (``MPIX_Query_cuda_support``: Open MPI,
    MPICH ≥ 4), else no. Call after MPI_Init."""
    if setting is not None:
        return bool(setting), "parallel.cuda_aware_mpi"
    env = os.environ.get(CUDA_AWARE_ENV, "").strip()
    if env in ("0", "1"):
        return env == "1", CUDA_AWARE_ENV
    if simulator():
        return False, "simulator"
    from mpi4py import MPI

    query = getattr(ctypes.CDLL(MPI.__file__), "MPIX_Query_cuda_support", None)  # searches libmpi too
    if query is None:
        return False, "the MPI library cannot be asked (no MPIX_Query_cuda_support)"
    query.restype = ctypes.c_int
    return bool(query()), "MPIX_Query_cuda_support"
