"""`hpcclose run INPUT.toml [--set section.key=value …] [--overwrite]`, under any ``mpiexec -n P``."""

from __future__ import annotations

import logging

from .. import config
from ..errors import EXIT_COMPLETED, EXIT_STOPPED
from ..parallel import mpi

log = logging.getLogger("hpcclose")


def add_common(parser) -> None:
    """Options shared by run and restart."""
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override an input value (TOML syntax), e.g. --set scheme.cfl=0.5; repeatable")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def add_arguments(parser) -> None:
    parser.add_argument("input", help="TOML input file (see inputs/)")
    add_common(parser)
    parser.add_argument("--overwrite", action="store_true", help="replace results already in output.dir")
    parser.add_argument("--check", action="store_true",
                        help="only validate the input and print its output directory (for job scripts)")


def execute(sim, out, args, initial_output: bool) -> int:
    """Run the loop and print the summary (rank 0); shared with restart. Returns the exit status:
    completed, or stopped on request with a checkpoint (see :mod:`hpcclose.errors`)."""
    from ..driver import run_loop, summary

    mpi.set_crash_dir(out.path)
    log.info("%s", sim.describe())
    try:
        wall, ended = run_loop(sim, out, progress=sim.cfg.output.progress and not args.no_progress,
                               initial_output=initial_output)
    finally:
        out.close()
    if sim.decomp.is_root:
        print(summary(sim, wall, ended), flush=True)
        print(f"results in {out.path}/ (open fields.xdmf in ParaView)", flush=True)
        if ended != "completed":
            print(f"continue with: hpcclose restart {out.path}", flush=True)
    return EXIT_COMPLETED if ended == "completed" else EXIT_STOPPED


def prepare(cfg: config.Config) -> None:
    """Compile (or load) the run's kernels, reported on their own line: outside the run's wall time, rates,
    ETA and phase shares (collective)."""
    from ..warmup import cache_dir, prepare_kernels

    log.info("kernels ready in %.1f s (compiled once per machine type, cached in %s)", prepare_kernels(cfg),
             cache_dir())


def main(args) -> int:
    from ..io.run_dir import RunDirectory
    from ..solver import Simulation

    cfg = config.load(args.input, args.overrides)
    if args.check:
        if mpi.rank() == 0:
            print(cfg.output.dir, flush=True)
        return EXIT_COMPLETED
    mpi.configure_threads()
    sim = Simulation(cfg)  # refuses what cannot fit before it allocates
    prepare(cfg)
    out = RunDirectory(sim, overwrite=args.overwrite, overrides=args.overrides)
    return execute(sim, out, args, initial_output=True)
