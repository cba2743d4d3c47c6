"""`hpcclose bench closures|solver|steps|scaling|model …`: measurements written as JSON + PNG and printed as a
table (the scaling study and the performance model: docs/scaling.md).

Options are checked (:class:`ClosuresOptions`, :class:`ScalingOptions`, argparse types) and the output
directory found writable before anything runs or is printed.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Annotated

from pydantic import Field

from ..bench import commands
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

    _add_scaling(sub)
    commands.add_parsers(sub)  # baseline, kernels


def _at_least(minimum: int | float, kind=int):
    """An argparse type: a number (``kind``) not below ``minimum``."""
    def parse(text: str):
        try:
            value = kind(float(text)) if kind is int else kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {text}")
        return value

    return parse


def _add_timing(p) -> None:
    """The timed-steps options shared by bench steps and bench scaling."""
    p.add_argument("--kind", choices=("strong", "weak"), default="strong",
                   help="weak: the input's mesh is one rank's block, multiplied by the ranks (default strong)")
    p.add_argument("--steps", type=_at_least(1), default=20, help="timed steps per block (default 20)")
    p.add_argument("--warmup", type=_at_least(0), default=3, help="untimed steps before the blocks (default 3)")
    p.add_argument("--repeats", type=_at_least(1), default=5, help="timed blocks: median and spread (default 5)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override an input value (TOML syntax), e.g. --set mesh.cells=100000; repeatable")


def _add_scaling(sub) -> None:
    t = sub.add_parser("steps", help="time blocks of steps on the ranks of this launch (one point of a scaling "
                       "study; run under mpiexec/srun)")
    t.add_argument("input", help="TOML input file")
    _add_timing(t)
    t.add_argument("--json", required=True, help="write the point (a one-row scaling study) here")

    w = sub.add_parser("scaling", help="strong/weak scaling: bench steps under mpiexec -n P per P, or --merge "
                       "the results of several jobs")
    w.add_argument("input", nargs="?", help="TOML input file (not with --merge)")
    w.add_argument("--ranks", default="1,2", help="rank counts, default 1,2")
    _add_timing(w)
    w.add_argument("--mpiexec", default=None,
                   help="launcher command, -n P is appended (default: the mpiexec next to this Python); "
                        "e.g. 'srun --cpu-bind=cores'")
    w.add_argument("--merge", nargs="+", metavar="JSON", help="merge these scaling results (e.g. one per job)")
    w.add_argument("--out", default="bench-out", help="directory for scaling_<kind>.json / .png")

    m = sub.add_parser("model", help="performance model: per-cell costs measured here, halo from the "
                       "decomposition, a network; predicts 1 to 16384 ranks")
    m.add_argument("input", help="TOML input file: its mesh is the strong-scaling problem")
    m.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override an input value (TOML syntax); repeatable")
    m.add_argument("--calibrate", default=None, help="one-rank block sizes (cells) to measure, default 256,4096,65536")
    m.add_argument("--steps", type=_at_least(1), default=5, help="timed steps per calibration block (default 5)")
    m.add_argument("--repeats", type=_at_least(1), default=3, help="blocks per calibration size (default 3)")
    m.add_argument("--costs", help="reuse the costs of an earlier model.json instead of measuring")
    m.add_argument("--weak-cells", help="cells per rank of the weak study (x or nx,ny); default the input's mesh")
    m.add_argument("--latency", type=_at_least(0.0, float), default=1.5e-6, help="seconds (default 1.5e-6)")
    m.add_argument("--bandwidth", type=_at_least(1.0, float), default=24e9,
                   help="bytes/s one node injects (default 24e9: HDR InfiniBand 200 Gb/s)")
    m.add_argument("--ranks-per-node", type=_at_least(1), default=64, help="ranks sharing a node's link (64)")
    m.add_argument("--max-ranks", type=_at_least(1), default=16384, help="largest rank count (default 16384)")
    m.add_argument("--measured", nargs="+", default=[], metavar="JSON",
                   help="bench scaling results to compare with (same input)")
    m.add_argument("--out", default="bench-out", help="directory for model.json / model.png")


def main(args) -> int:
    from ..parallel import mpi

    mpi.configure_threads()
    if args.bench in ("baseline", "kernels"):
        commands.run(args)
    elif args.bench == "closures":
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
    elif args.bench == "steps":
        _steps(args)
    elif args.bench == "scaling":
        _scaling(args)
    elif args.bench == "model":
        _model(args)
    return 0


def _steps(args) -> None:
    from ..bench import scaling as sc
    from ..bench import steps as st
    from ..bench.output import write_json
    from ..bench.provenance import launcher, provenance
    from ..parallel import mpi
    from ..warmup import prepare_kernels

    cfg = st.point_config(args.input, args.overrides, args.kind, mpi.size())
    prepare_kernels(cfg)  # compiled before the clock starts, node leaders first
    row = st.measure(cfg, args.steps, args.warmup, args.repeats)
    if mpi.rank() == 0:
        prov = provenance(args.input, args.overrides)
        result = sc.assemble([{"row": row, "provenance": prov}],
                             sc.settings(args.kind, args.steps, args.warmup, args.repeats, launcher()), prov)
        write_json(args.json, result)
        print(sc.table(result), flush=True)


def _scaling(args) -> None:
    import sys

    from ..bench import scaling as sc

    writable_dir(args.out, "--out", "bench scaling")
    if args.merge:
        if args.input is not None:
            raise InputError("bench scaling: give an input file or --merge, not both")
        result = sc.merge(args.merge)
    else:
        if args.input is None:
            raise InputError("bench scaling: an input file is needed (or --merge FILES)")
        src = "bench scaling"
        ranks = check_options(ScalingOptions, {"ranks": _ints(args.ranks, "--ranks", src)}, src).ranks
        launcher = args.mpiexec or str(Path(sys.executable).parent / "mpiexec")
        result = sc.study(args.input, args.overrides, list(ranks), args.kind, launcher, args.steps, args.warmup,
                          args.repeats, log=lambda s: print(s, flush=True))
    print(sc.table(result), flush=True)
    js, png = sc.save(result, Path(args.out))
    print(f"wrote {js} and {png}")


def _model(args) -> None:
    from .. import config
    from ..bench import calibrate as cal
    from ..bench import predictions as pr
    from ..bench.model import Network, powers_of_two
    from ..bench.provenance import provenance

    cfg = config.load(args.input, args.overrides)
    net = Network(args.latency, args.bandwidth, args.ranks_per_node)
    weak = _ints(args.weak_cells, "--weak-cells", "bench model") if args.weak_cells else None
    if weak is not None and (len(weak) != cfg.mesh.dim or min(weak) < 1):
        raise InputError(f"bench model: --weak-cells needs {cfg.mesh.dim} positive number(s), got {args.weak_cells}")
    measured = pr.load_studies(args.measured)  # read before the calibration: a bad path fails at once
    if args.costs:
        costs, points = pr.load_costs(args.costs)
    else:
        sizes = _ints(args.calibrate, "--calibrate", "bench model") if args.calibrate else cal.SIZES
        if min(sizes) < 16:
            raise InputError(f"bench model: --calibrate sizes must be at least 16 cells, got {args.calibrate}")
        points = cal.measure_sizes(args.input, args.overrides, sizes, args.steps, 2, args.repeats,
                                   log=lambda s: print(s, flush=True))
        costs = cal.fit(points)
    result = pr.model_study(cfg, costs, net, powers_of_two(args.max_ranks), weak_block=weak, measured=measured)
    result = {"provenance": provenance(args.input, args.overrides), "calibration": points, **result}
    print(pr.table(result), flush=True)
    js, png = pr.save(result, Path(args.out))
    print(f"wrote {js} and {png}")
