"""`hpcclose restart CHECKPOINT.h5|RUN_DIR [--set …]`: continue a run on any number of ranks.

The checkpoint carries the input text, the state u, the multipliers α (so the warm start, and hence
the result, is the same as without the restart), the time and the step. ``--set`` changes the input
as in ``run`` (e.g. a later ``scheme.t_final``); the run continues in the checkpoint's directory.
A run that is already complete is left as it is (exit status 0, nothing written), so a job chain can
resubmit the same restart until the run is done.
"""

from __future__ import annotations

import logging

from .. import config
from ..errors import EXIT_COMPLETED
from ..parallel import mpi
from .run import add_common, execute, prepare

log = logging.getLogger("hpcclose")


def add_arguments(parser) -> None:
    parser.add_argument("checkpoint", help="a checkpoint_*.h5 file, or a run directory (its latest checkpoint)")
    add_common(parser)


def main(args) -> int:
    from ..io.checkpoint import read_checkpoint, read_header
    from ..io.run_dir import RunDirectory
    from ..solver import Simulation

    header = read_header(args.checkpoint)
    path = header.path
    # the run's own --set overrides first, then the directory, then what is asked now
    overrides = [*[o for o in header.overrides if not o.startswith("output.dir=")],
                 f"output.dir={str(path.parent)!r}", *args.overrides]
    cfg = config.parse(header.input_text, f"{path} (input_text)", overrides)
    mpi.configure_threads()
    # compilation is timed on its own line, outside the run's wall time, rates, ETA and phase shares
    sim = Simulation(cfg)
    # read and verified on every rank; a damaged latest checkpoint of a directory falls back to the previous
    u, alpha, t, step, text, attrs = read_checkpoint(args.checkpoint, sim.decomp)
    if text != header.input_text:
        log.warning("restarting from %s, whose input differs from the latest checkpoint's: running on with "
                    "the latest's input", attrs["path"])
    sim.restore(u, alpha, t, step)
    if sim.done():
        log.info("%s is already complete (t = %.6g, step %d): nothing to do; to continue it, raise "
                 "scheme.t_final or scheme.max_steps with --set", path.parent, sim.t, sim.step_count)
        return EXIT_COMPLETED
    prepare(cfg)
    out = RunDirectory(sim, restart=True, overrides=args.overrides)
    return execute(sim, out, args, initial_output=False)
