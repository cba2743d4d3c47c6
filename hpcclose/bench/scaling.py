"""``hpcclose bench scaling``: strong and weak scaling studies, from one machine or many jobs.

Each rank count P is one launch of ``hpcclose bench steps`` (``mpiexec -n P``, or ``srun``): warm-up
steps untimed, then R blocks of the same number of steps (:mod:`.steps`). Per P the median time per
step and its spread over the blocks are kept; strong scaling reports speedup and efficiency against
the smallest P, weak scaling (cells per rank and steps fixed) the efficiency T(P₀)/T(P). Warnings name
what makes a point untrustworthy: a short timed block, oversubscribed cores, a machine busy with other
work before the launch, or blocks that disagree.

Results of several jobs (one per node count, each a JSON of this format) merge into one table and plot
(:func:`merge`), provided they ran the same input, overrides, kind and steps.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from ..errors import InputError
from .output import pyplot, save_figure, write_json
from .provenance import provenance

#: A timed block shorter than this (seconds) is dominated by timer and scheduling noise.
MIN_BLOCK_S = 1.0
#: Blocks whose range exceeds this fraction of their median disagree.
MAX_SPREAD = 0.10
#: CPUs busy with other work before a launch above which the machine counts as loaded.
MAX_BUSY_CPUS = 0.5


def busy_cpus(seconds: float = 1.0) -> float | None:
    """CPUs busy over the next ``seconds`` (from /proc/stat; the 1-minute load average elsewhere)."""
    def sample():
        with open("/proc/stat", encoding="ascii") as fh:
            values = [int(v) for v in fh.readline().split()[1:]]
        return sum(values), values[3] + values[4]  # all jiffies, idle + iowait

    try:
        total0, idle0 = sample()
        time.sleep(seconds)
        total1, idle1 = sample()
    except (OSError, ValueError, IndexError):
        return os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return (os.cpu_count() or 1) * (1.0 - (idle1 - idle0) / max(total1 - total0, 1))


def launch(input_path: str, overrides: list[str], ranks: int, kind: str, launcher: str, steps: int,
           warmup: int, repeats: int) -> dict:
    """Run one point under ``launcher -n ranks``; returns its one-row study (the ``bench steps`` JSON)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "point.json"
        cmd = [*shlex.split(launcher), "-n", str(ranks), sys.executable, "-m", "hpcclose", "bench", "steps",
               input_path, "--kind", kind, "--steps", str(steps), "--warmup", str(warmup), "--repeats",
               str(repeats), "--json", str(out), *sum((["--set", o] for o in overrides), [])]
        env = {**os.environ, "NUMBA_NUM_THREADS": os.environ.get("NUMBA_NUM_THREADS", "1")}
        res = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if res.returncode != 0:
            raise RuntimeError(f"{shlex.join(cmd)} failed (status {res.returncode}):\n{res.stderr[-3000:]}")
        return json.loads(out.read_text())


def study(input_path: str, overrides: list[str], ranks: list[int], kind: str, launcher: str, steps: int,
          warmup: int, repeats: int, log=print) -> dict:
    """Measure every rank count in turn (the CPUs busy before each launch recorded) as one study."""
    points = []
    for p in ranks:
        busy = busy_cpus()
        (point,) = points_of(launch(input_path, overrides, p, kind, launcher, steps, warmup, repeats))
        point["row"]["busy_cpus_before"] = busy
        points.append(point)
        log(f"P = {p}: median {1e3 * np.median(point['row']['step_s']):.3f} ms/step "
            f"(CPUs busy with other work before the launch: {'?' if busy is None else f'{busy:.2f}'})")
    return assemble(points, settings(kind, steps, warmup, repeats, launcher),
                    provenance(input_path, overrides, ranks=ranks))


def settings(kind: str, steps: int, warmup: int, repeats: int, launcher: str) -> dict:
    """What a study measured (results merge only where kind, steps, warm-up and repeats agree)."""
    return {"kind": kind, "steps": steps, "warmup": warmup, "repeats": repeats, "launcher": launcher}


def points_of(result: dict) -> list[dict]:
    """The measured points of a study: each row (without its analysis) with its launch's provenance."""
    derived = {"provenance", "time_per_step_s", "speedup", "efficiency", "warnings"}
    return [{"row": {k: v for k, v in r.items() if k not in derived}, "provenance": r["provenance"]}
            for r in result["rows"]]


def assemble(points: list[dict], setup: dict, prov: dict) -> dict:
    """A study from its points (each a ``bench steps`` JSON): rows in rank order, analysed."""
    rows = sorted(({**pt["row"], "provenance": pt["provenance"]} for pt in points), key=lambda r: r["ranks"])
    if not rows:
        raise InputError("bench scaling: no measured points")
    dupes = sorted({r["ranks"] for r in rows if sum(q["ranks"] == r["ranks"] for q in rows) > 1})
    if dupes:
        raise InputError(f"bench scaling: more than one result for {', '.join(map(str, dupes))} rank(s)")
    analyse(rows, setup["kind"])
    warnings = [f"P = {r['ranks']}: {w}" for r in rows for w in r["warnings"]]
    return {"settings": setup, "provenance": prov, "rows": rows, "warnings": warnings}


def _stats(values) -> dict:
    v = np.asarray(values, dtype=float)
    q25, med, q75 = np.quantile(v, [0.25, 0.5, 0.75])
    return {"median": float(med), "q25": float(q25), "q75": float(q75), "min": float(v.min()), "max": float(v.max())}


def analyse(rows: list[dict], kind: str) -> None:
    """Add statistics, speedup/efficiency (with their range over the blocks) and warnings to each row."""
    base = rows[0]
    t0 = _stats(base["step_s"])
    for r in rows:
        t = r["time_per_step_s"] = _stats(r["step_s"])
        ideal = r["ranks"] / base["ranks"] if kind == "strong" else 1.0
        speed = t0["median"] / t["median"], t0["min"] / t["max"], t0["max"] / t["min"]  # median, low, high
        r["speedup"] = {"median": speed[0], "min": speed[1], "max": speed[2]} if kind == "strong" else None
        r["efficiency"] = {"median": speed[0] / ideal, "min": speed[1] / ideal, "max": speed[2] / ideal}
        r["warnings"] = _warnings(r, t)


def _warnings(row: dict, t: dict) -> list[str]:
    out = []
    block = t["median"] * row["steps"]
    if block < MIN_BLOCK_S:
        out.append(f"timed block {block:.2f} s (< {MIN_BLOCK_S:g} s): timer and scheduling noise dominate; "
                   "raise --steps or the cells")
    if row.get("oversubscribed"):
        out.append(f"oversubscribed: {row['ranks_on_node']} rank(s) x {row['threads_per_rank']} thread(s) on "
                   f"{row['cpus_on_node']} CPUs of a node; not a scaling figure")
    busy = row.get("busy_cpus_before")
    if busy is not None and busy > MAX_BUSY_CPUS:
        out.append(f"{busy:.1f} CPUs were busy with other work before the launch: re-measure when the machine "
                   "is quiet")
    spread = (t["max"] - t["min"]) / t["median"]
    if spread > MAX_SPREAD:
        out.append(f"blocks differ by {100 * spread:.0f} % of their median: a noisy machine")
    return out


def merge(paths: list[str | Path]) -> dict:
    """One study from several ``bench scaling`` JSON files (e.g. one job per node count)."""
    studies = []
    for p in paths:
        try:
            studies.append((str(p), json.loads(Path(p).read_text(encoding="utf-8"))))
        except (OSError, ValueError) as exc:
            raise InputError(f"bench scaling --merge: cannot read {p}: {exc}") from None
    first_path, first = studies[0]
    for path, s in studies[1:]:
        for what, get in (("kind/steps/warm-up/repeats", _setting_key), ("input and overrides", _input_key)):
            if get(s) != get(first):
                raise InputError(f"bench scaling --merge: {path} and {first_path} differ in {what}: "
                                 f"{get(s)} vs {get(first)}")
    points = [pt for _, s in studies for pt in points_of(s)]
    merged = assemble(points, first["settings"], provenance(merged=[p for p, _ in studies]))
    merged["provenance"]["input"] = first["provenance"]["input"]
    return merged


def _setting_key(study_: dict) -> tuple:
    s = study_["settings"]
    return s["kind"], s["steps"], s["warmup"], s["repeats"]


def _input_key(study_: dict) -> tuple:
    inp = study_["provenance"]["input"]
    return inp["sha256"], tuple(inp["overrides"])


def table(result: dict) -> str:
    """The study as a text table: time per step with its range, speedup, efficiency, phase shares."""
    kind = result["settings"]["kind"]
    lines = [f"{kind} scaling, {result['settings']['steps']} steps x {result['settings']['repeats']} blocks per P",
             f"{'P':>6} {'cells/rank':>10} {'ms/step median [min-max]':>28} {'speedup':>18} {'efficiency':>18}  "
             "phases (closure/flux/halo/reduce/io/other %)"]
    for r in result["rows"]:
        t, e, s = r["time_per_step_s"], r["efficiency"], r["speedup"]
        ms = f"{1e3 * t['median']:.3f} [{1e3 * t['min']:.3f}-{1e3 * t['max']:.3f}]"
        sp = f"{s['median']:.2f} [{s['min']:.2f}-{s['max']:.2f}]" if s else "-"
        eff = f"{100 * e['median']:.0f} % [{100 * e['min']:.0f}-{100 * e['max']:.0f}]"
        ph = "/".join(f"{100 * v / t['median']:.0f}" for v in r["phases_s"].values())
        flag = "  (oversubscribed)" if r.get("oversubscribed") else ""
        lines.append(f"{r['ranks']:>6} {r['cells_per_rank']:>10} {ms:>28} {sp:>18} {eff:>18}  {ph}{flag}")
    lines += [f"warning: {w}" for w in result["warnings"]]
    return "\n".join(lines)


def save(result: dict, out: Path) -> tuple[Path, Path]:
    """``scaling_<kind>.json`` and ``.png`` in ``out``."""
    kind = result["settings"]["kind"]
    return write_json(out / f"scaling_{kind}.json", result), plot(result, out / f"scaling_{kind}.png")


def rank_axis(ax, ranks: list[int]) -> None:
    """A log-2 rank axis labelled at the measured rank counts only (no 1.2, 1.4, … ticks)."""
    from matplotlib.ticker import FixedLocator, NullLocator

    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_locator(FixedLocator(ranks))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xticklabels([str(p) for p in ranks])
    ax.set_xlabel("MPI ranks")


def plot(result: dict, path: Path) -> Path:
    """Time per step (log–log, with the ideal line) and efficiency against ranks; error bars: min–max."""
    plt = pyplot()
    rows, kind = result["rows"], result["settings"]["kind"]
    p = np.array([r["ranks"] for r in rows])
    t = {k: np.array([r["time_per_step_s"][k] for r in rows]) for k in ("median", "min", "max")}
    e = {k: np.array([r["efficiency"][k] for r in rows]) for k in ("median", "min", "max")}
    over = np.array([bool(r.get("oversubscribed")) for r in rows])
    fig, (ax_t, ax_e) = plt.subplots(1, 2, figsize=(10, 4))
    ideal = t["median"][0] * (p[0] / p if kind == "strong" else np.ones_like(p, dtype=float))
    ax_t.plot(p, ideal, "k--", label="ideal")
    for ax, v in ((ax_t, t), (ax_e, e)):
        for sel, style, label in ((~over, "o", "measured"), (over, "s", "oversubscribed")):
            if sel.any():
                ax.errorbar(p[sel], v["median"][sel], yerr=[v["median"][sel] - v["min"][sel],
                            v["max"][sel] - v["median"][sel]], fmt=style, mfc="none" if label != "measured" else None,
                            capsize=3, label=label)
        rank_axis(ax, [int(q) for q in p])
        ax.grid(alpha=0.3, which="both")
    ax_t.set(yscale="log", ylabel="time per step [s] (median, min-max)", title=f"{kind} scaling")
    ax_e.axhline(1.0, color="k", ls="--", label="ideal")
    ax_e.axhline(0.8, color="grey", ls=":", label="80 %")
    ax_e.set(ylabel="parallel efficiency", ylim=(0, max(1.2, float(e["max"].max()) * 1.05)), title="efficiency")
    ax_t.legend()
    ax_e.legend()
    fig.tight_layout()
    return save_figure(fig, path)
