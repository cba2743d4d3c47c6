"""``hpcclose bench baseline`` and ``hpcclose bench kernels``: their options and what they run (the CLI
registers them from here, so :mod:`hpcclose.cli.bench` only lists the names)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field

from ..cli.outputs import writable_dir
from ..errors import InputError
from ..validation import Options, check_options

Count = Annotated[int, Field(ge=1)]


class _Opts(Options):
    """The checked options of both subcommands."""

    repeat: Count
    cells_1d: Count
    cells_2d: Count


def _ints(text: str, option: str, source: str) -> list[int]:
    try:
        return [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise InputError(f"{source}: {option}: expected whole numbers separated by commas, got {text!r}") from None


def _nodes(text: str, source: str) -> tuple[int, int]:
    """``20x20`` → (20, 20) (μ × φ nodes of the sphere rule)."""
    try:
        a, b = (int(s) for s in text.lower().split("x"))
    except ValueError:
        raise InputError(f"{source}: --quadrature-2d: expected NMUxNPHI, e.g. 20x20, got {text!r}") from None
    return a, b


def add_parsers(sub) -> None:
    """The two subcommands on the ``bench`` subparsers."""
    b = sub.add_parser("baseline", help="hpcclose per cell-step against a plain Numba M_N solver (1D), N by N")
    b.add_argument("input", help="TOML input file (1D, newton closure, prescribed or periodic walls)")
    b.add_argument("--orders", default="1,2,3,4,5,6,7", help="moment orders N, default 1,…,7")
    b.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override an input value (TOML syntax), e.g. --set mesh.cells=100000; repeatable")
    b.add_argument("--repeat", type=int, default=3, help="runs of each; the best is kept")
    b.add_argument("--out", default="bench-out", help="directory for baseline.json")

    k = sub.add_parser("kernels", help="GFLOP/s of the Newton closure and the fused flux against this core's peak")
    k.add_argument("--orders-1d", default="1,2,3,4,5,6,7", help="1D (Legendre) orders, default 1,…,7 ('': none)")
    k.add_argument("--quadrature-1d", type=int, default=10, help="Gauss–Legendre nodes (default 10)")
    k.add_argument("--orders-2d", default="1,2,3,4,5", help="2D (monomial) orders, default 1,…,5")
    k.add_argument("--quadrature-2d", default="20x20", help="sphere rule μ × φ nodes (default 20x20)")
    k.add_argument("--cells-1d", type=int, default=20000, help="cells of the 1D batch and block (default 20000)")
    k.add_argument("--cells-2d", type=int, default=64, help="2D: a block of this many cells squared (default 64)")
    k.add_argument("--repeat", type=int, default=5, help="timings of each; the best is kept")
    k.add_argument("--out", default="bench-out", help="directory for kernels.json")


def _save(path: Path, settings: dict, rows: list[dict], input_path: str | None = None, overrides=(), **extra) -> Path:
    from .output import write_json
    from .provenance import provenance

    return write_json(path, {"settings": settings, "provenance": provenance(input_path, overrides), **extra,
                             "rows": rows})


def run(args) -> None:
    """Run ``bench baseline`` or ``bench kernels`` with the parsed ``args``."""
    src = f"bench {args.bench}"
    check_options(_Opts, {k: getattr(args, k, 1) for k in ("repeat", "cells_1d", "cells_2d")}, src)
    out = writable_dir(args.out, "--out", src)
    if args.bench == "baseline":
        from .baseline_compare import compare

        rows = compare(args.input, args.overrides, _ints(args.orders, "--orders", src), args.repeat)
        settings = {"input": args.input, "overrides": args.overrides, "orders": args.orders, "repeat": args.repeat}
        print(f"wrote {_save(out / 'baseline.json', settings, rows, args.input, args.overrides)}")
        return
    from .kernels import run as run_kernels

    q2 = _nodes(args.quadrature_2d, src)
    peak, rows = run_kernels(_ints(args.orders_1d, "--orders-1d", src), args.quadrature_1d,
                             _ints(args.orders_2d, "--orders-2d", src), q2, args.cells_1d, args.cells_2d, args.repeat)
    settings = {k: getattr(args, k) for k in ("orders_1d", "quadrature_1d", "orders_2d", "quadrature_2d", "cells_1d",
                                              "cells_2d", "repeat")}
    print(f"wrote {_save(out / 'kernels.json', settings, rows, peak_gflops=peak)}")
