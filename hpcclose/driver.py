"""The time loop shared by ``hpcclose run`` and ``hpcclose restart``: outputs, checkpoints, clean stops.

Rank 0 shows a progress bar (simulated time, steps, cell-updates per second, ETA) and prints a closing
summary (wall time, phase shares, closure statistics, mass and entropy change).
"""

from __future__ import annotations

import logging
import time

import numpy as np
from tqdm import tqdm

from .errors import RealizabilityError
from .io.run_dir import RunDirectory
from .parallel.stop import StopRequest

log = logging.getLogger("hpcclose")


def _next_output_time(t: float, every: float | None) -> float | None:
    return None if every is None else (np.floor(t / every + 1e-9) + 1) * every


def run_loop(sim, out: RunDirectory, progress: bool = True, initial_output: bool = True) -> tuple[float, str]:
    """Step ``sim`` to its end (or a stop request); returns (wall seconds, how it ended)."""
    ocfg, d = sim.cfg.output, sim.decomp
    stop = StopRequest(out.path / "STOP")
    show = progress and d.is_root
    bar = tqdm(total=sim.cfg.scheme.t_final, initial=sim.t, disable=not show, unit="t", dynamic_ncols=True,
               bar_format="{l_bar}{bar}| t={n:.4g}/{total:.4g} [{elapsed}<{remaining}] {postfix}")
    sim.prime()
    if initial_output and (ocfg.every or ocfg.every_steps):
        with sim.timer("io"):
            out.write_output()
    next_out = _next_output_time(sim.t, ocfg.every)
    t0 = last = time.perf_counter()
    steps0, ended = sim.step_count, "completed"
    try:
        while not sim.done():
            bar.update(sim.step(next_out))
            with sim.timer("io"):
                if (next_out is not None and sim.t >= next_out * (1 - 1e-12)) or (
                        ocfg.every_steps and sim.step_count % ocfg.every_steps == 0):
                    out.write_output()
                    next_out = _next_output_time(sim.t, ocfg.every)
                if ocfg.checkpoint_every_steps and sim.step_count % ocfg.checkpoint_every_steps == 0:
                    out.write_checkpoint()
                    out.write_diagnostics()
            if stop.requested(d):
                ended = f"stopped ({stop.reason or 'request on another rank'})"
                break
            now = time.perf_counter()
            if show and now - last > 0.5:
                rate = sim.grid.ncells * (sim.step_count - steps0) / (now - t0)
                bar.set_postfix_str(f"step {sim.step_count}, {rate:.3g} cell-updates/s", refresh=False)
                last = now
    except RealizabilityError:
        bar.close()
        path = out.write_rescue()
        out.write_diagnostics()
        log.error("rescue state written to %s", path)
        raise
    finally:
        stop.restore()
    bar.close()
    wall = time.perf_counter() - t0
    if ended == "completed":
        sim.finalize()  # diagnostics of the final state (one more closure call)
    with sim.timer("io"):
        if ended == "completed" and (ocfg.every or ocfg.every_steps) and out.last_output_time != sim.t:
            out.write_output()
        out.write_checkpoint()
        out.write_diagnostics()
    return wall, ended


def summary(sim, wall: float, ended: str) -> str:
    """The closing summary printed by rank 0."""
    hist = sim.history.records
    first, last = hist[0], hist[-1]
    shares = sim.timer.shares(wall)
    steps = max(sim.step_count - (first.step if first else 0), 0)
    cell_updates = sim.grid.ncells * steps
    its = [r.iterations_mean for r in hist]
    return "\n".join([
        f"{ended}: t = {sim.t:.6g} after {sim.step_count} steps; wall {wall:.3f} s "
        f"({cell_updates / max(wall, 1e-300):.3g} cell-updates/s on {sim.decomp.size} rank(s))",
        "phases: " + ", ".join(f"{k} {100 * v:.1f}%" for k, v in shares.items()),
        f"closure {sim.closure.name}: iterations mean {np.mean(its):.2f}, max {max(r.iterations_max for r in hist)}, "
        f"regularised cell-solves {sum(r.regularised for r in hist)}, failed {sum(r.failed for r in hist)}",
        f"mass {first.mass:.12g} -> {last.mass:.12g} (rel. change {(last.mass - first.mass) / first.mass:+.3e}); "
        f"entropy {first.entropy:.12g} -> {last.entropy:.12g}; min u0 {min(r.min_u0 for r in hist):.3e}",
    ])
