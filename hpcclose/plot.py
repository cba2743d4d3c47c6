"""Figures of a run (``hpcclose plot``): 1D moment profiles, 2D colour maps, diagnostics histories.

Everything is read back from the run's files (any rank count wrote them), so plotting needs no MPI.
"""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .errors import InputError  # noqa: E402
from .io.attrs import from_attr  # noqa: E402
from .io.fields import read_fields  # noqa: E402
from .io.timeseries import read_timeseries  # noqa: E402


def _save(fig, path: Path) -> Path:
    tmp = path.with_name(f".{path.stem}.tmp.png")
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    os.replace(tmp, path)
    return path


def _grid(path: Path) -> dict[str, np.ndarray]:
    import h5py

    with h5py.File(path, "r") as f:
        return {k: f["grid"][k][...] for k in f["grid"]}


def profiles_1d(files: list[Path], out: Path, reference: Path | None = None, exact: bool = False) -> Path:
    """Every moment component against x, one line per output time (+ reference / exact density)."""
    fields, attrs = read_fields(files[-1])
    u = fields["u"]
    names = from_attr(attrs.get("components_u", None)) or [f"u{k}" for k in range(u.shape[-1])]
    n = u.shape[-1]
    fig, axes = plt.subplots(n, 1, figsize=(7, 2.4 * n), sharex=True, squeeze=False)
    for path in files:
        f, a = read_fields(path)
        x = _grid(path)["x"]
        for k in range(n):
            axes[k, 0].plot(x, f["u"][:, k], lw=1, label=f"t = {float(a['time']):.3g}")
    if reference is not None:
        f, a = read_fields(reference)
        for k in range(n):
            axes[k, 0].plot(_grid(reference)["x"], f["u"][:, k], "k--", lw=1, label=f"reference ({reference.name})")
    if exact:
        from .problems.ganapol import plane_source_cell_averages

        edges, t = _grid(files[-1])["x_edges"], float(attrs["time"])
        axes[0, 0].plot(0.5 * (edges[1:] + edges[:-1]), plane_source_cell_averages(edges, t), "k:", lw=1.5,
                        label=f"exact kinetic (Ganapol), t = {t:.3g}")
    if len(files) > 1:  # a delta-like initial state would flatten every later profile: scale to those
        later = np.concatenate([read_fields(p)[0]["u"][:, 0] for p in files[1:]])
        axes[0, 0].set_ylim(min(0.0, later.min()) * 1.1, later.max() * 1.2)
    for k in range(n):
        axes[k, 0].set_ylabel(names[k] if k < len(names) else f"u{k}")
        axes[k, 0].grid(alpha=0.3)
    axes[0, 0].legend(fontsize=7)
    axes[-1, 0].set_xlabel("x")
    a = {k: attrs.get(k, "") for k in ("problem", "closure", "basis", "N")}
    fig.suptitle(f"{a['problem']}: {a['closure']}, {a['basis']} N={a['N']}")
    fig.tight_layout()
    return _save(fig, out / "profiles.png")


def maps_2d(path: Path, out: Path) -> Path:
    """Colour maps of every moment component at one output time."""
    fields, attrs = read_fields(path)
    u, g = fields["u"], _grid(path)
    n = u.shape[-1]
    cols = min(n, 3)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.6 * rows), squeeze=False)
    extent = [g["x_edges"][0], g["x_edges"][-1], g["y_edges"][0], g["y_edges"][-1]]
    for k in range(rows * cols):
        ax = axes[k // cols, k % cols]
        if k >= n:
            ax.axis("off")
            continue
        im = ax.imshow(u[:, :, k], origin="lower", extent=extent, cmap="viridis", aspect="equal")
        ax.set_title(f"u[{k}]")
        fig.colorbar(im, ax=ax, shrink=0.8)
    fig.suptitle(f"{attrs.get('problem', '')} at t = {float(attrs['time']):.4g} ({attrs.get('closure', '')})")
    fig.tight_layout()
    return _save(fig, out / f"{path.stem}.png")


def histories(diagnostics: Path, out: Path) -> Path:
    """Mass, entropy, minimum u0, closure iterations and per-step phase times against time."""
    cols, _ = read_timeseries(diagnostics)
    t = np.asarray(cols["t"])
    fig, axes = plt.subplots(2, 2, figsize=(10, 6.5))
    mass = np.asarray(cols["mass"])
    axes[0, 0].plot(t, (mass - mass[0]) / abs(mass[0]))
    axes[0, 0].set(title="relative mass change", xlabel="t")
    axes[0, 1].plot(t, cols["entropy"])
    axes[0, 1].set(title="total entropy Σ h(u) Δx", xlabel="t")
    axes[1, 0].semilogy(t, np.maximum(np.asarray(cols["min_u0"], float), 1e-300), label="min u0")
    axes[1, 0].plot(t, cols["iterations_mean"], label="closure iterations (mean)")
    axes[1, 0].set(title="state and closure", xlabel="t")
    axes[1, 0].legend(fontsize=8)
    for key, label in (("wall", "step"), ("closure_s", "closure"), ("halo_s", "halo"), ("flux_s", "flux")):
        if key in cols:
            axes[1, 1].plot(t, np.asarray(cols[key], float), label=label)
    axes[1, 1].set(title="wall time per step, slowest rank [s]", xlabel="t", yscale="log")
    axes[1, 1].legend(fontsize=8)
    for ax in axes.ravel():
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return _save(fig, out / "histories.png")


def plot(target: Path, out: Path | None = None, reference: Path | None = None, exact: bool = False) -> list[Path]:
    """Plot a run directory (all outputs + histories) or a single fields file; returns the PNGs."""
    target = Path(target)
    if target.is_dir():
        files = sorted(target.glob("fields_*.h5"))
        diag = target / "diagnostics.h5"
        out = Path(out or target / "plots")
    elif target.is_file():
        files, diag, out = [target], None, Path(out or target.parent / "plots")
    else:
        raise InputError(f"{target}: no such run directory or file")
    if not files:
        raise InputError(f"{target}: no fields_*.h5 outputs to plot (set output.every or output.every_steps)")
    out.mkdir(parents=True, exist_ok=True)
    two_d = "y" in _grid(files[-1])
    made = [maps_2d(files[-1], out)] if two_d else [profiles_1d(files, out, reference, exact)]
    if diag is not None and diag.exists():
        made.append(histories(diag, out))
    return made
