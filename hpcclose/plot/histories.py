"""The diagnostics over time: mass, entropy, the state's smallest u0, closure iterations, step times."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from ..io.timeseries import read_timeseries
from .figure import save


def histories(diagnostics: Path, out: Path, title: str = "") -> Path:
    """``histories.png``: one quantity (or one kind of quantity) per panel, each on its own axis."""
    cols, _ = read_timeseries(diagnostics)
    t = np.asarray(cols["t"])
    fig, axes = plt.subplots(2, 3, figsize=(13, 6.5))
    mass = np.asarray(cols["mass"])
    axes[0, 0].plot(t, (mass - mass[0]) / abs(mass[0]))
    axes[0, 0].set(title="relative mass change", ylabel="(mass − mass(0)) / mass(0)")
    axes[0, 1].plot(t, cols["entropy"])
    axes[0, 1].set(title="total entropy", ylabel=r"$\sum h(u)\,\Delta V$")
    axes[0, 2].semilogy(t, np.maximum(np.asarray(cols["min_u0"], float), 1e-300))
    axes[0, 2].set(title="smallest density", ylabel=r"min $\langle \psi \rangle$  [min_u0]")
    axes[1, 0].plot(t, cols["iterations_mean"], label="mean")
    axes[1, 0].plot(t, cols["iterations_max"], label="max", lw=0.8)
    axes[1, 0].set(title="closure iterations per cell-solve", ylabel="iterations")
    axes[1, 0].legend(fontsize=8)
    axes[1, 1].plot(t, cols["dt"])
    axes[1, 1].set(title="time step", ylabel=r"$\Delta t$")
    for key, label in (("wall", "step"), ("closure_s", "closure"), ("halo_s", "halo"), ("flux_s", "flux")):
        if key in cols:
            axes[1, 2].plot(t, np.asarray(cols[key], float), label=label)
    axes[1, 2].set(title="wall time per step, slowest rank", ylabel="seconds", yscale="log")
    axes[1, 2].legend(fontsize=8)
    for ax in axes.ravel():
        ax.set_xlabel("t")
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return save(fig, out / "histories.png")
