"""The time loop shared by ``hpcclose run`` and ``hpcclose restart``: outputs, checkpoints, clean stops.

Rank 0 shows a progress bar (simulated time, steps, cell-updates per second, ETA) and prints a closing
summary (wall time, phase shares, closure statistics, mass and entropy change).
"""

from __future__ import annotations

import logging
import sys
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
    # a terminal gets a live bar; a batch log (SLURM output file) gets a plain line every 10 % or minute
    live = show and sys.stderr.isatty()
    bar = tqdm(total=sim.cfg.scheme.t_final, initial=sim.t, disable=not live, unit="t", dynamic_ncols=True,
               bar_format="{l_bar}{bar}| t={n:.4g}/{total:.4g} [{elapsed}<{remaining}] {postfix}")
    report = _LogProgress(sim) if show and not live else None
    t0 = last = time.perf_counter()  # wall time covers everything the phase timers see, I/O included
    sim.prime()
    if initial_output and (ocfg.every or ocfg.every_steps):
        with sim.timer("io"):
            out.write_output()
    next_out = _next_output_time(sim.t, ocfg.every)
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
            if live and now - last > 0.5:
                rate = sim.grid.ncells * (sim.step_count - steps0) / (now - t0)
                bar.set_postfix_str(f"step {sim.step_count}, {rate:.3g} cell-updates/s", refresh=False)
                last = now
            elif report is not None:
                report.maybe(now)
    except RealizabilityError:
        bar.close()
        path = out.write_rescue()
        out.write_diagnostics()
        log.error("rescue state written to %s", path)
        raise
    finally:
        stop.restore()
    bar.close()
    if ended == "completed":
        sim.finalize()  # diagnostics of the final state (one more closure call)
    with sim.timer("io"):
        if ended == "completed" and (ocfg.every or ocfg.every_steps) and out.last_output_time != sim.t:
            out.write_output()
        out.write_checkpoint()
        out.write_diagnostics()
    return time.perf_counter() - t0, ended


class _LogProgress:
    """Progress as log lines (time, step, cell-updates/s, ETA) for non-interactive runs."""

    def __init__(self, sim) -> None:
        self.sim, self.t0, self.step0, self.time0 = sim, time.perf_counter(), sim.step_count, sim.t
        self.last, self.next_fraction = self.t0, 0.1

    def maybe(self, now: float) -> None:
        s, t_final = self.sim, self.sim.cfg.scheme.t_final
        fraction = (s.t - self.time0) / max(t_final - self.time0, 1e-300)
        if fraction < self.next_fraction and now - self.last < 60.0:
            return
        elapsed = now - self.t0
        rate = s.grid.ncells * (s.step_count - self.step0) / max(elapsed, 1e-300)
        eta = elapsed * (1.0 - fraction) / max(fraction, 1e-300)
        log.info("t = %.6g / %.6g (%3.0f %%), step %d, %.3g cell-updates/s, ETA %.0f s", s.t, t_final,
                 100 * fraction, s.step_count, rate, eta)
        self.last, self.next_fraction = now, (int(fraction * 10) + 1) / 10


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
