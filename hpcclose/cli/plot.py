"""`hpcclose plot RUN_DIR_OR_FILE [--frames …] [--reference FILE] [--exact] [--out DIR]`: PNG figures of a run.

Every file it will read is checked first (an HDF5 file, written completely by hpcclose, with the
datasets the figures need) and the output directory found writable, so a bad file is one line naming it.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import InputError
from .outputs import writable_dir

# what the figures read from each kind of file
_FIELDS_NEED = ("fields/u", "grid/x", "grid/x_edges")
_DIAGNOSTICS_NEED = ("timeseries/t",)


def add_arguments(parser) -> None:
    parser.add_argument("target", help="a run directory (all outputs + histories) or one fields_*.h5 file")
    parser.add_argument("--frames", default="all",
                        help="which outputs to draw: all (default), or positions such as 0,2,-1 (-1: the last); "
                        "1D draws them in one figure, 2D one figure each")
    parser.add_argument("--reference", help="a fields file to draw as a dashed reference (1D)")
    parser.add_argument("--exact", action="store_true",
                        help="overlay the exact solution at every output time where one exists (the plane "
                        "source's density, Ganapol; the line source's on its radial profile); warns when there is none")
    parser.add_argument("--out", help="directory for the PNGs (default: <run>/plots)")


def parse_frames(text: str) -> list[int] | None:
    """``all`` → None; ``0,2,-1`` → [0, 2, -1]."""
    if text.strip() == "all":
        return None
    try:
        return [int(s) for s in text.split(",")]
    except ValueError:
        raise InputError(f"plot: --frames: expected all or whole numbers separated by commas, got {text!r}") from None


def check_file(path: Path, need: tuple[str, ...], fields: bool) -> None:
    """``path`` is an HDF5 file with the datasets ``need``; ``fields``: a complete hpcclose field file."""
    import h5py

    from ..io.fields import FORMAT

    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise InputError(f"{path}: not an HDF5 file ({exc})") from None
    with f:
        fmt = f.attrs.get("format", b"")
        fmt = fmt.decode() if isinstance(fmt, bytes) else str(fmt)
        if fields and fmt != FORMAT:
            raise InputError(f"{path}: not an hpcclose field file (format {fmt or 'not given'!r}, expected {FORMAT!r})")
        if fields and not f.attrs.get("complete", False):
            raise InputError(f"{path}: incomplete field file (its writer stopped before the end)")
        missing = [name for name in need if name not in f]
        if missing:
            raise InputError(f"{path}: lacks {', '.join(missing)} (not written by hpcclose, or damaged)")


def check_inputs(target: Path, reference: Path | None) -> None:
    """Refuse a missing target or any file the figures would fail on, before drawing anything."""
    if target.is_dir():
        files = sorted(target.glob("fields_*.h5"))
        diagnostics = target / "diagnostics.h5"
        if diagnostics.exists():
            check_file(diagnostics, _DIAGNOSTICS_NEED, fields=False)
    elif target.is_file():
        files = [target]
    else:
        raise InputError(f"{target}: no such run directory or file")
    for path in files + ([reference] if reference else []):
        check_file(path, _FIELDS_NEED, fields=True)


def main(args) -> int:
    from ..parallel import mpi
    from ..plot import plot

    if mpi.rank() == 0:
        target, reference = Path(args.target), args.reference and Path(args.reference)
        frames = parse_frames(args.frames)
        check_inputs(target, reference)
        out = writable_dir(args.out or (target if target.is_dir() else target.parent) / "plots", "--out", "plot")
        for path in plot(target, out, reference, args.exact, frames):
            print(f"wrote {path}")
    return 0
