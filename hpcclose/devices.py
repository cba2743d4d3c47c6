"""Accelerator placement for the TensorFlow paths — the one place that decides which device a rank uses.

TensorFlow is imported lazily (≈3 s): a CPU simulation never pays for it. On a GPU node every local
MPI rank gets one GPU (local rank modulo the visible GPUs) and memory growth, so several ranks can
share a node; with no GPU visible everything runs on the CPU.
"""

from __future__ import annotations

import importlib
import os

from .parallel import mpi


def tensorflow():
    """Import TensorFlow quietly (its C++ log level defaults to errors only)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return importlib.import_module("tensorflow")


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
