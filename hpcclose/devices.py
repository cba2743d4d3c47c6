"""Accelerator placement for the TensorFlow paths — the one place that decides which device a rank uses.

TensorFlow is imported lazily (≈3 s): a CPU simulation never pays for it. On a GPU node every local
MPI rank gets one GPU (local rank modulo the visible GPUs) and memory growth, so several ranks can
share a node; with no GPU visible everything runs on the CPU.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys

from .parallel import mpi


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
