"""`hpcclose plot RUN_DIR_OR_FILE [--reference FILE] [--exact] [--out DIR]`: PNG figures of a run."""

from __future__ import annotations

from pathlib import Path


def add_arguments(parser) -> None:
    parser.add_argument("target", help="a run directory (all outputs + histories) or one fields_*.h5 file")
    parser.add_argument("--reference", help="a fields file to draw as a dashed reference (1D)")
    parser.add_argument("--exact", action="store_true", help="draw the exact plane-source density (Ganapol)")
    parser.add_argument("--out", help="directory for the PNGs (default: <run>/plots)")


def main(args) -> int:
    from ..parallel import mpi
    from ..plot import plot

    if mpi.rank() == 0:
        for path in plot(Path(args.target), args.out and Path(args.out),
                         args.reference and Path(args.reference), args.exact):
            print(f"wrote {path}")
    return 0
