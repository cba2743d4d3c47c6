"""The diagnostics over time: mass, entropy, the state's smallest u0, closure iterations, step times."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from ..diagnostics import BALANCE, WALLS
from ..io.timeseries import read_timeseries
from .figure import save


def _mass_panel(ax, t: np.ndarray, cols: dict) -> None:
    """The mass and what moved it: out through the walls and sources, cumulative up to each step's start
    (the rows' mass is the state at the start of the step), and the conservation error in the title.
    Files written before the balance columns existed get the relative mass change instead."""
    mass = np.asarray(cols["mass"], float)
    if not all(k in cols for k in BALANCE) or np.isnan(np.asarray(cols["sources"], float)).any():
        ax.plot(t, (mass - mass[0]) / abs(mass[0]))
        ax.set(title="relative mass change", ylabel="(mass − mass(0)) / mass(0)")
        return
    before = lambda values: np.concatenate([[0.0], np.cumsum(values)[:-1]])  # noqa: E731
    out = before(sum(np.asarray(cols[k], float) for k in WALLS))
    sources = before(np.asarray(cols["sources"], float))
    error = mass - mass[0] - (sources - out)
    ax.plot(t, mass, label="mass")
    ax.plot(t, out, label="out through the walls", ls="--")
    if np.any(sources):
        ax.plot(t, sources, label="sources", ls=":")
    scale = max(np.max(np.abs(mass)), 1e-300)
    ax.set(title=f"mass balance (conservation error ≤ {np.max(np.abs(error)) / scale:.1e} of the mass)",
           ylabel=r"$\sum u_0\,\Delta V$ and what moved it")
    ax.legend(fontsize=8)


def histories(diagnostics: Path, out: Path, title: str = "") -> Path:
    """``histories.png``: one quantity (or one kind of quantity) per panel, each on its own axis."""
    cols, _ = read_timeseries(diagnostics)
    t = np.asarray(cols["t"])
    fig, axes = plt.subplots(2, 3, figsize=(13, 6.5))
    _mass_panel(axes[0, 0], t, cols)
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
