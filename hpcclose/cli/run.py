"""`hpcclose run INPUT.toml [--set section.key=value …]`: one simulation, under any ``mpiexec -n P``.

Rank 0 shows a progress bar (simulated time, steps, cell-updates per second, ETA) and a closing
summary (wall time, phase shares, closure statistics, mass and entropy change).
"""

from __future__ import annotations

import logging
import time

from tqdm import tqdm

from .. import config
from ..parallel import mpi

log = logging.getLogger("hpcclose")


def add_arguments(parser) -> None:
    parser.add_argument("input", help="TOML input file (see inputs/)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override an input value (TOML syntax), e.g. --set scheme.cfl=0.5; repeatable")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run_simulation(sim, progress: bool = True):
    """Step ``sim`` to its end with a progress bar on rank 0; returns the wall time."""
    ncells = sim.grid.ncells
    show = progress and sim.decomp.is_root
    bar = tqdm(total=sim.cfg.scheme.t_final, disable=not show, unit="t", dynamic_ncols=True,
               bar_format="{l_bar}{bar}| t={n:.4g}/{total:.4g} [{elapsed}<{remaining}] {postfix}")
    t0 = time.perf_counter()
    last = t0
    while not sim.done():
        dt = sim.step()
        bar.update(dt)
        now = time.perf_counter()
        if show and now - last > 0.5:
            rate = ncells * sim.step_count / (now - t0)
            bar.set_postfix_str(f"step {sim.step_count}, {rate:.3g} cell-updates/s", refresh=False)
            last = now
    sim.finalize()
    bar.close()
    return time.perf_counter() - t0


def summary(sim, wall: float) -> str:
    """The closing summary printed by rank 0."""
    hist = sim.history.records
    first, last = hist[0], hist[-1]
    shares = sim.timer.shares(wall)
    cell_updates = sim.grid.ncells * sim.step_count
    its = [r.iterations_mean for r in hist[:-1]] or [last.iterations_mean]
    lines = [
        f"done: t = {sim.t:.6g} in {sim.step_count} steps, wall {wall:.3f} s "
        f"({cell_updates / wall:.3g} cell-updates/s on {sim.decomp.size} rank(s))",
        "phases: " + ", ".join(f"{k} {100 * v:.1f}%" for k, v in shares.items()),
        f"closure {sim.closure.name}: iterations mean {sum(its) / len(its):.2f}, max "
        f"{max(r.iterations_max for r in hist)}, regularised cells (summed over steps) "
        f"{sum(r.regularised for r in hist)}, failed {sum(r.failed for r in hist)}",
        f"mass {first.mass:.12g} -> {last.mass:.12g} (rel. change {(last.mass - first.mass) / first.mass:+.3e}); "
        f"entropy {first.entropy:.12g} -> {last.entropy:.12g}; min u0 {min(r.min_u0 for r in hist):.3e}",
    ]
    return "\n".join(lines)


def main(args) -> int:
    from ..solver import Simulation

    cfg = config.load(args.input, args.overrides)
    mpi.configure_threads()
    sim = Simulation(cfg)
    log.info("%s", sim.describe())
    wall = run_simulation(sim, progress=cfg.output.progress and not args.no_progress)
    if sim.decomp.is_root:
        print(summary(sim, wall), flush=True)
    return 0
