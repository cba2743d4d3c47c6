"""`hpcclose restart CHECKPOINT.h5|RUN_DIR [--set …]`: continue a run on any number of ranks.

The checkpoint carries the input text, the state u, the multipliers α (so the warm start, and hence
the result, is the same as without the restart), the time and the step. ``--set`` changes the input
as in ``run`` (e.g. a later ``scheme.t_final``); the run continues in the checkpoint's directory.
"""

from __future__ import annotations

import json
from pathlib import Path

from .. import config
from ..errors import InputError
from ..parallel import mpi
from .run import add_common, execute


def add_arguments(parser) -> None:
    parser.add_argument("checkpoint", help="a checkpoint_*.h5 file, or a run directory (its latest checkpoint)")
    add_common(parser)


def main(args) -> int:
    import h5py

    from ..io.checkpoint import latest_checkpoint, read_checkpoint
    from ..io.h5 import from_attr
    from ..io.run_dir import RunDirectory
    from ..solver import Simulation

    path = Path(args.checkpoint)
    if path.is_dir():
        found = latest_checkpoint(path)
        if found is None:
            raise InputError(f"{path}: no complete checkpoint in this directory")
        path = found
    if not path.is_file():
        raise InputError(f"{path}: no such checkpoint file")
    try:
        with h5py.File(path, "r") as f:
            text = f.attrs["input_text"]
            text = text.decode() if isinstance(text, bytes) else str(text)
            earlier = from_attr(f.attrs.get("input_overrides", "[]"))
            earlier = json.loads(earlier) if isinstance(earlier, str) else earlier
    except (OSError, KeyError) as exc:
        raise InputError(f"{path}: not a readable hpcclose checkpoint ({exc})") from None
    # the run's own --set overrides first, then the directory, then what is asked now
    overrides = [*[o for o in earlier if not o.startswith("output.dir=")], f"output.dir={str(path.parent)!r}",
                 *args.overrides]
    cfg = config.parse(text, f"{path} (input_text)", overrides)
    mpi.configure_threads()
    sim = Simulation(cfg)
    u, alpha, t, step, _, _ = read_checkpoint(path, sim.decomp)
    sim.restore(u, alpha, t, step)
    out = RunDirectory(sim, restart=True, overrides=args.overrides)
    return execute(sim, out, args, initial_output=False)
