"""``hpcclose bench solver``: time whole simulations and variants of them.

``solver`` runs an input and any number of variants (``--compare closure.name=pn``) one after another
in one process, so their time ratios come from one run on one machine. Each timing follows a short
warm-up run of the same configuration (compilation and caches are not timed). Scaling studies (fixed
numbers of timed steps per rank count) are :mod:`.scaling`'s.
"""

from __future__ import annotations

import time
from pathlib import Path

from .. import config
from .output import write_json
from .provenance import provenance


def time_run(cfg: config.Config, comm=None, warmup_steps: int = 3) -> dict:
    """Wall time of a full run of ``cfg`` (after a warm-up of a few steps), reduced over ranks, and the
    CPU time of this process over the same run (``cpu_s``: on a shared machine the neighbours' load does
    not count in it)."""
    from ..solver import Simulation

    warm = Simulation(cfg.model_copy(update={"scheme": cfg.scheme.model_copy(update={"max_steps": warmup_steps})}),
                      comm=comm)
    while not warm.done():
        warm.step()
    warm.decomp.free()
    sim = Simulation(cfg, comm=comm)
    sim.decomp.barrier()
    t0, c0 = time.perf_counter(), time.process_time()
    while not sim.done():
        sim.step()
    sim.decomp.barrier()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    hist = sim.history.records
    phases = {k: sim.decomp.max(v) for k, v in sim.timer.totals.items()}
    return {"closure": sim.closure.name, "N": sim.basis.N, "cells": sim.grid.ncells, "ranks": sim.decomp.size,
            "dims": list(sim.decomp.dims), "steps": sim.step_count, "wall_s": wall, "cpu_s": cpu,
            "cell_updates_per_s": sim.grid.ncells * sim.step_count / wall, "phases_s": phases,
            "iterations_mean": sum(r.iterations_mean for r in hist) / max(len(hist), 1),
            "regularised": sum(r.regularised for r in hist), "threads_per_rank": _threads()}


def _threads() -> int:
    import numba

    return numba.get_num_threads()


def solver(input_path: str, overrides: list[str], variants: list[str], log=print) -> list[dict]:
    """Time the input and each variant (a comma-separated list of overrides) in this process."""
    from ..parallel import mpi

    rows = []
    for variant in ["", *variants]:
        extra = [v for v in variant.split(",") if v]
        cfg = config.load(input_path, [*overrides, *extra])
        row = time_run(cfg) | {"variant": variant or "(as given)"}
        rows.append(row)
        if mpi.rank() == 0:
            ratio, cpu_ratio = row["wall_s"] / rows[0]["wall_s"], row["cpu_s"] / rows[0]["cpu_s"]
            log(f"{row['variant']:<28} {row['closure']:<8} {row['cells']:>8} cells {row['steps']:>6} steps "
                f"{row['wall_s']:9.3f} s  {row['cell_updates_per_s']:10.3e} cell-updates/s  "
                f"time ratio {ratio:7.3f}  CPU {row['cpu_s']:9.3f} s, ratio {cpu_ratio:7.3f}  "
                f"(ranks {row['ranks']}, threads/rank {row['threads_per_rank']})")
    return rows


def save(rows: list[dict], path: Path, settings: dict) -> Path:
    """The rows as JSON, with the settings and the provenance of the measurement."""
    return write_json(path, {"settings": settings, "provenance": provenance(settings["input"], settings["overrides"]),
                             "rows": rows})
