"""e_u of a closure against the Newton M_N solution on the same run ([A] eq. 52, Tables 6–8).

    .venv/bin/python drivers/closure_error.py inputs/plane_source_m2.toml --closure spline \\
        --set velocity.order=1 --set velocity.basis=monomial [--option size=130] [--option alpha0=gradient]

Runs the input twice on one rank — once with ``closure.name=newton``, once with the given closure and
its options — and prints e_u = ‖u − u_newton‖₂ / ‖u_newton‖₂ over all cells and moments at t_final, with
both wall times.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
from mpi4py import MPI

from hpcclose import config
from hpcclose.errors import script_main
from hpcclose.solver import Simulation


def solve(path: str, overrides: list[str]) -> tuple[np.ndarray, float, Simulation]:
    sim = Simulation(config.load(path, overrides), comm=MPI.COMM_SELF)
    t0 = time.perf_counter()
    while not sim.done():
        sim.step()
    return sim.u.copy(), time.perf_counter() - t0, sim


@script_main("closure_error")
def main(argv: list[str] | None = None) -> int:
    """Parse ``argv``, run both closures, print e_u and the wall times; 0 on success, 2 on bad input."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("input")
    ap.add_argument("--closure", required=True)
    ap.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                    help="an option of the closure (TOML value), repeatable")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE")
    args = ap.parse_args(argv)
    ref, t_ref, _ = solve(args.input, [*args.overrides, "closure.name='newton'"])
    opts = [f"closure.{args.closure}.{o}" for o in args.option]
    u, t, sim = solve(args.input, [*args.overrides, f"closure.name='{args.closure}'", *opts])
    e_u = np.linalg.norm(u - ref) / np.linalg.norm(ref)
    print(f"e_u({args.closure} vs newton) = {e_u:.3e}   wall: {args.closure} {t:.3f} s, newton {t_ref:.3f} s")
    if hasattr(sim.closure, "resolved_total"):  # hybrid: how often the Newton fallback ran
        c = sim.closure
        print(f"hybrid: {c.resolved_total} of {c.cells_total} cell closures re-solved by Newton "
              f"({c.resolved_total / max(c.cells_total, 1):.2%})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
