"""A run's directory: field outputs at a cadence, checkpoints, diagnostics, and the refusal to clobber.

Layout of ``output.dir``::

    fields_00000.h5 (+ .xdmf)   one file per output time (see io/fields.py), fields u and alpha
    fields.xdmf                 temporal collection of all outputs: open this in ParaView
    checkpoint_<step>.h5        restartable state (the last two kept), ``latest`` names the newest
    diagnostics.h5 / .csv       per-step mass, entropy, min u0, margin, closure statistics, wall time
                                (units and meaning: diagnostics.COLUMNS, in both files)
    rescue_<step>.h5            the state at which the solver's guard stopped the run (not restartable)
    input.toml                  the input text as run (with --set overrides listed on top)
    .hpcclose.lock              held by the run using the directory (see io/lock.py)
    crash-rank<r>.txt           the traceback of an internal error on rank r, if one happened
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np

from .. import __version__
from ..diagnostics import column_attrs
from ..errors import InputError
from ..velocity import names
from .checkpoint import write_checkpoint
from .fields import write_fields
from .files import atomic_write_text
from .lock import RunLock
from .timeseries import read_timeseries, write_timeseries
from .xdmf import write_xdmf, write_xdmf_series

log = logging.getLogger("hpcclose")
RESULT_GLOBS = ("fields_*.h5", "checkpoint_*.h5", "diagnostics.h5", "rescue_*.h5")


class RunDirectory:
    """Owns ``output.dir`` for one run (collective: every rank constructs it; :meth:`close` at the end).

    Rank 0 alone touches the directory's listing (so no rank reads a file another deletes): it locks
    the directory against a second run (:class:`~.lock.RunLock`), refuses to clobber results unless
    asked, and on a restart removes what the continued run supersedes — outputs later than the
    checkpoint and the temporary files of writes a crash interrupted — then tells every rank what stays.
    A directory that cannot be used is an :class:`InputError` naming ``output.dir``, before any output.
    """

    def __init__(self, sim, overwrite: bool = False, restart: bool = False, overrides: list[str] | None = None):
        self.sim = sim
        self.path = Path(sim.cfg.output.dir)
        self.lock: RunLock | None = None
        header = "".join(f"# --set {o}\n" for o in overrides or [])

        def prepare() -> list[Path]:
            try:
                self.path.mkdir(parents=True, exist_ok=True)
                self.lock = RunLock(self.path)
                held = [p for g in RESULT_GLOBS for p in self.path.glob(g)]
                if held and not (overwrite or restart):
                    raise InputError(f"output.dir {self.path} already holds results ({held[0].name}, …): choose "
                                     f"another directory (--set output.dir=…) or pass --overwrite")
                if overwrite and not restart:
                    for p in [*held, *self.path.glob("*.xdmf"), self.path / "latest"]:
                        p.unlink(missing_ok=True)
                kept = self._resume_files() if restart else []
                atomic_write_text(self.path / "input.toml", header + sim.cfg.text)
                return kept
            except InputError:
                self.close()
                raise
            except (OSError, ValueError) as exc:  # a file in the way, no permission, read-only, full, bad name
                self.close()
                reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
                raise InputError(f"output.dir {self.path}: cannot write results there ({reason})") from None

        self.outputs: list[Path] = sim.decomp.root_only(prepare)
        self.last_output_time: float | None = None
        # the earlier rows, which rank 0 writes out again with the new ones
        self.previous: dict[str, list] = self._previous_diagnostics() if restart and sim.decomp.is_root else {}

    def close(self) -> None:
        """Release the directory for other runs (rank 0 holds the lock; idempotent)."""
        if self.lock is not None:
            self.lock.release()
            self.lock = None

    def _resume_files(self) -> list[Path]:
        """Rank 0, on a restart: the outputs up to the restart time (later ones are removed: the
        continued run rewrites them) and no leftovers of interrupted writes."""
        import h5py

        for tmp in self.path.glob(".*.tmp-*"):
            log.info("removing %s, left by an interrupted write", tmp.name)
            tmp.unlink(missing_ok=True)
        kept = []
        for p in sorted(self.path.glob("fields_*.h5")):
            with h5py.File(p, "r") as f:
                later = float(f.attrs["time"]) > self.sim.t * (1 + 1e-12)
            if later:
                p.unlink()
                p.with_suffix(".xdmf").unlink(missing_ok=True)
            else:
                kept.append(p)
        return kept

    def _previous_diagnostics(self) -> dict[str, list]:
        """The diagnostics rows before the restart step (the continued run appends its own)."""
        diag = self.path / "diagnostics.h5"
        if not diag.exists():
            return {}
        cols, _ = read_timeseries(diag)
        keep = np.asarray(cols["step"]) < self.sim.step_count
        return {k: list(np.asarray(v)[keep]) for k, v in cols.items()}

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
        return fields, self._names()

    def _names(self) -> dict[str, list[str]]:
        """The component names of u and alpha (one scheme: :mod:`hpcclose.velocity.names`)."""
        return {"u": self.sim.basis.labels, "alpha": names.multiplier_names(self.sim.basis)}

    def _descriptions(self) -> dict[str, dict]:
        """The CF attributes of u and alpha (units: see io/fields.py's UNITS_CONVENTION), the words for
        each component, and where the current J sits among u's components (the XDMF's vector)."""
        components = names.components(self.sim.basis)
        u = {"long_name": "angular moments ⟨m_k(v) ψ⟩ of the particle density ψ, one per component "
                          "(component_long_names)", "units": "1",
             "component_long_names": [c.long_name for c in components],
             "current_components": names.current_components(self.sim.basis)}
        alpha = {"long_name": "Lagrange multipliers α_k of the entropy ansatz ψ = exp(α·m(v)), one per moment",
                 "units": "1"}
        return {"u": u, "alpha": alpha}

    # --- writers (all collective) ------------------------------------------------------------------
    def write_output(self) -> Path:
        """Field file for the current time, its XDMF sidecar, and the updated temporal collection."""
        fields, component_names = self._fields()
        path = self.path / f"fields_{len(self.outputs):05d}.h5"
        write_fields(path, self.sim.decomp, fields, self.attrs(), component_names, field_attrs=self._descriptions())
        self.outputs.append(path)
        self.last_output_time = self.sim.t
        self._write_views(path, series=True)
        return path

    def write_checkpoint(self) -> Path:
        s = self.sim
        alpha = s.alpha.reshape(s.u.shape) if s.alpha is not None else None
        path = write_checkpoint(self.path, s.decomp, s.u, alpha, s.t, s.step_count, s.cfg.text, self.attrs(),
                                component_names=self._names(), field_attrs=self._descriptions())
        return path

    def write_rescue(self) -> Path:
        """The state at which the guard stopped the run, for inspection (collective)."""
        fields, component_names = self._fields()
        path = self.path / f"rescue_{self.sim.step_count:08d}.h5"
        write_fields(path, self.sim.decomp, fields, self.attrs() | {"rescue": True}, component_names,
                     field_attrs=self._descriptions())
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
        # rows of a run restarted from an older version's files lack its newer columns: NaN there
        before = len(self.previous.get("step", []))
        cols = {k: list(self.previous.get(k, [math.nan] * before)) + v for k, v in now.items()}
        if cols:
            self.sim.decomp.root_only(lambda: write_timeseries(self.path / "diagnostics.h5",
                                                               self.path / "diagnostics.csv", cols,
                                                               column_attrs=column_attrs(cols)))
