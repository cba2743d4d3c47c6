"""``hpcclose bench solver`` and ``hpcclose bench scaling``: time whole simulations.

``solver`` runs an input and any number of variants (``--compare closure.name=pn``) one after another
in one process, so their time ratios come from one run on one machine. Each timing follows a short
warm-up run of the same configuration (compilation and caches are not timed). ``scaling`` launches
``solver`` under ``mpiexec -n P`` for each P and reports speedup and efficiency (strong scaling: the same
problem; weak: cells along x multiplied by P).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .. import config
from .closures import machine


def time_run(cfg: config.Config, comm=None, warmup_steps: int = 3) -> dict:
    """Wall time of a full run of ``cfg`` (after a warm-up of a few steps), reduced over ranks."""
    from ..solver import Simulation

    warm = Simulation(cfg.model_copy(update={"scheme": cfg.scheme.model_copy(update={"max_steps": warmup_steps})}),
                      comm=comm)
    while not warm.done():
        warm.step()
    warm.decomp.free()
    sim = Simulation(cfg, comm=comm)
    sim.decomp.barrier()
    t0 = time.perf_counter()
    while not sim.done():
        sim.step()
    sim.decomp.barrier()
    wall = time.perf_counter() - t0
    hist = sim.history.records
    phases = {k: sim.decomp.max(v) for k, v in sim.timer.totals.items()}
    return {"closure": sim.closure.name, "N": sim.basis.N, "cells": sim.grid.ncells, "ranks": sim.decomp.size,
            "dims": list(sim.decomp.dims), "steps": sim.step_count, "wall_s": wall,
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
            ratio = row["wall_s"] / rows[0]["wall_s"]
            log(f"{row['variant']:<28} {row['closure']:<8} {row['cells']:>8} cells {row['steps']:>6} steps "
                f"{row['wall_s']:9.3f} s  {row['cell_updates_per_s']:10.3e} cell-updates/s  "
                f"time ratio {ratio:7.3f}  (ranks {row['ranks']}, threads/rank {row['threads_per_rank']})")
    return rows


def scaling(input_path: str, overrides: list[str], ranks: list[int], kind: str, mpiexec: str,
            log=print) -> list[dict]:
    """Launch the solver benchmark on each rank count; speedup/efficiency relative to the first."""
    rows = []
    base_cells = config.load(input_path, overrides).mesh.cells
    for p in ranks:
        extra = list(overrides)
        if kind == "weak":  # grow the x extent of the work with P (cells along x times P)
            cells = [base_cells * p] if isinstance(base_cells, int) else [base_cells[0] * p, base_cells[1]]
            extra.append(f"mesh.cells={cells if len(cells) > 1 else cells[0]}")
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "row.json"
            cmd = [mpiexec, "-n", str(p), sys.executable, "-m", "hpcclose", "bench", "solver", input_path,
                   "--json", str(out), *sum((["--set", o] for o in extra), [])]
            env = {**os.environ, "NUMBA_NUM_THREADS": os.environ.get("NUMBA_NUM_THREADS", "1")}
            res = subprocess.run(cmd, capture_output=True, text=True, env=env)
            if res.returncode != 0:
                raise RuntimeError(f"{' '.join(cmd)} failed:\n{res.stderr[-2000:]}")
            row = json.loads(out.read_text())["rows"][0]
        first = rows[0] if rows else row
        ideal = 1.0 if kind == "weak" else p / first["ranks"]
        speed = first["wall_s"] / row["wall_s"] if kind == "strong" else first["wall_s"] / row["wall_s"]
        row |= {"speedup": speed if kind == "strong" else None, "efficiency": speed / ideal}
        rows.append(row)
        log(f"P = {p:>3}: {row['cells']:>9} cells, wall {row['wall_s']:9.3f} s, "
            + (f"speedup {speed:6.2f}, " if kind == "strong" else "")
            + f"efficiency {100 * row['efficiency']:5.1f} %")
    return rows


def save(rows: list[dict], path: Path, settings: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps({"settings": settings, "machine": machine(), "rows": rows}, indent=1))
    os.replace(tmp, path)
    return path


def plot_scaling(rows: list[dict], path: Path, kind: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    p = [r["ranks"] for r in rows]
    fig, ax = plt.subplots(figsize=(5, 4))
    if kind == "strong":
        ax.plot(p, [r["speedup"] for r in rows], "o-", label="measured")
        ax.plot(p, [q / p[0] for q in p], "k--", label="ideal")
        ax.set(ylabel="speedup")
    else:
        ax.plot(p, [r["efficiency"] for r in rows], "o-", label="measured")
        ax.axhline(1.0, color="k", ls="--", label="ideal")
        ax.set(ylabel="efficiency")
    ax.set(xlabel="MPI ranks", title=f"{kind} scaling")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    tmp = path.with_name(f".{path.stem}.tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, path)
    return path
