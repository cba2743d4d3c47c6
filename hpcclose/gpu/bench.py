"""Checks and measurements of the GPU path on one node, against the same node's CPU cores
(``scripts/gpu_bench.sh`` runs it: ``python -m hpcclose.gpu.bench --out DIR [--tiny]``).

1. check: the GPU path against the CPU path on small inputs — whole runs (1D plane source M2, 2D line source
   M2: u relative to its largest value; α through the moments it gives) and the Newton closure on a batch;
   every difference must stay within :data:`CHECK_TOL`, or the measurements are not taken;
2. Newton 1D M2 (monomial basis, 30 Gauss–Legendre nodes, tol 1e-9) on ``count`` uniform realizable
   moments: cold (no warm start) and warm (α of the moments perturbed by 1 % as warm start), GPU and CPU;
3. ICNN 15×7 (the shipped ICNN15x7_M2_1D) on the same moments, GPU and CPU (where it has a GPU version);
4. 2D line source M2 (inputs/line_source_m2.toml) at ``cells``² per cell-step, GPU and CPU.

GPU times end with a device synchronisation; the CPU runs on Numba's threads (NUMBA_NUM_THREADS). Writes
``gpu_bench.json`` and ``gpu_bench.md`` into the output directory. ``--tiny``: the same on sizes the
simulator can run (``NUMBA_ENABLE_CUDASIM=1``), to test the script; its figures mean nothing.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numba
import numpy as np
from mpi4py import MPI
from numba import cuda

from .. import config, devices
from ..bench.moment_sets import moment_set, perturb
from ..closures import get_closure
from ..errors import HpccloseError
from ..solver import Simulation
from ..velocity import make_basis
from ..velocity.quadrature import gauss_legendre
from .closures import to_device

INPUTS = Path(__file__).resolve().parents[2] / "inputs"
#: largest relative difference between the GPU and the CPU path the check accepts
CHECK_TOL = 1e-12
SIZES = {
    "full": {"moments": 10**7, "cells": 1024, "steps": 5, "check_moments": 1000,
             "check_runs": [("plane_source_m2.toml", ["mesh.cells=40", "scheme.max_steps=4"]),
                            ("line_source_m2.toml", ["mesh.cells=[12,10]", "scheme.max_steps=2"])]},
    "tiny": {"moments": 64, "cells": 6, "steps": 1, "check_moments": 32,
             "check_runs": [("plane_source_m2.toml", ["mesh.cells=8", "scheme.max_steps=2"]),
                            ("line_source_m2.toml", ["mesh.cells=[5,4]", "velocity.quadrature=[4,8]",
                                                     "scheme.max_steps=1"])]},
}


def _rel(a, b) -> float:
    return float(np.abs(np.asarray(a) - np.asarray(b)).max() / max(np.abs(b).max(), 1e-300))


def _run(path: str, overrides: list[str], device: str) -> Simulation:
    sim = Simulation(config.load(INPUTS / path, [*overrides, f'parallel.device="{device}"']), comm=MPI.COMM_SELF)
    sim.prime()
    while not sim.done():
        sim.step()
    sim.halo.free()
    sim.decomp.free()
    return sim


def check(sizes: dict) -> list[dict]:
    """The GPU path against the CPU path on small inputs (see the module): per case the largest relative
    differences and whether they are within :data:`CHECK_TOL`."""
    rows = []
    for path, overrides in sizes["check_runs"]:
        cpu, gpu = _run(path, overrides, "cpu"), _run(path, overrides, "gpu")
        rows.append({"case": f"{path} {' '.join(overrides)}", "u": _rel(gpu.u, cpu.u),
                     "moments of alpha": _rel(cpu.closure.moments(gpu.alpha), cpu.closure.moments(cpu.alpha))})
    count = sizes["check_moments"]
    closure, u = _newton_closure(), moment_set(2, "uniform", count, seed=1)
    alpha, _ = closure.multipliers(u)
    dev_alpha = cuda.to_device(np.full_like(u, np.nan))
    to_device(closure).multipliers(cuda.to_device(u), dev_alpha)
    rows.append({"case": f"newton 1D M2, {count} uniform moments",
                 "moments of alpha": _rel(closure.moments(dev_alpha.copy_to_host()), closure.moments(alpha))})
    for r in rows:
        r["ok"] = max(v for k, v in r.items() if k != "case") <= CHECK_TOL
    return rows


def _newton_closure():
    return get_closure("newton", make_basis("monomial", 1, 2), gauss_legendre(30), tol=1e-9)


def _timed(fn, sync=False) -> float:
    t0 = time.perf_counter()
    fn()
    if sync:
        cuda.synchronize()
    return time.perf_counter() - t0


def closures(count: int) -> dict:
    """Newton cold / warm and the ICNN on ``count`` moments: seconds and moments/s, GPU and CPU."""
    newton = _newton_closure()
    u = moment_set(2, "uniform", count, seed=0)
    start, _ = newton.multipliers(perturb(u, 0.01, np.random.default_rng(1), newton.basis.is_realizable))
    out = {}
    dev_u, dev_a = cuda.to_device(u), cuda.device_array(u.shape)
    gpu = to_device(newton)
    gpu.multipliers(dev_u[:100], dev_a[:100])  # compiled before the clock starts
    cold = np.full_like(u, np.nan)
    for name, warm in (("newton_cold", None), ("newton_warm", start)):
        dev_a.copy_to_device(cold if warm is None else warm)
        g = _timed(lambda a=dev_a: gpu.multipliers(dev_u, a), sync=True)
        c = _timed(lambda w=warm: newton.multipliers(u, w))
        out[name] = {"gpu_s": g, "cpu_s": c}
    try:
        icnn = get_closure("icnn", newton.basis, newton.quad, model="ICNN15x7_M2_1D")
        net = to_device(icnn)
    except HpccloseError as exc:
        out["icnn_15x7"] = {"unavailable": str(exc)}
    else:
        icnn.multipliers(u[:100])
        net.multipliers(dev_u[:100], dev_a[:100])
        out["icnn_15x7"] = {"gpu_s": _timed(lambda: net.multipliers(dev_u, dev_a), sync=True),
                            "cpu_s": _timed(lambda: icnn.multipliers(u))}
    for row in out.values():
        if "gpu_s" in row:
            row.update(moments=count, gpu_moments_per_s=count / row["gpu_s"], cpu_moments_per_s=count / row["cpu_s"],
                       speedup=row["cpu_s"] / row["gpu_s"])
    return out


def line_source(cells: int, steps: int) -> dict:
    """2D line source M2 at cells²: seconds per cell-step of whole steps (guard and copies included)."""
    out = {"cells": cells * cells, "steps": steps}
    for device in ("gpu", "cpu"):
        cfg = config.load(INPUTS / "line_source_m2.toml", [f"mesh.cells=[{cells},{cells}]",
                                                           f'parallel.device="{device}"'])
        sim = Simulation(cfg, comm=MPI.COMM_SELF)
        sim.prime()
        sim.step()  # compiled and warm
        seconds = _timed(lambda s=sim: [s.step() for _ in range(steps)])
        out[f"{device}_ns_per_cell_step"] = 1e9 * seconds / (steps * cells * cells)
        sim.halo.free()
        sim.decomp.free()
    out["speedup"] = out["cpu_ns_per_cell_step"] / out["gpu_ns_per_cell_step"]
    return out


def markdown(result: dict) -> str:
    """The figures as a markdown table."""
    lines = [f"GPU: {', '.join(result['gpus'])}; CPU: {result['cpu_threads']} Numba threads", "",
             "| measurement | GPU | CPU | speedup |", "|---|---|---|---|"]
    for name, row in result["closures"].items():
        if "gpu_s" in row:
            lines.append(f"| {name}, {row['moments']:.0e} moments | {row['gpu_moments_per_s']:.3g} moments/s | "
                         f"{row['cpu_moments_per_s']:.3g} moments/s | {row['speedup']:.1f}× |")
        else:
            lines.append(f"| {name} | unavailable: {row['unavailable']} | | |")
    ls = result["line_source"]
    lines.append(f"| 2D line source M2, {ls['cells']} cells | {ls['gpu_ns_per_cell_step']:.3g} ns/cell-step | "
                 f"{ls['cpu_ns_per_cell_step']:.3g} ns/cell-step | {ls['speedup']:.1f}× |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hpcclose.gpu.bench", description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="directory for gpu_bench.json and gpu_bench.md")
    parser.add_argument("--tiny", action="store_true", help="simulator sizes (tests the script only)")
    args = parser.parse_args(argv)
    sizes = SIZES["tiny" if args.tiny else "full"]
    args.out.mkdir(parents=True, exist_ok=True)
    result = {"gpus": devices.cuda_gpus(), "simulator": devices.simulator(), "cpu_threads": numba.get_num_threads(),
              "sizes": sizes, "check": check(sizes)}
    for row in result["check"]:
        diffs = ", ".join(f"{k} {v:.1e}" for k, v in row.items() if k not in ("case", "ok"))
        print(f"check {row['case']}: {diffs}: {'ok' if row['ok'] else 'FAILED'}", flush=True)
    if all(r["ok"] for r in result["check"]):
        result["closures"] = closures(sizes["moments"])
        result["line_source"] = line_source(sizes["cells"], sizes["steps"])
        (args.out / "gpu_bench.md").write_text(markdown(result))
        print(markdown(result), flush=True)
    (args.out / "gpu_bench.json").write_text(json.dumps(result, indent=2))
    return 0 if all(r["ok"] for r in result["check"]) else 1


if __name__ == "__main__":
    raise SystemExit(main())
