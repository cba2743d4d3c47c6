"""`hpcclose bench closures …`: measured throughput, written as JSON + PNG and printed as a table."""

from __future__ import annotations

from pathlib import Path

from ..errors import InputError


def _ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(float(s)) for s in text.split(","))
    except ValueError:
        raise InputError(f"expected a comma-separated list of numbers, got {text!r}") from None


def add_arguments(parser) -> None:
    sub = parser.add_subparsers(dest="bench", metavar="BENCHMARK", required=True)
    c = sub.add_parser("closures", help="moments/s of the closures on uniform, interior and near-boundary sets")
    c.add_argument("--orders", default="1,2", help="moment orders (1D M1/M2), default 1,2")
    c.add_argument("--sizes", default="1e3,1e4,1e5,1e6", help="batch sizes, default 1e3,1e4,1e5,1e6")
    c.add_argument("--sets", default="uniform,interior,boundary:1e-2,boundary:1e-3",
                   help="moment sets; boundary:D is at Euclidean distance D from the realizable boundary")
    c.add_argument("--closures", default="newton,newton_warm,m1_exact,pn")
    c.add_argument("--quadrature", type=int, default=30, help="Gauss–Legendre points (default 30)")
    c.add_argument("--tol", type=float, default=1e-9, help="Newton tolerance (default 1e-9)")
    c.add_argument("--repeat", type=int, default=3, help="timings per case; the best is kept")
    c.add_argument("--copies", type=int, default=1,
                   help="time each batch as this many separately allocated, shuffled copies too (best kept)")
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--model", help="network closures: a model file, or random:WxD (random weights, for speed)")
    c.add_argument("--backends", default="cpu",
                   help="network closures: cpu (Numba) and/or gpu (TensorFlow/XLA), e.g. cpu,gpu; default cpu")
    c.add_argument("--out", default="bench-out", help="directory for closures.json and closures.png")

    s = sub.add_parser("solver", help="time a run and variants of it (e.g. --compare closure.name=pn) in one process")
    s.add_argument("input", help="TOML input file")
    s.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE")
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

        settings = {k: getattr(args, k) for k in ("orders", "sizes", "sets", "closures", "quadrature", "tol",
                                                  "repeat", "copies", "seed", "model", "backends")}
        print(bc.HEADER, flush=True)
        rows = bc.run(_ints(args.orders), _ints(args.sizes), tuple(args.sets.split(",")),
                      tuple(args.closures.split(",")), args.quadrature, args.tol, args.repeat, args.seed,
                      log=lambda s: print(s, flush=True), model=args.model, backends=tuple(args.backends.split(",")),
                      copies=args.copies)
        js, png = bc.save(rows, Path(args.out), settings)
        print(f"wrote {js} and {png}")
    elif args.bench == "solver":
        from ..bench import solver as bs

        rows = bs.solver(args.input, args.overrides, args.compare)
        if args.json and mpi.rank() == 0:
            bs.save(rows, Path(args.json), {"input": args.input, "overrides": args.overrides,
                                             "compare": args.compare})
    elif args.bench == "scaling":
        import sys

        from ..bench import solver as bs

        launcher = args.mpiexec or str(Path(sys.executable).parent / "mpiexec")
        rows = bs.scaling(args.input, args.overrides, list(_ints(args.ranks)), args.kind, launcher)
        out = Path(args.out)
        js = bs.save(rows, out / f"scaling_{args.kind}.json", {"input": args.input, "overrides": args.overrides,
                                                              "ranks": args.ranks, "kind": args.kind})
        png = bs.plot_scaling(rows, out / f"scaling_{args.kind}.png", args.kind)
        print(f"wrote {js} and {png}")
    return 0
