"""Output and restart: parallel HDF5 field files, XDMF sidecars, diagnostics history, checkpoints.

- :mod:`.h5` — :func:`write_fields` (one global dataset per field, mpio collective or gather to
  rank 0, temp name + rename), :func:`read_fields`, :func:`read_owned`, :func:`write_timeseries`;
- :mod:`.xdmf` — :func:`write_xdmf`, :func:`write_xdmf_series` for ParaView / VisIt;
- :mod:`.checkpoint` — :func:`write_checkpoint` (keep the last K, ``latest`` pointer),
  :func:`read_checkpoint` (any rank count), :func:`latest_checkpoint`.
"""

from .checkpoint import checkpoint_name, is_complete, latest_checkpoint, read_checkpoint, write_checkpoint
from .h5 import (
    mpio_available,
    read_fields,
    read_grid,
    read_owned,
    read_timeseries,
    write_fields,
    write_timeseries,
)
from .xdmf import write_xdmf, write_xdmf_series

__all__ = [
    "checkpoint_name", "is_complete", "latest_checkpoint", "mpio_available", "read_checkpoint",
    "read_fields", "read_grid", "read_owned", "read_timeseries", "write_checkpoint", "write_fields",
    "write_timeseries", "write_xdmf", "write_xdmf_series",
]
