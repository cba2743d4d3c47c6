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
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--out", default="bench-out", help="directory for closures.json and closures.png")


def main(args) -> int:
    from ..parallel import mpi

    mpi.configure_threads()
    if args.bench == "closures":
        from ..bench import closures as bc

        settings = {k: getattr(args, k) for k in ("orders", "sizes", "sets", "closures", "quadrature", "tol",
                                                  "repeat", "seed")}
        print(bc.HEADER, flush=True)
        rows = bc.run(_ints(args.orders), _ints(args.sizes), tuple(args.sets.split(",")),
                      tuple(args.closures.split(",")), args.quadrature, args.tol, args.repeat, args.seed,
                      log=lambda s: print(s, flush=True))
        js, png = bc.save(rows, Path(args.out), settings)
        print(f"wrote {js} and {png}")
    return 0
