"""Timed steps on the ranks of one launch: the measurement behind every point of a scaling study.

``hpcclose bench steps`` (and :func:`measure`) builds the run, takes ``warmup`` steps that are not
timed (first-touch allocation, caches, the warm start of the closure), then times ``repeats`` blocks of
``steps`` steps each between barriers: a block's time is the slowest rank's. The run never ends early
(its end time is lifted), so every block is the same number of steps whatever the rank count or mesh
(the input's ``t_final`` and ``max_steps`` are ignored). Every cell is computed at every stage
(``scheme.skip_unchanged`` is off unless the input or an override sets it).

Per block it records the time per step, each phase's share (closure, flux, halo, reduce, io, and
"other": what no phase timer covers — the integrator's stage sums, the guard, the diagnostics), and
counts from the outside what the communication did: halo exchanges and the bytes their sends carried
(``HaloExchange.nbytes`` per exchange) and the allreduce calls per step.

Weak scaling (``kind="weak"``) reads the input's mesh as one rank's block: 1D multiplies the cells by
the rank count; 2D lays the ranks out as a near-square ``py × px`` grid and multiplies each axis by its
share, fixing ``parallel.dims`` so that every rank owns exactly the input's block.
"""

from __future__ import annotations

import os
import time
from math import isqrt

import numpy as np

from .. import config
from ..diagnostics import PHASES
from ..resources import MAX_STEPS

#: Phases reported per step; "other" is the part of the step no timer covers.
REPORTED = ("closure", "flux", "halo", "reduce", "io", "other")
#: The timer's phases that are measured directly (its own "other", the entropy, is folded into "other").
TIMED = tuple(p for p in PHASES if p != "other")


def weak_layout(cells: int | tuple[int, int], ranks: int) -> tuple[int | tuple[int, int], tuple[int, ...]]:
    """Global cells (x first, as in the input) and ``parallel.dims`` (array order) for ``ranks`` ranks
    that each own the block ``cells``."""
    if isinstance(cells, int):
        return cells * ranks, (ranks,)
    py = max(d for d in range(1, isqrt(ranks) + 1) if ranks % d == 0)  # near-square: py ≤ px
    px = ranks // py
    return (cells[0] * px, cells[1] * py), (py, px)


def point_config(input_path: str, overrides: list[str], kind: str, ranks: int) -> config.Config:
    """The configuration one point of a ``kind`` ("strong" | "weak") study runs on ``ranks`` ranks."""
    extra = []
    if kind == "weak":
        cells, dims = weak_layout(config.load(input_path, overrides).mesh.cells, ranks)
        extra = [f"mesh.cells={list(cells) if isinstance(cells, tuple) else cells}", f"parallel.dims={list(dims)}"]
    cfg = config.load(input_path, [*overrides, *extra])
    # the input's end is ignored (--warmup and the timed blocks decide how far it goes: the largest run
    # resources allow, never reached) and nothing is written. Every cell is computed at every stage unless
    # the input or --set asks for scheme.skip_unchanged: skipping makes a step's cost depend on where the
    # solution is at rest, which differs between ranks and over time — not what a scaling point measures
    skip = cfg.scheme.skip_unchanged if "skip_unchanged" in cfg.scheme.model_fields_set else False
    scheme = cfg.scheme.model_copy(update={"t_final": 1e300, "max_steps": MAX_STEPS, "skip_unchanged": skip})
    output = cfg.output.model_copy(update={"every": None, "every_steps": None, "checkpoint_every_steps": None,
                                           "checkpoint_every_seconds": None})
    return cfg.model_copy(update={"scheme": scheme, "output": output})


class _CountingCart:
    """The Cartesian communicator, counting its Allreduce calls (the step's fused reduction)."""

    def __init__(self, cart) -> None:
        self._cart, self.allreduces = cart, 0

    def __getattr__(self, name: str):
        return getattr(self._cart, name)

    def Allreduce(self, *args, **kwargs):  # noqa: N802 - mpi4py's name
        self.allreduces += 1
        return self._cart.Allreduce(*args, **kwargs)


class _Counters:
    """Halo exchanges and allreduces of one Simulation, counted by wrapping its halo and communicator."""

    def __init__(self, sim) -> None:
        self.exchanges = 0
        start = sim.halo.start

        def counted_start(ext):
            self.exchanges += 1
            return start(ext)

        sim.halo.start = counted_start
        self.cart = _CountingCart(sim.decomp.cart)
        sim.decomp.cart = self.cart
        self.halo_nbytes = sim.halo.nbytes

    def snapshot(self) -> tuple[int, int]:
        return self.exchanges, self.cart.allreduces

    def release(self, sim) -> None:
        """Give the Simulation its own communicator back (before it is freed)."""
        sim.decomp.cart = self.cart._cart


def _block(sim, counters: _Counters, steps: int) -> dict:
    """Time ``steps`` steps between barriers; per-step phases and counts on this rank."""
    d = sim.decomp
    d.barrier()
    before, (ex0, red0) = dict(sim.timer.totals), counters.snapshot()
    t0 = time.perf_counter()
    for _ in range(steps):
        sim.step()
    d.barrier()
    wall = (time.perf_counter() - t0) / steps
    phases = {p: (sim.timer.totals[p] - before[p]) / steps for p in TIMED}
    phases["other"] = max(wall - sum(phases.values()), 0.0)
    ex1, red1 = counters.snapshot()
    return {"wall": wall, "phases": phases, "exchanges": (ex1 - ex0) / steps, "allreduces": (red1 - red0) / steps}


def run_blocks(cfg: config.Config, steps: int, warmup: int, repeats: int, comm=None):
    """Build the run, take ``warmup`` untimed steps, time ``repeats`` blocks of ``steps`` steps.

    Returns ``(sim, blocks)`` with this rank's block records; the caller frees ``sim.halo`` and ``sim.decomp``.
    """
    from ..solver import Simulation

    sim = Simulation(cfg, comm=comm)
    counters = _Counters(sim)
    for _ in range(warmup):
        sim.step()
    blocks = [_block(sim, counters, steps) for _ in range(repeats)]
    counters.release(sim)
    for b in blocks:
        b["halo_bytes"] = b["exchanges"] * counters.halo_nbytes
    return sim, blocks


def _node_share() -> dict:
    """Ranks and threads on this node against its CPUs: is the node oversubscribed?"""
    import numba

    from ..parallel import mpi

    ranks_here, threads, cpus = mpi.node_rank().size, numba.get_num_threads(), os.cpu_count() or 1
    return {"ranks_on_node": ranks_here, "threads_per_rank": threads, "cpus_on_node": cpus,
            "oversubscribed": ranks_here * threads > cpus}


def measure(cfg: config.Config, steps: int, warmup: int, repeats: int, comm=None) -> dict:
    """One point of a scaling study on the ranks of ``comm`` (collective); the row every rank returns.

    ``step_s`` holds each block's time per step (slowest rank); ``phases_s`` the per-step phase times,
    averaged over ranks and blocks; ``halo_bytes_per_step`` the bytes all ranks' halo sends carried per
    step, ``halo_bytes_per_step_max`` the most one rank sent.
    """
    sim, blocks = run_blocks(cfg, steps, warmup, repeats, comm)
    d = sim.decomp
    walls = d.max(np.array([b["wall"] for b in blocks]))
    phases = np.array([[b["phases"][p] for p in REPORTED] for b in blocks]).mean(axis=0)
    phases = d.sum(phases) / d.size
    bytes_step = float(np.mean([b["halo_bytes"] for b in blocks]))
    hosts = sorted(set(d.cart.allgather(os.uname().nodename)))
    share = _node_share()
    row = {"ranks": d.size, "dims": list(d.dims), "cells": list(sim.grid.cells[::-1]), "ncells": sim.grid.ncells,
           "cells_per_rank": d.max(d.ncells_local), "n_components": sim.n, "stages": sim.integrator.stages,
           "closure": sim.closure.name, "steps": steps, "warmup": warmup, "repeats": repeats,
           "step_s": [float(w) for w in walls], "phases_s": dict(zip(REPORTED, map(float, phases), strict=True)),
           "exchanges_per_step": d.max(blocks[0]["exchanges"]), "allreduces_per_step": d.max(blocks[0]["allreduces"]),
           "halo_bytes_per_step": d.sum(bytes_step), "halo_bytes_per_step_max": d.max(bytes_step),
           "hosts": hosts, **share, "oversubscribed": bool(d.max(int(share["oversubscribed"])))}
    sim.halo.free()
    d.free()
    return row
