"""1D figure: every moment component against x, one line per output time, the exact density over u0."""

from __future__ import annotations

import logging
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.lines import Line2D

from ..io.fields import read_fields
from .figure import RunInfo, grid_of, save

log = logging.getLogger("hpcclose")


def profiles_1d(files: list[Path], out: Path, info: RunInfo, reference: Path | None = None,
                exact=None) -> Path:
    """Profiles of ``files`` (one colour per output time); ``exact(t, x_edges)``: the exact cell averages
    of u0 at t or None, drawn dotted in the colour of the computed profile at the same time."""
    n = len(info.components)
    fig, axes = plt.subplots(n, 1, figsize=(7.5, 2.5 * n + 0.6), sharex=True, squeeze=False)
    colours = plt.get_cmap("viridis")(np.linspace(0.0, 0.9, len(files)))
    overlaid = False
    for path, colour in zip(files, colours, strict=True):
        f, a = read_fields(path, ["u"])
        g, t = grid_of(path), float(a["time"])
        for k in range(n):
            axes[k, 0].plot(g["x"], f["u"][:, k], color=colour, lw=1.2, label=f"t = {t:.3g}")
        u0 = exact(t, g["x_edges"]) if exact is not None else None
        if u0 is not None:
            axes[0, 0].plot(g["x"], u0, ":", color=colour, lw=2.0)
            overlaid = True
    if reference is not None:
        f, _ = read_fields(reference, ["u"])
        for k in range(n):
            axes[k, 0].plot(grid_of(reference)["x"], f["u"][:, k], "k--", lw=1,
                            label=f"reference ({reference.name})")
    if len(files) > 1:  # a delta-like initial state would flatten every later profile: scale to those
        later = np.concatenate([read_fields(p, ["u"])[0]["u"][:, 0] for p in files[1:]])
        axes[0, 0].set_ylim(min(0.0, later.min()) * 1.1, later.max() * 1.2)
    for k in range(n):
        axes[k, 0].set_ylabel(info.label(k))
        axes[k, 0].grid(alpha=0.3)
        if info.signed[k]:
            axes[k, 0].axhline(0.0, color="0.5", lw=0.6)
    handles, _ = axes[0, 0].get_legend_handles_labels()
    if exact is not None and not overlaid:  # e.g. the plane source's smooth variant: no exact solution
        log.warning("--exact: no exact solution of this %s run at its output times", info.attrs["problem"])
    if overlaid:
        handles.append(Line2D([], [], ls=":", lw=2.0, color="k", label="exact (Ganapol), same colours"))
    axes[0, 0].legend(handles=handles, fontsize=7, ncol=2)
    axes[-1, 0].set_xlabel("x")
    fig.suptitle(info.title, fontsize=10)
    fig.tight_layout()
    return save(fig, out / "profiles.png")
