"""A run's directory: field outputs at a cadence, checkpoints, diagnostics, and the refusal to clobber.

Layout of ``output.dir``::

    fields_00000.h5 (+ .xdmf)   one file per output time (see io/fields.py), fields u and alpha
    fields.xdmf                 temporal collection of all outputs: open this in ParaView
    checkpoint_<step>.h5        restartable state (the last two kept), ``latest`` names the newest
    diagnostics.h5 / .csv       per-step mass, entropy, min u0, margin, closure statistics, wall time
    rescue_<step>.h5            the state at which the solver's guard stopped the run (not restartable)
    input.toml                  the input text as run (with --set overrides listed on top)
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from .. import __version__
from ..errors import InputError
from .checkpoint import write_checkpoint
from .fields import write_fields
from .files import atomic_write_text
from .timeseries import read_timeseries, write_timeseries
from .xdmf import write_xdmf, write_xdmf_series

log = logging.getLogger("hpcclose")
RESULT_GLOBS = ("fields_*.h5", "checkpoint_*.h5", "diagnostics.h5", "rescue_*.h5")


class RunDirectory:
    """Owns ``output.dir`` for one run (collective: every rank constructs it)."""

    def __init__(self, sim, overwrite: bool = False, restart: bool = False, overrides: list[str] | None = None):
        self.sim = sim
        self.path = Path(sim.cfg.output.dir)
        d = sim.decomp

        def prepare() -> str | None:
            held = [p for g in RESULT_GLOBS for p in self.path.glob(g)] if self.path.is_dir() else []
            if held and not (overwrite or restart):
                return (f"output.dir {self.path} already holds results ({held[0].name}, …): choose another "
                        f"directory (--set output.dir=…) or pass --overwrite")
            self.path.mkdir(parents=True, exist_ok=True)
            if overwrite and not restart:
                for p in [*held, *self.path.glob("*.xdmf"), self.path / "latest"]:
                    p.unlink(missing_ok=True)
            header = "".join(f"# --set {o}\n" for o in overrides or [])
            atomic_write_text(self.path / "input.toml", header + sim.cfg.text)
            return None

        problem = d.bcast(prepare() if d.is_root else None)
        if problem:
            raise InputError(problem)
        self.outputs: list[Path] = []
        self.last_output_time: float | None = None
        self.previous: dict[str, list] = {}
        if restart:
            self._resume()
        d.barrier()

    def _resume(self) -> None:
        """Keep the outputs and diagnostics up to the restart time; later ones will be rewritten."""
        import h5py

        t, step = self.sim.t, self.sim.step_count
        for p in sorted(self.path.glob("fields_*.h5")):
            with h5py.File(p, "r") as f:
                later = float(f.attrs["time"]) > t * (1 + 1e-12)
            if later:  # superseded by the continued run (rank 0 removes it)
                if self.sim.decomp.is_root:
                    p.unlink()
                    p.with_suffix(".xdmf").unlink(missing_ok=True)
            else:
                self.outputs.append(p)
        diag = self.path / "diagnostics.h5"
        if diag.exists():
            cols, _ = read_timeseries(diag)
            keep = np.asarray(cols["step"]) < step
            self.previous = {k: list(np.asarray(v)[keep]) for k, v in cols.items()}

    # --- what goes into every file -----------------------------------------------------------------
    def attrs(self) -> dict:
        s = self.sim
        return {"time": s.t, "step": s.step_count, "closure": s.closure.name, "basis": s.basis.kind,
                "N": s.basis.N, "dim": s.dim, "quadrature": s.quad.name, "problem": s.problem.name,
                "input_text": s.cfg.text, "input_overrides": list(s.cfg.overrides), "code_version": __version__}

    def _fields(self) -> tuple[dict, dict]:
        s = self.sim
        alpha = s.alpha.reshape(s.u.shape) if s.alpha is not None else None
        fields = {"u": s.u} | ({"alpha": alpha} if alpha is not None else {})
        names = {"u": s.basis.labels, "alpha": [f"alpha{k}" for k in range(s.n)]}
        return fields, names

    # --- writers (all collective) ------------------------------------------------------------------
    def write_output(self) -> Path:
        """Field file for the current time, its XDMF sidecar, and the updated temporal collection."""
        fields, names = self._fields()
        path = self.path / f"fields_{len(self.outputs):05d}.h5"
        write_fields(path, self.sim.decomp, fields, self.attrs(), names)
        self.outputs.append(path)
        self.last_output_time = self.sim.t
        self._write_views(path, series=True)
        return path

    def write_checkpoint(self) -> Path:
        s = self.sim
        alpha = s.alpha.reshape(s.u.shape) if s.alpha is not None else None
        path = write_checkpoint(self.path, s.decomp, s.u, alpha, s.t, s.step_count, s.cfg.text, self.attrs(),
                                component_names={"u": s.basis.labels})
        return path

    def write_rescue(self) -> Path:
        """The state at which the guard stopped the run, for inspection (collective)."""
        fields, names = self._fields()
        path = self.path / f"rescue_{self.sim.step_count:08d}.h5"
        write_fields(path, self.sim.decomp, fields, self.attrs() | {"rescue": True}, names)
        self._write_views(path, series=False)
        return path

    def _write_views(self, path: Path, series: bool) -> None:
        """Write the XDMF views of a field file just written, on rank 0 (collective).

        The file's own sidecar and, with ``series``, the temporal collection of all outputs.
        """

        def write() -> None:
            write_xdmf(path)
            if series:
                write_xdmf_series(self.outputs, self.path / "fields.xdmf")

        self.sim.decomp.root_only(write)

    def write_diagnostics(self) -> None:
        now = self.sim.history.columns()
        cols = {k: list(self.previous.get(k, [])) + v for k, v in now.items()} if self.previous else now
        if cols:
            self.sim.decomp.root_only(lambda: write_timeseries(self.path / "diagnostics.h5",
                                                               self.path / "diagnostics.csv", cols))
