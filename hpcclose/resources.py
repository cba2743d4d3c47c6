"""What a run needs, checked before it allocates or steps: memory per rank, time steps, output files.

:func:`check` is called by :class:`~hpcclose.solver.Simulation` once the grid, basis and quadrature are
known and before any large array exists. It refuses, with one collective :class:`InputError` naming
the key to change, a run that

* needs more memory per rank (:func:`estimate_memory`) than this rank can have
  (:func:`memory_available`): the kernel's OOM killer would otherwise end it without a word;
* takes more than :data:`MAX_STEPS` time steps, or writes more than :data:`MAX_WRITES` field files or
  checkpoints: that is a typo (``cfl = 1e-300``, ``output.every = 1e-9``), never a run anyone waits for.

The estimate counts the arrays a run holds per rank (8-byte floats) for the largest block of the
decomposition, which rank 0 owns: u, du and the integrator's stage array; α on the owned and ghost
cells; the flux's nodal values of one tile per thread (no array of nodal values per cell exists); the
halo buffers;
the closure's per-cell work arrays; the source coefficients; the state checks; and what has the size
of the global grid (cell centres and faces, and the serial writer's gather on rank 0).
"""

from __future__ import annotations

import math
import resource
from dataclasses import dataclass
from math import prod
from pathlib import Path

import numba

from .config import Config
from .errors import InputError
from .grid import NG, Grid
from .parallel.decomp import block_sizes, choose_dims
from .scheme import flux as fluxmod
from .scheme.tiling import workspace_shapes
from .velocity import Basis, Quadrature

#: More time steps than this is a typo (a run of 10⁹ steps takes days even on a tiny mesh).
MAX_STEPS = 10**9
#: More field files (or checkpoints) than this fills a file system with no use.
MAX_WRITES = 10**5
#: Closures whose batched calls evaluate the ansatz at every node of every cell (two such arrays at
#: once: α·m, then its exponential): the base-class entropy ⟨e^{α·m}⟩. The others work in O(n) a cell.
NODE_WORK_CLOSURES = frozenset({"monotone", "hybrid"})

_FLOAT = 8
_UNLIMITED = 2**60  # cgroup v1 writes "no limit" as a huge number


@dataclass(frozen=True)
class Available:
    """Bytes this rank may allocate and how that was found (for the message)."""

    bytes: int
    how: str


def _size(b: float) -> str:
    for unit, scale in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20)):
        if b >= scale:
            return f"{b / scale:.1f} {unit}"
    return f"{b / 2**10:.1f} KiB"


# --- the estimate ----------------------------------------------------------------------------------
def process_grid(cfg: Config, grid: Grid, periodic: tuple[bool, ...], ranks: int) -> tuple[int, ...] | None:
    """Ranks per array axis as the decomposition will lay them out; None if ``parallel.dims`` does not fit
    (the decomposition refuses it)."""
    dims = cfg.parallel.dims
    if dims is None:
        return choose_dims(ranks, grid.cells, periodic)
    if len(dims) != grid.dim or prod(dims) != ranks or any(p > n for p, n in zip(dims, grid.cells, strict=True)):
        return None
    return tuple(dims)


def estimate_memory(cfg: Config, grid: Grid, n: int, nodes: int, dims: tuple[int, ...],
                    gather: bool) -> dict[str, int]:
    """Bytes rank 0 (the largest block) holds during a run, by part. ``gather``: the field writer
    collects the global fields on rank 0 (serial HDF5)."""
    block = [block_sizes(c, p)[0] for c, p in zip(grid.cells, dims, strict=True)]
    owned = prod(block)
    ext = prod(b + 2 * NG for b in block)
    faces = sum(prod(b for e, b in enumerate(block) if e != d) for d in range(grid.dim))
    node_work = 2 if (cfg.closure.name in NODE_WORK_CLOSURES or cfg.scheme.realizability_reconstruction) else 0
    parts = {
        "state u, du, stage": 3 * owned * n,
        "alpha (owned + ghosts)": ext * n,
        # the fused flux's work rows (nodal values of one tile) per thread of Numba's pool, not per cell
        "flux tiles": numba.config.NUMBA_NUM_THREADS * sum(prod(s) for s in workspace_shapes(tuple(block), nodes,
                                                                                              n)),
        "halo buffers": 4 * NG * faces * n,
        # α, normalised moments, warm start, log u0 and three int64 counters per cell; the ansatz at
        # every node for the closures (or the reconstruction) that evaluate it
        "closure work": owned * (4 * n + 4 + node_work * nodes),
        "sources": 6 * owned,  # σs, σa, S from the problem and their per-cell copies
        "state checks": 2 * owned * n,
        # scheme.skip_unchanged: the last closure input and the flux (n each), flags (bytes); the closure's
        # gathers of the changed cells take the place of its temporaries for the others
        "unchanged cells": (2 * owned * n + owned // 2) if cfg.scheme.skip_unchanged else 0,
        "global grid": sum(2 * (c + 1) for c in grid.cells) + (2 * prod(grid.cells) * n if gather else 0),
    }
    return {k: v * _FLOAT for k, v in parts.items()}


# --- what this rank may use ------------------------------------------------------------------------
def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def cgroup_free(membership: Path = Path("/proc/self/cgroup"), mount: Path = Path("/sys/fs/cgroup")) -> int | None:
    """The tightest (limit − usage) of this process's memory cgroup and its ancestors (v2 or v1), from
    the ``membership`` file and the cgroup file system at ``mount``."""
    try:
        lines = membership.read_text().splitlines()
    except OSError:
        return None
    free = []
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers == "":
            root, limit_file, usage_file = mount, "memory.max", "memory.current"
        elif "memory" in controllers.split(","):
            root, limit_file, usage_file = mount / "memory", "memory.limit_in_bytes", "memory.usage_in_bytes"
        else:
            continue
        # the process's own group and every ancestor (a container may show only part of the path)
        rel = Path(path.lstrip("/"))
        for level in [rel, *rel.parents]:
            limit, usage = _read_int(root / level / limit_file), _read_int(root / level / usage_file)
            if limit is not None and usage is not None and limit < _UNLIMITED:
                free.append(max(limit - usage, 0))
    return min(free) if free else None


def _mem_available() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _address_space_free() -> int | None:
    """RLIMIT_AS minus this process's current virtual size (a per-process limit)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY:
        return None
    try:
        status = Path("/proc/self/status").read_text()
        vm = next(int(ln.split()[1]) * 1024 for ln in status.splitlines() if ln.startswith("VmSize:"))
    except (OSError, StopIteration):
        vm = 0
    return max(soft - vm, 0)


def memory_available(ranks_on_node: int) -> Available | None:
    """What this rank may allocate: the node's free memory (cgroup limit, MemAvailable) shared by the
    ``ranks_on_node`` ranks of the run on this node, and the process's own RLIMIT_AS; None if none is
    known (not Linux)."""
    found = []
    for amount, what in ((cgroup_free(), "free in the memory cgroup"), (_mem_available(), "MemAvailable")):
        if amount is not None:
            found.append(Available(amount // ranks_on_node,
                                   f"{_size(amount)} {what} / {ranks_on_node} rank(s) on this node"))
    free_as = _address_space_free()
    if free_as is not None:
        found.append(Available(free_as, f"{_size(free_as)} left under RLIMIT_AS"))
    return min(found, key=lambda a: a.bytes) if found else None


def _ranks_on_node(comm) -> int:
    """Ranks of ``comm`` on this node (collective over ``comm``)."""
    from mpi4py import MPI

    node = comm.Split_type(MPI.COMM_TYPE_SHARED)
    try:
        return node.Get_size()
    finally:
        node.Free()


def check_memory(cfg: Config, grid: Grid, n: int, nodes: int, periodic: tuple[bool, ...], comm) -> None:
    """Refuse (collectively) a run that needs more memory per rank than the tightest rank has."""
    from .io.fields import mpio_available

    dims = process_grid(cfg, grid, periodic, comm.Get_size())
    if dims is None:
        return
    parts = estimate_memory(cfg, grid, n, nodes, dims, gather=not mpio_available())
    need = sum(parts.values())
    mine = memory_available(_ranks_on_node(comm))
    known = [a for a in comm.allgather(mine) if a is not None]
    if not known:
        return
    tightest = min(known, key=lambda a: a.bytes)
    if need <= tightest.bytes:
        return
    per_rank_cells = prod(block_sizes(c, p)[0] for c, p in zip(grid.cells, dims, strict=True))
    key = "velocity.quadrature" if nodes > per_rank_cells else "mesh.cells"
    raise InputError(f"{cfg.source}: {key}: this run needs ~{_size(need)} per rank, {_size(tightest.bytes)} "
                     f"available per rank ({tightest.how}); use more ranks, fewer cells or fewer "
                     "quadrature nodes")


# --- work: time steps and outputs --------------------------------------------------------------------
def check_work(cfg: Config, dt: float) -> None:
    """Refuse a run of more than :data:`MAX_STEPS` steps or :data:`MAX_WRITES` field files / checkpoints."""
    s, o, src = cfg.scheme, cfg.output, cfg.source
    cap = math.inf if s.max_steps is None else s.max_steps
    # every output time is a step boundary: each one may add a (short) step
    files_by_time = min(s.t_final / o.every, cap) if o.every else 0.0
    if files_by_time > MAX_WRITES:
        raise InputError(f"{src}: output.every: every = {o.every:g} asks for ~{files_by_time:.3g} field files up "
                         f"to t_final = {s.t_final:g}, more than the {MAX_WRITES} allowed: raise output.every "
                         "(or lower scheme.t_final)")
    to_end = s.t_final / dt + files_by_time
    steps = min(to_end, cap)
    if steps > MAX_STEPS:
        if s.t_final / (dt / s.cfl) <= MAX_STEPS:  # at cfl = 1 it would be a sane run: cfl is the typo
            raise InputError(f"{src}: scheme.cfl: cfl = {s.cfl:g} gives dt = {dt:.3g} and ~{steps:.3g} time steps "
                             f"to t_final = {s.t_final:g}, more than the {MAX_STEPS:.0e} allowed: cfl is the "
                             "fraction of the stable step (0 < cfl ≤ 1; 0.4–0.95 are usual)")
        raise InputError(f"{src}: scheme.t_final: reaching t_final = {s.t_final:g} takes ~{steps:.3g} time "
                         f"steps of dt = {dt:.3g}, more than the {MAX_STEPS:.0e} allowed: lower scheme.t_final, "
                         "use fewer mesh.cells or stop earlier with scheme.max_steps")
    for key, every in (("output.every_steps", o.every_steps), ("output.checkpoint_every_steps",
                                                                o.checkpoint_every_steps)):
        if every is not None and steps / every > MAX_WRITES:
            raise InputError(f"{src}: {key}: every {every} of ~{steps:.3g} steps makes ~{steps / every:.3g} "
                             f"files, more than the {MAX_WRITES} allowed: raise {key}")


def check(cfg: Config, grid: Grid, basis: Basis, quad: Quadrature, periodic: tuple[bool, ...], comm=None) -> None:
    """Refuse, on every rank of ``comm`` alike, a run that cannot fit in memory or would not end (see the
    module docstring). Collective over ``comm`` (default COMM_WORLD)."""
    from .parallel.mpi import world

    comm = world() if comm is None else comm
    check_memory(cfg, grid, basis.n, quad.size, periodic, comm)
    check_work(cfg, fluxmod.time_step(cfg.scheme, grid.spacing, quad.velocity, cfg.source))

