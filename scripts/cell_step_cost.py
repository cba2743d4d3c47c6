"""CPU µs per cell-step of one input (one process, one core), for comparing source trees.

Usage: ``PYTHONPATH=<tree> NUMBA_NUM_THREADS=1 python scripts/cell_step_cost.py INPUT [override ...]``.
A 3-step run first (compiles the kernels, untimed), then the whole run timed with the process's CPU time
(the 2-core machines here are shared: wall times are noisy). Uses only ``config.load`` and
``Simulation.step/done``, so it runs on older trees too (docs/benchmarks.md compares against 1c30f0a).
"""

from __future__ import annotations

import sys
import time

from hpcclose import config
from hpcclose.solver import Simulation


def main(argv: list[str]) -> None:
    path, *overrides = argv
    cfg = config.load(path, ["output.progress=false", *overrides])
    warm = Simulation(cfg.model_copy(update={"scheme": cfg.scheme.model_copy(update={"max_steps": 3})}))
    while not warm.done():
        warm.step()
    sim = Simulation(cfg)
    t0 = time.process_time()
    while not sim.done():
        sim.step()
    cpu = time.process_time() - t0
    cells = sim.u.size // sim.u.shape[-1]
    print(f"{sim.quad.name} nodes={sim.quad.size} cells={cells} steps={sim.step_count} cpu={cpu:.3f} s "
          f"us/cell-step={cpu / sim.step_count / cells * 1e6:.3f}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
