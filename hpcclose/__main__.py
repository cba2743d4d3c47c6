"""Command line: ``hpcclose <command> …`` (run under ``mpiexec -n P`` for parallel commands).

Every command lives in its own module exposing ``add_arguments(parser)`` and ``main(args) -> int``;
this file only dispatches. Errors meant for the user (:class:`~hpcclose.errors.HpccloseError`) print
one line and exit with their status (2 for bad input; :mod:`hpcclose.errors` lists them all);
``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from . import __version__

# command → (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("hpcclose.cli.run", "run a simulation from a TOML input file"),
    "restart": ("hpcclose.cli.restart", "continue a run from a checkpoint, on any number of ranks"),
    "train": ("hpcclose.cli.train", "train a network closure (ICNN, MLP, monotone) from a TOML file"),
    "sample": ("hpcclose.cli.sample", "sample closure training/test data in multiplier space into HDF5"),
    "plot": ("hpcclose.cli.plot", "PNG figures of a run: profiles / colour maps and diagnostics histories"),
    "compile": ("hpcclose.cli.compile", "compile the Numba kernels of input files into the cache ahead of a job"),
    "bench": ("hpcclose.cli.bench", "benchmarks: closures (moments/s), solver (time ratios), steps/scaling "
              "(speedup, efficiency), model (predicted scaling to 16384 ranks)"),
    "info": ("hpcclose.cli.info", "versions, MPI, parallel HDF5, threads and GPUs of this installation"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hpcclose", description="Entropy-based and data-driven moment closures for kinetic transport, "
        "in parallel: run any command under mpiexec -n P (or srun).")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    parser.add_argument("--version", action="version", version=f"hpcclose {__version__}",
                        help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        p.set_defaults(_module=module)
        importlib.import_module(module).add_arguments(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from .errors import HpccloseError
    from .parallel import mpi

    mpi.init(debug=args.debug)
    mpi.setup_logging()
    try:
        return importlib.import_module(args._module).main(args)
    except HpccloseError as exc:
        if args.debug:
            raise
        # Errors found identically on every rank (input validation, the guard) end quietly, printed once;
        # anything rank-local goes through the abort hook so no rank is left waiting.
        if exc.collective or mpi.size() == 1:
            if mpi.rank() == 0:
                print(f"hpcclose: error: {exc}", file=sys.stderr, flush=True)
            return exc.exit_status
        mpi.abort_on_error(exc)
        return exc.exit_status


if __name__ == "__main__":
    sys.exit(main())
