"""`hpcclose train CONFIG.toml [--set section.key=value …]`: train a network closure, write its model file.

One process (one GPU if visible, else the CPU). Shows a progress bar (epochs, loss, validation loss, best
epoch, learning rate) and ends with a summary: epochs, stop reason, validation errors of the exported
network, the convexity report and where the model file and loss curves were written. Every file it will
write (the model, its history and loss curves, ``data.save``) is checked before training: writable, and
not replacing an existing file unless ``--overwrite``.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import InputError
from ..parallel import mpi
from .outputs import new_file


def add_arguments(parser) -> None:
    parser.add_argument("input", help="training TOML file (see inputs/train_*.toml)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override an input value (TOML syntax), e.g. --set training.epochs=10; "
                             "repeatable")
    parser.add_argument("--epochs", type=int, default=None, help="train for at most this many epochs")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace the model file (and its history, loss curves, data.save) if they exist")


def check_outputs(cfg, overwrite: bool) -> None:
    """Refuse, before any work, output files that cannot be written or would replace results."""
    model = Path(cfg.output.model)
    files = [("output.model", model)]
    files += [("output.history", model.with_suffix(".history.json"))] if cfg.output.history else []
    files += [("output.plots", model.with_suffix(".loss.png"))] if cfg.output.plots else []
    files += [("data.save", Path(cfg.data.save))] if cfg.data.save else []
    for key, path in files:
        new_file(path, key, cfg.source, overwrite)


def main(args) -> int:
    from ..training import config
    from ..training.train import train

    if mpi.size() > 1:
        raise InputError("hpcclose train runs as a single process (one GPU or the CPU); "
                         "launch it without mpiexec")
    if args.epochs is not None and args.epochs < 1:
        raise InputError(f"--epochs must be ≥ 1, got {args.epochs}")
    cfg = config.load(args.input, args.overrides)
    check_outputs(cfg, args.overwrite)
    result = train(cfg, progress=not args.no_progress, epochs=args.epochs)
    print(result.summary(), flush=True)
    return 0
