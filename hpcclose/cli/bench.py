"""`hpcclose bench closures …`: measured throughput, written as JSON + PNG and printed as a table.

Options are checked (:class:`ClosuresOptions`, :class:`ScalingOptions`) and the output directory found
writable before anything runs or is printed.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

from pydantic import Field

from ..config import GaussPoints
from ..errors import InputError
from ..validation import Options, check_options
from .outputs import writable_dir

Count = Annotated[int, Field(ge=1)]


class ClosuresOptions(Options):
    """What ``bench closures`` measures (moment sets exist for the slab's M1 and M2)."""

    orders: list[Annotated[int, Field(ge=1, le=2)]]
    sizes: list[Count]
    quadrature: GaussPoints
    tol: float = Field(gt=0.0)
    repeat: Count
    copies: Count


class ScalingOptions(Options):
    ranks: list[Count]


def _ints(text: str, option: str, source: str) -> list[int]:
    """Comma-separated whole numbers (``1e3`` is 1000)."""
    try:
        values = [float(s) for s in text.split(",")]
    except ValueError:
        values = [math.nan]
    if not all(math.isfinite(v) and v == int(v) for v in values):
        raise InputError(f"{source}: {option}: expected whole numbers separated by commas, got {text!r}")
    return [int(v) for v in values]


def add_arguments(parser) -> None:
    sub = parser.add_subparsers(dest="bench", metavar="BENCHMARK", required=True)
    c = sub.add_parser("closures", help="moments/s of the closures on uniform, interior and near-boundary sets")
    c.add_argument("--orders", default="1,2", help="moment orders (1D M1/M2), default 1,2")
    c.add_argument("--sizes", default="1e3,1e4,1e5,1e6", help="batch sizes, default 1e3,1e4,1e5,1e6")
    c.add_argument("--sets", default="uniform,interior,boundary:1e-2,boundary:1e-3",
                   help="moment sets; boundary:D is at Euclidean distance D from the realizable boundary")
    c.add_argument("--closures", default="newton,newton_warm,m1_exact,pn",
                   help="comma-separated closure names (any closure.name; newton_warm: Newton started from the "
                   "α of moments 1 %% away; networks need --model), default newton,newton_warm,m1_exact,pn")
    c.add_argument("--quadrature", type=int, default=30, help="Gauss–Legendre points (default 30)")
    c.add_argument("--tol", type=float, default=1e-9, help="Newton tolerance (default 1e-9)")
    c.add_argument("--repeat", type=int, default=3, help="timings per case; the best is kept")
    c.add_argument("--copies", type=int, default=1,
                   help="time each batch as this many separately allocated, shuffled copies too (best kept)")
    c.add_argument("--seed", type=int, default=0, help="random seed of the moment sets (default 0)")
    c.add_argument("--model", help="network closures: a model file, or random:WxD (random weights, for speed)")
    c.add_argument("--backends", default="cpu",
                   help="network closures: cpu (Numba) and/or gpu (TensorFlow/XLA), e.g. cpu,gpu; default cpu")
    c.add_argument("--out", default="bench-out", help="directory for closures.json and closures.png")

    s = sub.add_parser("solver", help="time a run and variants of it (e.g. --compare closure.name=pn) in one process")
    s.add_argument("input", help="TOML input file")
    s.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override an input value of every variant (TOML syntax), e.g. --set mesh.cells=1000; "
                   "repeatable")
    s.add_argument("--compare", action="append", default=[], metavar="OVERRIDES",
                   help="a variant: comma-separated overrides, e.g. closure.name=pn; repeatable")
    s.add_argument("--json", help="write the rows as JSON here")

    w = sub.add_parser("scaling", help="strong/weak scaling: the solver benchmark under mpiexec -n P per P")
    w.add_argument("input", help="TOML input file")
    w.add_argument("--ranks", default="1,2", help="rank counts, default 1,2")
    w.add_argument("--kind", choices=("strong", "weak"), default="strong")
    w.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE")
    w.add_argument("--mpiexec", default=None, help="launcher (default: the one next to this Python)")
    w.add_argument("--out", default="bench-out", help="directory for scaling_<kind>.json / .png")


def main(args) -> int:
    from ..parallel import mpi

    mpi.configure_threads()
    if args.bench == "closures":
        from ..bench import closures as bc

        src = "bench closures"
        opts = check_options(ClosuresOptions, {
            "orders": _ints(args.orders, "--orders", src), "sizes": _ints(args.sizes, "--sizes", src),
            **{k: getattr(args, k) for k in ("quadrature", "tol", "repeat", "copies")}}, src)
        out = writable_dir(args.out, "--out", src)
        settings = {k: getattr(args, k) for k in ("orders", "sizes", "sets", "closures", "quadrature", "tol",
                                                  "repeat", "copies", "seed", "model", "backends")}
        print(bc.HEADER, flush=True)
        rows = bc.run(tuple(opts.orders), tuple(opts.sizes), tuple(args.sets.split(",")),
                      tuple(args.closures.split(",")), opts.quadrature, opts.tol, opts.repeat, args.seed,
                      log=lambda s: print(s, flush=True), model=args.model, backends=tuple(args.backends.split(",")),
                      copies=opts.copies)
        js, png = bc.save(rows, out, settings)
        print(f"wrote {js} and {png}")
    elif args.bench == "solver":
        from ..bench import solver as bs

        if args.json:
            writable_dir(Path(args.json).parent, "--json", "bench solver")
        rows = bs.solver(args.input, args.overrides, args.compare)
        if args.json and mpi.rank() == 0:
            bs.save(rows, Path(args.json), {"input": args.input, "overrides": args.overrides,
                                             "compare": args.compare})
    elif args.bench == "scaling":
        import sys

        from ..bench import solver as bs

        src = "bench scaling"
        opts = check_options(ScalingOptions, {"ranks": _ints(args.ranks, "--ranks", src)}, src)
        out = writable_dir(args.out, "--out", src)
        launcher = args.mpiexec or str(Path(sys.executable).parent / "mpiexec")
        rows = bs.scaling(args.input, args.overrides, opts.ranks, args.kind, launcher)
        js = bs.save(rows, out / f"scaling_{args.kind}.json", {"input": args.input, "overrides": args.overrides,
                                                              "ranks": args.ranks, "kind": args.kind})
        png = bs.plot_scaling(rows, out / f"scaling_{args.kind}.png", args.kind)
        print(f"wrote {js} and {png}")
    return 0
