"""2D benchmarks at scale (issue 22): the line source's L1 error against the exact solution, and the
absorption quantities of interest of the lattice (checkerboard) and the hohlraum, for M_N and P_N.

    .venv/bin/python drivers/benchmarks_2d.py line-source [--models M1,M2,M3,M4,M5,P1,P2,P3,P4,P5,P6,P7]
        [--cells 200] [--quadrature N_MU,N_PHI] [--set KEY=VALUE …] [--out bench-out]
    .venv/bin/python drivers/benchmarks_2d.py qoi inputs/hohlraum_m1.toml [--models M1,P3,P5,P7]
        [--cells 130,260] [--quadrature N_MU,N_PHI] [--set KEY=VALUE …] [--reference P7@260] [--out bench-out]

Models: ``M<N>`` is the Newton M_N closure on the monomial basis, ``P<N>`` the P_N closure on the real
spherical harmonics (``--set`` comes after the model's own settings, so ``--set velocity.basis=…`` wins).
Every run is serial (COMM_SELF) and writes no files of its own. Rows are merged into
``<out>/line_source_l1.json`` or ``<out>/qoi_<problem>.json`` (a rerun replaces the row of the same model,
grid, quadrature and settings, each as soon as its run ends), so further rows are one more command and
``--models ''`` reprints the table; the tables are printed as Markdown and drawn to PNG next to the JSON.

line-source: inputs/line_source_m2.toml at t = 1 on [cells]², L1 = Σ |u0 − ū0_exact| ΔA against the exact
cell averages (the Gaussian pulse's exact solution plus the floor, hpcclose.problems.line_source_exact).
qoi: the problem's absorption regions cumulated over [0, t_final] (hpcclose.stepping.absorption); u0 over
the whole sphere, i.e. twice KiT-RT's hemisphere values.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

import numpy as np
from mpi4py import MPI

from hpcclose import config
from hpcclose.errors import InputError, script_main
from hpcclose.io.files import atomic_write_text
from hpcclose.solver import Simulation
from hpcclose.stepping.absorption import AbsorptionRecorder

LINE_SOURCE = Path(__file__).resolve().parents[1] / "inputs" / "line_source_m2.toml"
#: Closure and basis of each model family.
FAMILIES = {"M": ("newton", "monomial"), "P": ("pn", "spherical_harmonics")}
#: Points kept of each QoI time series in the JSON.
SERIES_POINTS = 400


def model_overrides(model: str) -> list[str]:
    """``M<N>`` / ``P<N>`` → the overrides choosing its closure, basis and order."""
    match = re.fullmatch(r"([MP])(\d+)", model)
    if not match:
        raise InputError(f"--models: {model!r} is not M<N> or P<N>")
    closure, basis = FAMILIES[match[1]]
    return [f"closure.name='{closure}'", f"velocity.basis='{basis}'", f"velocity.order={int(match[2])}"]


def simulate(path: Path, overrides: list[str], recorder: bool = False) -> tuple[Simulation, float, object]:
    """Run ``path`` with ``overrides`` to t_final on one rank; (sim, wall seconds, recorder or None)."""
    sim = Simulation(config.load(path, overrides + ["output.progress=false"]), comm=MPI.COMM_SELF)
    rec = None
    if recorder:
        rec = AbsorptionRecorder(sim)
        sim.observers.add(rec)
        rec.start(sim)
    start = time.perf_counter()
    while not sim.done():
        sim.step()
    return sim, time.perf_counter() - start, rec


def _key(row: dict) -> tuple:
    return row["model"], row["cells"], row["quadrature"], tuple(row["sets"])


def merge(path: Path, rows: list[dict]) -> list[dict]:
    """Rows of ``path`` with ``rows`` replacing those of the same key; written back, returned."""
    old = json.loads(path.read_text()) if path.exists() else []
    new = {_key(r): r for r in old} | {_key(r): r for r in rows}
    merged = sorted(new.values(), key=lambda r: (r["cells"], r["model"][0], int(r["model"][1:]), r["sets"]))
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(merged, indent=1))
    return merged


def _settings(args, model: str, cells: int) -> list[str]:
    # no --quadrature: the rule the order needs (hemisphere Lebedev of degree 6N + 5), whatever the input says
    quad = [f"velocity.quadrature=[{args.quadrature}]" if args.quadrature else "velocity.quadrature='lebedev'"]
    return model_overrides(model) + [f"mesh.cells=[{cells},{cells}]"] + quad + args.set


def _row(args, model: str, cells: int, sim: Simulation, wall: float) -> dict:
    return {"model": model, "cells": cells, "quadrature": sim.quad.name, "nodes": sim.quad.size,
            "degree": sim.quad.degree, "sets": args.set,
            "t": sim.t, "steps": sim.step_count, "wall_s": round(wall, 2)}


def line_source(args, path: Path) -> list[dict]:
    """L1 error of u0 at t_final against the exact cell averages, and the azimuthally binned profile; each
    row merged into ``path`` as soon as it is done (a long study keeps what it finished)."""
    rows = merge(path, [])  # the rows so far (none run: the table of earlier runs)
    for cells in args.cells:
        for model in args.models:
            sim, wall, _ = simulate(LINE_SOURCE, _settings(args, model, cells))
            d = sim.decomp
            centres = tuple(d.local_centers(a) for a in range(2))
            solution = sim.problem.exact(sim.t)
            if solution is None:
                raise InputError(f"{model}: no exact solution for these problem settings ({sim.problem.describe()})")
            exact = solution.cell_averages(centres, sim.grid.spacing)
            u0 = sim.u[..., 0]
            y, x = np.meshgrid(*centres, indexing="ij")
            # azimuthal average in rings one cell wide: the radial profile to draw against the exact one
            ring = np.floor(np.hypot(x, y) / sim.grid.spacing[0]).astype(int).ravel()
            count = np.bincount(ring)
            keep = count > 0
            row = _row(args, model, cells, sim, wall) | {
                "L1": float(np.abs(u0 - exact).sum() * sim.grid.cell_volume),
                "profile_r": ((np.arange(count.size)[keep] + 0.5) * sim.grid.spacing[0]).tolist(),
                "profile_u0": (np.bincount(ring, u0.ravel())[keep] / count[keep]).tolist()}
            rows = merge(path, [row])
            print(f"{model} {cells}²: L1 = {row['L1']:.4e} ({wall:.0f} s)", flush=True)
    return rows


def qoi(args, path: Path) -> list[dict]:
    """Cumulated absorption per region (and the mass) at t_final, with the time series; merged into ``path``
    row by row."""
    rows = merge(path, [])  # the rows so far (none run: the table of earlier runs)
    for cells in args.cells:
        for model in args.models:
            sim, wall, rec = simulate(Path(args.input), _settings(args, model, cells), recorder=True)
            keep = np.unique(np.linspace(0, len(rec.rows) - 1, SERIES_POINTS).astype(int))
            series = {k: [rec.rows[i][k] for i in keep] for k in rec.rows[-1]}
            row = _row(args, model, cells, sim, wall) | {"problem": sim.problem.name, "regions": rec.names,
                                                           "final": rec.rows[-1], "series": series}
            rows = merge(path, [row])
            totals = ", ".join(f"{k} {rec.rows[-1][k + '_total']:.5g}" for k in rec.names)
            print(f"{model} {cells}²: {totals} ({wall:.0f} s)", flush=True)
    return rows


def _table_line_source(rows: list[dict]) -> str:
    lines = ["| model | cells | rule (nodes, degree) | L1 error | steps | wall |", "|---|---|---|---|---|---|"]
    lines += [f"| {_model(r)} | {r['cells']}² | {_rule(r)} | {r['L1']:.4f} | {r['steps']} | "
              f"{r['wall_s']:.0f} s |" for r in rows]
    return "\n".join(lines)


def _model(row: dict) -> str:
    """The model with the row's further overrides, if any."""
    return row["model"] + (f" ({', '.join(row['sets'])})" if row["sets"] else "")


def _rule(row: dict) -> str:
    return f"{row['quadrature']} ({row['nodes']}, {row['degree']})"


def reference_row(rows: list[dict], reference: str, sets: list[str]) -> dict:
    """The row ``MODEL@CELLS`` (e.g. ``P7@280``) the QoI table is compared with — the one with these ``--set``
    if there are several: our own finest run where no published value can be had here (docs/benchmarks.md)."""
    model, _, cells = reference.partition("@")
    found = sorted((r for r in rows if r["model"] == model and str(r["cells"]) == cells),
                   key=lambda r: r["sets"] != sets)
    if not found:
        have = ", ".join(sorted({f"{r['model']}@{r['cells']}" for r in rows}))
        raise InputError(f"--reference {reference!r}: no such row (rows: {have})")
    return found[0]


def _table_qoi(rows: list[dict], reference: dict | None = None) -> str:
    """Cumulated absorption per region at t_final (u0 over the sphere: twice KiT-RT's values), with the
    relative difference to ``reference`` where one is given."""
    regions = rows[0]["regions"]
    ref = f" (vs {reference['model']} {reference['cells']}²)" if reference else ""
    lines = ["| model | cells | rule (nodes, degree) | " + " | ".join(f"{k}{ref}" for k in regions)
             + " | mass | wall |", "|---" * (len(regions) + 5) + "|"]
    for r in rows:
        cols = []
        for k in regions:
            value = r["final"][k + "_total"]
            rel = f" ({value / reference['final'][k + '_total'] - 1:+.2%})" if reference else ""
            cols.append(f"{value:.5g}{rel}")
        lines.append(f"| {_model(r)} | {r['cells']}² | {_rule(r)} | " + " | ".join(cols)
                     + f" | {r['final']['mass']:.5g} | {r['wall_s']:.0f} s |")
    return "\n".join(lines)


def _plot_line_source(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from hpcclose.problems import get_problem

    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    r = np.linspace(0.0, 1.3, 1301)
    exact = get_problem("line_source", {}).exact(rows[0]["t"])
    ax.plot(r, exact.profile(r), "k-", lw=2, label=exact.label)
    for row in rows:
        ax.plot(row["profile_r"], row["profile_u0"], lw=1, label=f"{row['model']}, {row['cells']}²")
    ax.set(xlabel="r", ylabel="u0 (azimuthal mean)", xlim=(0, 1.3), title="line source, t = 1")
    ax.legend(fontsize=7, ncol=2)
    for family, marker in (("M", "o-"), ("P", "s-")):
        for cells in sorted({r["cells"] for r in rows}):
            pts = sorted((int(r["model"][1:]), r["L1"]) for r in rows
                         if r["model"][0] == family and r["cells"] == cells)
            if pts:
                ax2.semilogy(*zip(*pts, strict=True), marker, label=f"{family}_N, {cells}²")
    ax2.set(xlabel="N", ylabel="L1 error of u0", title="error against the exact solution")
    ax2.legend(fontsize=8)
    for a in (ax, ax2):
        a.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def _plot_qoi(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    regions = rows[0]["regions"]
    fig, axes = plt.subplots(1, len(regions), figsize=(4.5 * len(regions), 3.8), squeeze=False)
    for ax, k in zip(axes[0], regions, strict=True):
        for row in rows:
            ax.plot(row["series"]["t"], row["series"][k + "_total"], lw=1, label=f"{row['model']}, {row['cells']}²")
        ax.set(xlabel="t", title=f"{rows[0]['problem']}: cumulated absorption, {k}")
        ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def _ints(text: str, what: str) -> list[int]:
    try:
        return [int(s) for s in text.split(",")]
    except ValueError:
        raise InputError(f"{what} {text!r}: expected comma-separated integers") from None


def _some(rows: list[dict], path: Path) -> list[dict]:
    if not rows:
        raise InputError(f"{path}: no rows yet (give --models)")
    return rows


@script_main("benchmarks_2d")
def main(argv: list[str] | None = None) -> int:
    """Parse ``argv``, run the benchmark's models, merge, print and draw the rows; 0 on success, 2 on bad input."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="study", required=True)
    ls = sub.add_parser("line-source", help="L1 error against the exact line source at t = 1")
    qo = sub.add_parser("qoi", help="absorption QoIs of an input (lattice, hohlraum)")
    qo.add_argument("input", help="a simulation input whose problem names absorption regions")
    qo.add_argument("--reference", help="MODEL@CELLS: the row (of this or an earlier run) the table is "
                    "compared with, e.g. P7@280")
    for p, models, cells in ((ls, "M1,M2,M3,M4,M5,P1,P2,P3,P4,P5,P6,P7", "200"), (qo, "M1,P3,P5,P7", "")):
        p.add_argument("--models", default=models, help="comma-separated M<N> / P<N>")
        p.add_argument("--cells", default=cells, help="cells per axis, comma-separated (default: the input's)")
        p.add_argument("--quadrature", default="", help="n_mu,n_phi of a product rule (default: the rule the "
                       "order needs, hemisphere Lebedev of degree 6N + 5)")
        p.add_argument("--set", action="append", default=[], help="a further input override (after the model's)")
        p.add_argument("--out", default="bench-out")
    args = ap.parse_args(argv)
    args.models = [m.strip() for m in args.models.split(",") if m.strip()]
    for m in args.models:
        model_overrides(m)
    if args.quadrature:
        _ints(args.quadrature, "--quadrature")
    if getattr(args, "reference", None) and not re.fullmatch(r"[MP]\d+@\d+", args.reference):
        raise InputError(f"--reference {args.reference!r}: expected MODEL@CELLS, e.g. P7@280")
    out = Path(args.out)
    if args.study == "line-source":
        args.cells = _ints(args.cells, "--cells")
        path = out / "line_source_l1.json"
        rows = _some(line_source(args, path), path)
        print(_table_line_source(rows))
        _plot_line_source(rows, path.with_suffix(".png"))
    else:
        if not Path(args.input).is_file():
            raise InputError(f"{args.input}: no such input file")
        base = config.load(args.input)
        args.cells = _ints(args.cells, "--cells") if args.cells else [base.mesh.cells[0]]
        path = out / f"qoi_{base.problem.name}.json"
        rows = _some(qoi(args, path), path)
        print(_table_qoi(rows, reference_row(rows, args.reference, args.set) if args.reference else None))
        _plot_qoi(rows, path.with_suffix(".png"))
    print(f"wrote {path} and {path.with_suffix('.png')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
