"""Plane source: L1 error of u0 at t = 1 against Ganapol's exact kinetic solution, M_N and P_N, N = 1…7.

    .venv/bin/python drivers/plane_source_vs_exact.py [--cells 400] [--quadrature 40] [--out bench-out]

Prints a table and writes plane_source_vs_exact.json / .png. Serial (one rank); the per-N runs are
independent, so this is a study script rather than a parallel job.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from mpi4py import MPI

from hpcclose import config
from hpcclose.errors import InputError, script_main
from hpcclose.problems.ganapol import plane_source_cell_averages
from hpcclose.solver import Simulation

INPUT = Path(__file__).resolve().parents[1] / "inputs" / "plane_source_m2.toml"


def error(n: int, closure: str, cells: int, quadrature: int) -> float:
    cfg = config.load(INPUT, [f"mesh.cells={cells}", f"velocity.order={n}", f"velocity.quadrature={quadrature}",
                              f"closure.name='{closure}'"])
    sim = Simulation(cfg, comm=MPI.COMM_SELF)
    while not sim.done():
        sim.step()
    exact = plane_source_cell_averages(sim.grid.edges(0), sim.t)
    return float(np.sum(np.abs(sim.u[:, 0] - exact)) * sim.grid.spacing[0])


@script_main("plane_source_vs_exact")
def main(argv: list[str] | None = None) -> int:
    """Parse ``argv``, run M_N and P_N for every N, print and save the errors; 0 on success, 2 on bad input."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", type=int, default=400)
    ap.add_argument("--quadrature", type=int, default=40)
    ap.add_argument("--orders", default="1,2,3,4,5,6,7")
    ap.add_argument("--out", default="bench-out")
    args = ap.parse_args(argv)
    try:
        orders = [int(s) for s in args.orders.split(",")]
    except ValueError:
        raise InputError(f"--orders {args.orders!r}: expected comma-separated integers") from None
    rows = []
    print(f"{'N':>3} {'M_N L1 error':>14} {'P_N L1 error':>14}")
    for n in orders:
        row = {"N": n, "newton": error(n, "newton", args.cells, args.quadrature),
               "pn": error(n, "pn", args.cells, args.quadrature)}
        rows.append(row)
        print(f"{n:>3} {row['newton']:14.4e} {row['pn']:14.4e}", flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "plane_source_vs_exact.json").write_text(json.dumps({"settings": vars(args), "rows": rows}, indent=1))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 4))
    for key, label in (("newton", "M_N"), ("pn", "P_N")):
        ax.semilogy(orders, [r[key] for r in rows], "o-", label=label)
    ax.set(xlabel="N", ylabel="L1 error of u0 at t = 1", title=f"plane source, {args.cells} cells")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "plane_source_vs_exact.png", dpi=110)
    print(f"wrote {out}/plane_source_vs_exact.json and .png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
