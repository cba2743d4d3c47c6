"""`hpcclose compile INPUT.toml [INPUT.toml …] [--set section.key=value …]`: compile the Numba kernels of
these inputs into the cache ahead of a job (``make setup`` does it for the shipped inputs).

Runs a tiny copy of each input (see :mod:`hpcclose.warmup`): a few cells, one step, no output. Under
``mpiexec``/``srun`` one rank per node compiles and the others load the result.
"""

from __future__ import annotations

from .. import config
from ..errors import EXIT_COMPLETED
from ..parallel import mpi


def add_arguments(parser) -> None:
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="TOML input file(s) (see inputs/)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override an input value (TOML syntax) in every input, e.g. --set velocity.order=3")


def main(args) -> int:
    from ..warmup import prepare_kernels

    cfgs = [config.load(path, args.overrides) for path in args.inputs]  # every input valid before any work
    mpi.configure_threads()
    for path, cfg in zip(args.inputs, cfgs, strict=True):
        seconds = prepare_kernels(cfg)
        if mpi.rank() == 0:
            print(f"{path}: kernels ready in {seconds:.1f} s", flush=True)
    return EXIT_COMPLETED
