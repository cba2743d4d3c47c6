"""The model's per-cell costs, measured here: timed steps of the input on one rank at several block sizes.

For each size the input runs alone (``COMM_SELF``) on a block of that many cells — 1D ``n`` cells, 2D a
square of about ``n`` — with warm-up steps untimed, then blocks of timed steps (:func:`.steps.run_blocks`).
Each phase's median time per step is fitted to ``a + b·n`` (:meth:`.model.Linear.fit`). The owned cells'
nodal values, the work that hides the halo, are timed on their own on the same arrays, as the solver
calls them (``part="owned"``, once per stage).
"""

from __future__ import annotations

import time
from math import isqrt

import numpy as np

from ..scheme import flux as fluxmod
from .model import MODEL_PHASES, Costs, Linear
from .steps import point_config, run_blocks

#: Default block sizes (cells) of the calibration: small blocks fix the per-step cost, large the per-cell.
SIZES = (256, 4096, 65536)


def block_override(cells: int, dim: int) -> str:
    """The ``mesh.cells`` override for a block of about ``cells`` cells (a square in 2D)."""
    if dim == 1:
        return f"mesh.cells={cells}"
    side = max(isqrt(cells), 1)
    return f"mesh.cells=[{side}, {side}]"


def _owned_nodal_s(sim, calls: int = 15) -> float:
    """Seconds per step of the owned cells' nodal values (the overlap with the halo), median of ``calls``."""
    times = []
    for _ in range(calls):
        t0 = time.perf_counter()
        fluxmod.nodal_values(sim.alpha_ext, sim.closure.m, sim.closure.linear, out=sim.f_ext, part="owned")
        times.append(time.perf_counter() - t0)
    return float(np.median(times)) * sim.integrator.stages


def measure_sizes(input_path: str, overrides: list[str], sizes, steps: int, warmup: int, repeats: int,
                  log=print) -> list[dict]:
    """One-rank measurements: per size, the median per-step time of each model phase and the overlap."""
    from mpi4py import MPI

    from .. import config

    dim = config.load(input_path, overrides).mesh.dim
    points = []
    for n in sizes:
        cfg = point_config(input_path, [*overrides, block_override(n, dim), f"parallel.dims={[1] * dim}"],
                           "strong", 1)
        sim, blocks = run_blocks(cfg, steps, warmup, repeats, comm=MPI.COMM_SELF)
        per_block = [{"closure": b["phases"]["closure"], "flux": b["phases"]["flux"], "halo": b["phases"]["halo"],
                      "other": b["phases"]["reduce"] + b["phases"]["io"] + b["phases"]["other"]} for b in blocks]
        point = {"cells": sim.grid.ncells, "wall_s": float(np.median([b["wall"] for b in blocks])),
                 **{k: float(np.median([b[k] for b in per_block])) for k in MODEL_PHASES},
                 "overlap": _owned_nodal_s(sim), "stages": sim.integrator.stages, "n_components": sim.n}
        sim.halo.free()
        sim.decomp.free()
        points.append(point)
        log(f"calibration: {point['cells']:>8} cells on one rank: {1e3 * point['wall_s']:.3f} ms/step")
    return points


def fit(points: list[dict]) -> Costs:
    """The model's costs from one-rank measurements at several sizes."""
    cells = [p["cells"] for p in points]
    return Costs(phases={k: Linear.fit(cells, [p[k] for p in points]) for k in MODEL_PHASES},
                 overlap=Linear.fit(cells, [p["overlap"] for p in points]), stages=points[0]["stages"],
                 n_components=points[0]["n_components"])
