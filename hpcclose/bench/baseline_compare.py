"""``hpcclose bench baseline``: hpcclose against the plain Numba solver (:mod:`.baseline`), per cell-step.

For every moment order N the same 1D input (``velocity.order = N``) runs through both, alternating, the
best of ``repeat`` runs kept (each after a warm-up run, so compilation is not timed). hpcclose is timed
twice over: the whole ``Simulation.step`` ("run": stages plus the end-of-step guard, recorder and the
rest), and its stages alone ("step": what the baseline does). The baseline takes hpcclose's own time
steps, so both end at the same time, and the relative L² difference of the final moments shows that
both compute the same solution to the Newton tolerance. Times are CPU time of the process
(``time.process_time``, one rank): on a shared machine the neighbours' load does not count, their cache
and memory traffic still does.
"""

from __future__ import annotations

import time

import numpy as np

from .. import config
from ..errors import InputError
from .baseline import BaselineSolver


def _timed_run(cfg: config.Config) -> tuple[float, float, list[float], object]:
    """(wall of every step, wall of the integrator alone, the steps' Δt, the Simulation)."""
    from ..solver import Simulation

    sim = Simulation(cfg)
    integrate = sim.integrator.step
    inside = [0.0]

    def timed(*args):
        t0 = time.process_time()
        out = integrate(*args)
        inside[0] += time.process_time() - t0
        return out

    sim.integrator.step = timed
    dts = []
    t0 = time.process_time()
    while not sim.done():
        dts.append(sim.step())
    return time.process_time() - t0, inside[0], dts, sim


def baseline_for(sim) -> BaselineSolver:
    """The plain solver set up like ``sim`` (a 1D run with prescribed or periodic walls, constant σs)."""
    bcs = sim.bcs[0]
    kinds = {bc.kind for bc in bcs}
    coeff = sim.problem.coefficients(tuple(sim.decomp.local_centers(a) for a in range(sim.dim)))
    if sim.dim != 1 or sim.closure.name != "newton" or not kinds <= {"prescribed", "periodic"} or len(kinds) > 1:
        raise InputError("bench baseline: needs a 1D run of the newton closure with prescribed or periodic walls")
    if np.ndim(coeff.sigma_s) or np.any(coeff.sigma_a) or np.any(coeff.source):
        raise InputError("bench baseline: needs constant scattering and no absorption or source")
    periodic = "periodic" in kinds
    left, right = (np.zeros(sim.quad.size) if periodic else np.broadcast_to(bc.values, (sim.quad.size,))
                   for bc in bcs)
    s = sim.cfg.scheme
    return BaselineSolver(sim.u, sim.closure.m, sim.closure.w, sim.vel[:, 0], sim.grid.spacing[0], s.order,
                          s.theta, left, right, periodic, float(coeff.sigma_s), sim.sources.iso,
                          sim.closure.tol, sim.closure.max_iter)


def compare(input_path: str, overrides: list[str], orders: list[int], repeat: int, log=print) -> list[dict]:
    """One row per N: ns per cell-step of hpcclose (run, step) and of the baseline, and the difference."""
    rows = []
    for N in orders:
        cfg = config.load(input_path, [*overrides, f"velocity.order={N}"])
        warm = cfg.model_copy(update={"scheme": cfg.scheme.model_copy(update={"max_steps": 2})})
        _timed_run(warm)
        best = {"run": np.inf, "step": np.inf, "baseline": np.inf}
        for _ in range(repeat):
            run, step, dts, sim = _timed_run(cfg)
            fresh = sim.__class__(cfg)  # the initial state again
            base = baseline_for(fresh)
            if best["baseline"] == np.inf:  # compile and warm up on a copy
                baseline_for(fresh).step(dts[0])
            t0 = time.process_time()
            for dt in dts:
                base.step(dt)
            wall = time.process_time() - t0
            best = {"run": min(best["run"], run), "step": min(best["step"], step),
                    "baseline": min(best["baseline"], wall)}
        work = sim.grid.ncells * len(dts)
        diff = float(np.linalg.norm(base.u - sim.u) / np.linalg.norm(sim.u))
        row = {"N": N, "n": sim.n, "Q": sim.quad.size, "cells": sim.grid.ncells, "steps": len(dts),
               **{f"{k}_ns_per_cell_step": 1e9 * v / work for k, v in best.items()},
               "relative_l2_difference": diff, "baseline_unconverged": base.failed}
        row["speedup_step"] = row["baseline_ns_per_cell_step"] / row["step_ns_per_cell_step"]
        row["speedup_run"] = row["baseline_ns_per_cell_step"] / row["run_ns_per_cell_step"]
        rows.append(row)
        log(f"N = {N} (n = {row['n']}, Q = {row['Q']}): hpcclose step {row['step_ns_per_cell_step']:8.1f} ns, "
            f"run {row['run_ns_per_cell_step']:8.1f} ns, baseline {row['baseline_ns_per_cell_step']:8.1f} ns "
            f"per cell-step; baseline/step {row['speedup_step']:5.2f}, baseline/run {row['speedup_run']:5.2f}; "
            f"relative L2 difference {diff:.2e}")
    return rows
