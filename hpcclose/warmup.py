"""Compile the kernels a run needs before its clock starts: once per machine type and cache directory.

On a fresh machine a run's first steps spend 15–50 s compiling Numba kernels. :func:`prepare_kernels`
runs a tiny copy of the run first — the same problem, basis, quadrature, closure and scheme on a few
cells, two steps, one rank, no output — so every kernel the run calls is compiled (or loaded from Numba's
on-disk cache, which is keyed by the machine's CPU) with the very argument types the run will use. The
time is reported on its own line and never counts in the run's wall time, rates, ETA or phase shares.

Under MPI the first rank on each node compiles while the node's other ranks wait; they then load what it
wrote to the cache, so N ranks never race to compile into one shared cache. The cache is the
``__pycache__`` next to the package's sources, or ``NUMBA_CACHE_DIR`` (set it to a node-local or
per-user directory on clusters whose installation is read-only; ``hpcclose compile INPUT…`` fills it
ahead of a job). A cache filled from other sources is cleared first (:mod:`hpcclose.kernel_cache`).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from . import config as config_mod
from . import kernel_cache
from .errors import HpccloseError
from .parallel import mpi

log = logging.getLogger("hpcclose")

#: Cells per axis of the tiny copy (enough for the ghost layers of any decomposition-free run), and its steps.
TINY_CELLS, TINY_STEPS = 8, 2


def _corner(extent: tuple[float, float], cells: int) -> tuple[tuple[float, float], int]:
    """The first TINY_CELLS cells of an axis: the same cell width, so the same time step."""
    if cells <= TINY_CELLS:
        return extent, cells
    lo, hi = extent
    return (lo, lo + (hi - lo) / cells * TINY_CELLS), TINY_CELLS


def tiny(cfg: config_mod.Config) -> config_mod.Config:
    """The same run on a corner of its mesh (a few cells of the same width) for two steps (the second
    reaches the kernels that skip unchanged cells, also with a one-stage integrator), on one rank,
    accepting closure failures, writing nothing."""
    m = cfg.mesh
    if m.dim == 1:
        x, nx = _corner(m.x, m.cells)
        mesh = m.model_copy(update={"x": x, "cells": nx})
    else:
        (x, nx), (y, ny) = _corner(m.x, m.cells[0]), _corner(m.y, m.cells[1])
        mesh = m.model_copy(update={"x": x, "y": y, "cells": (nx, ny)})
    return cfg.model_copy(update={
        "mesh": mesh,
        "scheme": cfg.scheme.model_copy(update={"max_steps": TINY_STEPS}),
        "closure": cfg.closure.model_copy(update={"on_failure": "accept"}),
        "parallel": cfg.parallel.model_copy(update={"dims": None}),
    })


def warm_up(cfg: config_mod.Config) -> float:
    """Run the tiny copy of ``cfg`` on this rank alone; returns the seconds it took."""
    from mpi4py import MPI

    from .solver import Simulation

    t0 = time.perf_counter()
    try:
        sim = Simulation(tiny(cfg), comm=MPI.COMM_SELF)
        sim.prime()
        while not sim.done():
            sim.step()
        sim.decomp.free()
    except HpccloseError as exc:  # the tiny copy could not finish: what it did not reach compiles in the run
        log.info("kernel warm-up stopped early (%s): the rest compiles during the run", exc)
    return time.perf_counter() - t0


def prepare_kernels(cfg: config_mod.Config) -> float:
    """Compile (or load) the run's kernels on every rank, node leaders first (collective).

    Returns this rank's seconds.
    """
    leader = mpi.node_rank().rank == 0
    # stale kernels first: rank 0 clears a cache the sources no longer match (a shared file system's),
    # then the other nodes' leaders check theirs (node-local caches; a shared one now matches)
    if mpi.rank() == 0:
        kernel_cache.refresh()
    mpi.barrier()
    if leader and mpi.rank() != 0:
        kernel_cache.refresh()
    seconds = warm_up(cfg) if leader else 0.0
    mpi.barrier()  # the leaders' compiled kernels are in the cache now
    if not leader:
        seconds = warm_up(cfg)
    return seconds


def cache_dir() -> str:
    """Where Numba keeps the compiled kernels: ``NUMBA_CACHE_DIR``, else ``__pycache__`` in the package."""
    import numba

    return numba.config.CACHE_DIR or f"{Path(__file__).parent}/**/__pycache__"
