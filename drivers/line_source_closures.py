"""Line source (2D, M2 or any order): Newton, a network and the hybrid closure side by side in one run.

    .venv/bin/python drivers/line_source_closures.py --model ICNN20x7_M2_2D_rot [--network icnn]
        [--cells 200] [--quadrature 10,40] [--tol 1e-3] [--closures newton,network,hybrid]
        [--set section.key=value ...] [--json PATH]

Runs ``inputs/line_source_m2.toml`` (t = 1 unless ``--set scheme.t_final=…``) once per closure on one rank,
after a one-step warm-up of a tiny copy (the Numba kernels compiled and loaded before the clock starts),
and prints for each: e_u = ‖u − u_newton‖₂ / ‖u_newton‖₂ over all cells and moments at the end, the wall and
CPU time of the time loop, the CPU time per cell-step (CPU / (steps × cells); with NUMBA_NUM_THREADS=1 one core,
and on a loaded machine less noisy than wall time) and the closure's share of the wall time, the share
of cell closures the hybrid closure re-solved by Newton, its largest accepted residual, and whether the total
entropy (the closure's, summed over the cells, at the start of every step) never increased (largest relative
increase between steps). A run the state guard stops (a non-realizable cell) is reported with the time and
message, and left out of the comparison. The default rule is a 10 × 40 product rule (400 nodes, as the input's 20 × 20):
a rotation-invariant closure needs the rule to be nearly rotation-invariant, which its 40 azimuthal nodes
give and 20 do not (docs/closures.md).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from mpi4py import MPI

from hpcclose import config
from hpcclose.errors import InputError, RealizabilityError, script_main
from hpcclose.solver import Simulation

ROOT = Path(__file__).resolve().parents[1]


def overrides(args: argparse.Namespace, closure: str) -> list[str]:
    """The --set overrides of one closure's run: mesh, rule, closure and its options."""
    nm, nphi = args.quadrature
    sets = [f"mesh.cells=[{args.cells},{args.cells}]", f"velocity.quadrature=[{nm},{nphi}]", *args.overrides]
    if closure == "newton":
        return [*sets, "closure.name='newton'"]
    opts = [f"closure.{{0}}.model='{args.model}'"] + ([f"closure.{{0}}.alpha0='{args.alpha0}'"] if args.alpha0 else [])
    if closure == "hybrid":
        return [*sets, "closure.name='hybrid'", f"closure.hybrid.network='{args.network}'",
                f"closure.hybrid.tol={args.tol}", *(o.format("hybrid") for o in opts)]
    return [*sets, f"closure.name='{args.network}'", *(o.format(args.network) for o in opts)]


def run(path: str, sets: list[str]) -> dict:
    """Warm up on a tiny copy, then run the input to its end; the run's figures."""
    warm = Simulation(config.load(path, [*sets, "mesh.cells=[8,8]", "scheme.max_steps=1"]), comm=MPI.COMM_SELF)
    warm.step()
    sim = Simulation(config.load(path, sets), comm=MPI.COMM_SELF)
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        while not sim.done():
            sim.step()
    except RealizabilityError as exc:  # the guard stopped the run: report it, compare the others
        return {"failed": f"t = {sim.t:.3f}: {str(exc)[:200]}", "describe": str(sim.closure.name)}
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    cells = sim.u.size // sim.n
    entropy = np.array([r.entropy for r in sim.history.records])
    rise = np.diff(entropy) / np.abs(entropy[:-1])
    out = {"u": sim.u.copy(), "order": sim.cfg.velocity.order, "wall": wall, "cpu": cpu, "steps": sim.step_count,
           "cells": cells,
           "per_cell_step_us": 1e6 * cpu / (sim.step_count * cells),
           "closure_share": sim.timer.totals.get("closure", 0.0) / wall,
           "entropy_first": float(entropy[0]), "entropy_last": float(entropy[-1]),
           "entropy_max_rise": float(rise.max()) if rise.size else 0.0,
           "describe": getattr(sim.closure, "describe", lambda: sim.closure.name)()}
    c = sim.closure
    if hasattr(c, "resolved_total"):  # hybrid: how often the Newton fallback ran
        out["resolved_share"] = c.resolved_total / max(c.cells_total, 1)
        out["residual_max_accepted"] = float(np.max(c.last_residuals[c.last_residuals <= c.tol], initial=0.0))
    return out


def table(results: dict[str, dict], args: argparse.Namespace) -> str:
    order = next((r["order"] for r in results.values() if "order" in r), "?")
    lines = [f"line source, M{order}, {args.cells}^2 cells, rule {args.quadrature[0]}x{args.quadrature[1]}, "
             f"model {args.model}",
             f"{'closure':>8}  {'e_u vs newton':>13}  {'wall s':>8}  {'CPU s':>8}  {'steps':>5}  "
             f"{'CPU us/cell-step':>16}  "
             f"{'closure %':>9}  {'re-solved':>9}  {'entropy max rise':>16}"]
    for name, r in results.items():
        if "failed" in r:
            lines.append(f"{name:>8}  stopped at {r['failed']}")
            continue
        res = f"{100 * r['resolved_share']:8.2f}%" if "resolved_share" in r else f"{'-':>9}"
        e = f"{r['e_u']:13.3e}" if "e_u" in r else f"{'-':>13}"
        lines.append(f"{name:>8}  {e}  {r['wall']:8.1f}  {r['cpu']:8.1f}  {r['steps']:5d}  "
                     f"{r['per_cell_step_us']:16.2f}  "
                     f"{100 * r['closure_share']:8.1f}%  {res}  {r['entropy_max_rise']:16.2e}")
    return "\n".join(lines)


@script_main("line_source_closures")
def main(argv: list[str] | None = None) -> int:
    """Parse ``argv``, run the closures, print the table (and write JSON); 0 on success, 2 on bad input."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--input", default=str(ROOT / "inputs" / "line_source_m2.toml"))
    ap.add_argument("--model", required=True, help="a shipped model's name or a model file")
    ap.add_argument("--network", default="icnn", choices=("icnn", "mlp", "monotone"))
    ap.add_argument("--alpha0", choices=("gradient", "normalisation"), help="default: the model file's")
    ap.add_argument("--cells", type=int, default=200, help="cells per axis")
    ap.add_argument("--quadrature", default="10,40", help="n_mu,n_phi of the product rule")
    ap.add_argument("--tol", type=float, default=1e-3, help="the hybrid closure's residual tolerance")
    ap.add_argument("--closures", default="newton,network,hybrid")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE")
    ap.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    args = ap.parse_args(argv)
    try:
        args.quadrature = tuple(int(v) for v in args.quadrature.split(","))
    except ValueError:
        raise InputError(f"--quadrature {args.quadrature!r}: expected n_mu,n_phi") from None
    names = args.closures.split(",")
    if len(args.quadrature) != 2 or args.cells < 8 or not set(names) <= {"newton", "network", "hybrid"}:
        raise InputError("--quadrature needs two sizes, --cells ≥ 8, --closures a subset of newton,network,hybrid")
    results = {}
    for name in ["newton", *(n for n in names if n != "newton")]:
        r = results[name] = run(args.input, overrides(args, name))
        print(f"{name}: {r['describe']}: " + (f"stopped at {r['failed']}" if "failed" in r else f"{r['wall']:.1f} s"),
              flush=True)
    if "failed" in results["newton"]:
        raise InputError(f"the Newton run stopped at {results['newton']['failed']}: nothing to compare with")
    ref = results["newton"]["u"]
    for r in results.values():
        if "u" in r:
            r["e_u"] = float(np.linalg.norm(r["u"] - ref) / np.linalg.norm(ref))
    if "newton" not in names:
        del results["newton"]
    print(table(results, args), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps({k: {q: v for q, v in r.items() if q != "u"}
                                               for k, r in results.items()}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
