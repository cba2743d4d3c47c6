"""Output and restart: parallel HDF5 field files, XDMF sidecars, diagnostics history, checkpoints.

Layered, imports pointing down only (files, attrs <- fields, timeseries, xdmf <- checkpoint <-
run_dir), so no two io modules import each other:

- :mod:`.files` — temp names, fsync, :func:`~.files.commit` (atomic rename), ``atomic_write_text``;
- :mod:`.attrs` — python values <-> HDF5 attributes;
- :mod:`.fields` — :func:`write_fields` (one global dataset per field, mpio collective or gather to
  rank 0, temp name + rename), :func:`read_fields`, :func:`read_grid`, :func:`read_owned`;
- :mod:`.timeseries` — :func:`write_timeseries`, :func:`read_timeseries` (diagnostics, HDF5/CSV);
- :mod:`.xdmf` — :func:`write_xdmf`, :func:`write_xdmf_series` for ParaView / VisIt;
- :mod:`.checkpoint` — :func:`write_checkpoint` (keep the last K, ``latest`` pointer),
  :func:`read_header`, :func:`read_checkpoint` (any rank count), :func:`latest_checkpoint`;
- :mod:`.run_dir` — :class:`~.run_dir.RunDirectory`, a run's directory (field files and their
  XDMF sidecars, checkpoints, diagnostics); the top layer, imported from its own module.
"""

from .checkpoint import (
    CheckpointHeader,
    checkpoint_name,
    is_complete,
    latest_checkpoint,
    read_checkpoint,
    read_header,
    write_checkpoint,
)
from .fields import mpio_available, read_fields, read_grid, read_owned, write_fields
from .timeseries import read_timeseries, write_timeseries
from .xdmf import write_xdmf, write_xdmf_series

__all__ = [
    "CheckpointHeader", "checkpoint_name", "is_complete", "latest_checkpoint", "mpio_available",
    "read_checkpoint", "read_fields", "read_grid", "read_header", "read_owned", "read_timeseries",
    "write_checkpoint", "write_fields", "write_timeseries", "write_xdmf", "write_xdmf_series",
]
