"""``hpcclose bench model``: calibrate the model here, predict 1 → 16 384 ranks, check it against measurements.

The result (JSON + PNG + a table) holds the fitted per-cell costs, the network, strong- and weak-scaling
predictions with their efficiency, where efficiency falls below 80 % and below how many cells per rank
doubling the ranks stops paying, and — given ``bench scaling`` results — predicted against measured
time per step and the modelled halo bytes against the bytes the run's sends carried.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .. import config
from ..errors import InputError
from .model import Costs, Network, halo_plan, predict, series, thresholds
from .output import pyplot, save_figure, write_json
from .scaling import rank_axis


def periodic_of(cfg: config.Config) -> tuple[bool, ...]:
    """Which axes (array order) of the input's problem are periodic."""
    from ..problems import get_problem

    return tuple(get_problem(cfg.problem.name, cfg.problem.params, cfg.source).periodic)


def array_cells(cells) -> tuple[int, ...]:
    """Cells in array order ((x,) or (y, x)) from the input's x-first form."""
    return (cells,) if isinstance(cells, int) else (cells[1], cells[0])


def validate(costs: Costs, net: Network, study: dict, periodic: tuple[bool, ...]) -> list[dict]:
    """Predicted against measured time per step and modelled against counted traffic, per measured row."""
    rows = []
    for r in study["rows"]:
        plan = halo_plan(tuple(r["cells"][::-1]), periodic, r["ranks"], r["n_components"], dims=tuple(r["dims"]),
                         itemsize=costs.itemsize)
        pred = predict(costs, plan, net)
        measured = float(np.median(r["step_s"]))
        rows.append({"ranks": r["ranks"], "cells_per_rank": r["cells_per_rank"], "predicted_s": pred["time_per_step_s"],
                     "measured_s": measured, "ratio": pred["time_per_step_s"] / measured,
                     "oversubscribed": bool(r.get("oversubscribed")),
                     "halo_bytes_modelled": pred["halo_bytes_per_step"], "halo_bytes_counted": r["halo_bytes_per_step"],
                     "exchanges_modelled": costs.stages, "exchanges_counted": r["exchanges_per_step"],
                     "allreduces_modelled": costs.reductions if r["ranks"] > 1 else 0,
                     "allreduces_counted": r["allreduces_per_step"]})
    return rows


def model_study(cfg: config.Config, costs: Costs, net: Network, ranks: list[int],
                weak_block: tuple[int, ...] | None = None, measured: list[dict] = ()) -> dict:
    """Strong (the input's grid) and weak (``weak_block`` per rank, x first; default the input's grid)
    predictions, and the check against ``measured`` studies."""
    periodic = periodic_of(cfg)
    cells = array_cells(cfg.mesh.cells)
    block = tuple(weak_block[::-1]) if weak_block else cells
    strong = series(costs, cells, periodic, ranks, net, "strong")
    weak = series(costs, block, periodic, ranks, net, "weak")
    return {"network": net.__dict__, "costs": costs.to_json(), "cells": list(cells), "weak_block": list(block),
            "periodic": list(periodic), "strong": strong, "weak": weak, "thresholds": thresholds(strong, weak),
            "validation": [v for s in measured for v in validate(costs, net, s, periodic)]}


def load_costs(path: str) -> tuple[Costs, list[dict]]:
    """The costs (and their calibration points) of an earlier ``model.json``."""
    try:
        earlier = json.loads(Path(path).read_text(encoding="utf-8"))
        return Costs.from_json(earlier["costs"]), earlier.get("calibration", [])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"bench model: cannot read costs from {path}: {exc}") from None


def load_studies(paths: list[str]) -> list[dict]:
    """``bench scaling`` results to validate against."""
    out = []
    for p in paths:
        try:
            out.append(json.loads(Path(p).read_text(encoding="utf-8")))
        except (OSError, ValueError) as exc:
            raise InputError(f"bench model: cannot read {p}: {exc}") from None
    return out


def table(result: dict) -> str:
    """Predictions, thresholds and validation as text."""
    lines = [f"{'P':>6} {'strong: cells/rank':>18} {'ms/step':>10} {'eff.':>6} {'halo exposed':>13} "
             f"{'reduce':>9} | {'weak: ms/step':>13} {'eff.':>6}"]
    for s, w in zip(result["strong"], result["weak"], strict=True):
        left = (f"{s['cells_per_rank']:>18} {1e3 * s['time_per_step_s']:>10.4g} {100 * s['efficiency']:>5.0f}% "
                f"{1e6 * s['halo_exposed_s']:>10.1f} µs {1e6 * s['reduce_s']:>6.1f} µs") if "efficiency" in s \
            else f"{'(blocks thinner than the ghost layers)':>64}"
        right = f"{1e3 * w['time_per_step_s']:>13.4g} {100 * w['efficiency']:>5.0f}%" if "efficiency" in w else ""
        lines.append(f"{s['ranks']:>6} {left} | {right}")
    th = result["thresholds"]
    for key, what in (("strong_below_floor", "strong"), ("weak_below_floor", "weak")):
        hit = th[key]
        lines.append(f"{what} scaling below {100 * th['efficiency_floor']:.0f} %: " + (
            "not within the range" if hit is None else
            f"from {hit['ranks']} ranks ({hit['cells_per_rank']} cells per rank, {100 * hit['efficiency']:.0f} %)"))
    cut = th["cells_per_rank_at_floor"]
    if cut is not None:
        lines.append(f"strong scaling reaches {100 * th['efficiency_floor']:.0f} % efficiency at ≈ {cut:.0f} "
                     "cells per rank")
    stop = th["strong_stops_paying"]
    if stop is not None:
        lines.append(f"doubling the ranks cuts the time per step by less than {100 * (1 - th['doubling_gain']):.0f} % "
                     f"below {stop['cells_per_rank']} cells per rank (from {stop['ranks']} ranks)")
    for v in result["validation"]:
        flag = " oversubscribed" if v["oversubscribed"] else ""
        lines.append(f"P = {v['ranks']}: predicted {1e3 * v['predicted_s']:.3f} ms/step, measured "
                     f"{1e3 * v['measured_s']:.3f} (x{v['ratio']:.2f}){flag}; "
                     f"halo bytes/step modelled {v['halo_bytes_modelled']}, counted {v['halo_bytes_counted']:.0f}")
    return "\n".join(lines)


def save(result: dict, out: Path) -> tuple[Path, Path]:
    return write_json(out / "model.json", result), plot(result, out / "model.png")


def plot(result: dict, path: Path) -> Path:
    """Predicted time per step (strong, log–log, with the ideal line and measured points) and efficiency."""
    plt = pyplot()
    fig, (ax_t, ax_e) = plt.subplots(1, 2, figsize=(11, 4.2))
    strong = [r for r in result["strong"] if "efficiency" in r]
    p = np.array([r["ranks"] for r in strong])
    t = np.array([r["time_per_step_s"] for r in strong])
    ax_t.loglog(p, t, "o-", ms=3, label="model, strong")
    ax_t.loglog(p, t[0] * p[0] / p, "k--", label="ideal")
    # measurements ran their own meshes: each is drawn next to the model's prediction for that mesh
    for over, style, label in ((False, "s", "measured"), (True, "x", "measured, oversubscribed")):
        sel = [v for v in result["validation"] if v["oversubscribed"] == over]
        if sel:
            ax_t.loglog([v["ranks"] for v in sel], [v["measured_s"] for v in sel], style, label=f"{label} (its mesh)")
            ax_t.loglog([v["ranks"] for v in sel], [v["predicted_s"] for v in sel], "+", color="k", ms=9,
                        label="model for that mesh" if not over else None)
    ax_t.set(ylabel="time per step [s]", title="predicted time per step (strong)")
    for kind in ("strong", "weak"):
        rows = [r for r in result[kind] if "efficiency" in r]
        ax_e.plot([r["ranks"] for r in rows], [r["efficiency"] for r in rows], "o-", ms=3, label=f"model, {kind}")
    ax_e.axhline(result["thresholds"]["efficiency_floor"], color="grey", ls=":", label="80 %")
    ax_e.set(ylabel="parallel efficiency", ylim=(0, 1.1), title="predicted efficiency")
    ticks = [int(q) for q in p if q in (1, 4, 16, 64, 256, 1024, 4096, 16384)]
    for ax in (ax_t, ax_e):
        rank_axis(ax, ticks)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path)
