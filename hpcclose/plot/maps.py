"""2D figure of one output time: a colour map per moment component (diverging, centred at 0, for the
signed ones) and, for a radially symmetric problem, u0 against the distance r from the origin with the
exact profile where one is known."""

from __future__ import annotations

import logging
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from ..io.fields import read_fields
from .figure import DIVERGING, SEQUENTIAL, RunInfo, grid_of, save

log = logging.getLogger("hpcclose")


def _map(fig, ax, values: np.ndarray, extent: list[float], signed: bool, title: str) -> None:
    if signed:  # zero-centred: white is 0, red and blue the two signs
        top = float(np.max(np.abs(values))) or 1.0
        im = ax.imshow(values, origin="lower", extent=extent, cmap=DIVERGING, vmin=-top, vmax=top)
    else:
        im = ax.imshow(values, origin="lower", extent=extent, cmap=SEQUENTIAL)
    ax.set(title=title, xlabel="x", ylabel="y", aspect="equal")
    fig.colorbar(im, ax=ax, shrink=0.85)


def _radial(ax, g: dict, u0: np.ndarray, t: float, exact) -> None:
    """u0 of every cell against r, and the exact u0(r) if ``exact(t, r)`` gives one."""
    yc, xc = np.meshgrid(g["y"], g["x"], indexing="ij")
    r = np.hypot(xc, yc).ravel()
    ax.plot(r, u0.ravel(), ".", ms=1.5, color="C0", alpha=0.5, label="computed (every cell)")
    rr = np.linspace(0.0, r.max(), 400)
    profile = exact(t, rr) if exact is not None else None
    if profile is not None:
        ax.plot(rr, profile, "k-", lw=1.2, label="exact")
    elif exact is not None:  # e.g. t = 0 (the line source's δ) or parameters without an exact solution
        log.warning("--exact: no exact solution of this run at t = %.4g", t)
    ax.set(xlabel="distance from the source r", ylabel=r"$\langle \psi \rangle$  [u0]", title="radial profile")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)


def maps_2d(path: Path, out: Path, info: RunInfo, radial: bool = False, exact=None) -> Path:
    """The figure of one field file: ``fields_NNNNN.png`` in ``out``."""
    fields, attrs = read_fields(path, ["u"])
    u, g, t = fields["u"], grid_of(path), float(attrs["time"])
    n = u.shape[-1]
    panels = n + int(radial)
    cols = min(panels, 4 if radial else 3)
    rows = (panels + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4.3 * cols, 3.7 * rows + 0.5), squeeze=False)
    extent = [g["x_edges"][0], g["x_edges"][-1], g["y_edges"][0], g["y_edges"][-1]]
    flat = list(axes.ravel())
    for k in range(n):
        c = info.components[k]
        _map(fig, flat[k], u[:, :, k], extent, info.signed[k], f"{c.symbol}  [{c.name}]")
    if radial:
        _radial(flat[n], g, u[:, :, 0], t, exact)
    for ax in flat[panels:]:
        ax.axis("off")
    fig.suptitle(f"{info.title}; t = {t:.4g}", fontsize=10)
    fig.tight_layout()
    return save(fig, out / f"{path.stem}.png")
