"""What every figure of a run shares: the run's description read from a field file, and saving a PNG.

:class:`RunInfo` turns a field file's attributes into what a reader of the figure needs: each moment
component's physical label (:mod:`hpcclose.velocity.names`, the scheme of the files), whether it can be
negative (its basis function takes both signs: a zero-centred diverging colour map), and a title with the
problem, M_N or P_N, the closure, the basis and the cells.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import h5py
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..io.fields import read_fields  # noqa: E402
from ..velocity import make_basis  # noqa: E402
from ..velocity.names import Component, components  # noqa: E402

#: colour maps: sequential for quantities of one sign, diverging (centred at 0) for signed ones
SEQUENTIAL, DIVERGING = "viridis", "RdBu_r"


@dataclass(frozen=True)
class RunInfo:
    """A run as its field files describe it."""

    attrs: dict
    components: list[Component]
    signed: list[bool]
    cells: tuple[int, ...]  # per array axis: (nx,) or (ny, nx)

    @classmethod
    def read(cls, path: Path) -> RunInfo:
        _, attrs = read_fields(path, names=[])
        basis = make_basis(str(attrs["basis"]), int(attrs["dim"]), int(attrs["N"]))
        m = basis.evaluate(basis.reference_quadrature)
        with h5py.File(path, "r") as f:
            cells = tuple(int(c) for c in np.ravel(f["grid"].attrs["cells"]))
        return cls(attrs, components(basis), [bool(m[:, k].min() < 0 < m[:, k].max()) for k in range(basis.n)],
                   cells)

    @property
    def title(self) -> str:
        """e.g. "plane source: M$_2$ (closure newton), legendre basis, 100 cells"."""
        a = self.attrs
        model = "P" if a["closure"] == "pn" else "M"
        cells = " × ".join(str(c) for c in reversed(self.cells))  # stored in array order (y, x): x first
        return (f"{str(a['problem']).replace('_', ' ')}: {model}$_{{{int(a['N'])}}}$ (closure {a['closure']}), "
                f"{str(a['basis']).replace('_', ' ')} basis, {cells} cells")

    def label(self, k: int) -> str:
        """Axis label of component ``k``: its physical symbol and, in brackets, its name in the files."""
        c = self.components[k]
        return f"{c.symbol}  [{c.name}]"


def grid_of(path: Path) -> dict[str, np.ndarray]:
    """The /grid datasets of a field file (cell centres and faces per axis)."""
    with h5py.File(path, "r") as f:
        return {k: f["grid"][k][...] for k in f["grid"]}


def save(fig, path: Path) -> Path:
    """Write ``fig`` as a PNG under a temporary name, then rename (a reader never sees half a file)."""
    tmp = path.with_name(f".{path.stem}.tmp.png")
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    os.replace(tmp, path)
    return path
