"""The time loop shared by ``hpcclose run`` and ``hpcclose restart``: outputs, checkpoints, clean stops.

The loop only steps: field output, checkpoints (with diagnostics) and the stop check are end-of-step
observers (:mod:`hpcclose.stepping`) on schedules from ``[output]``, added to the Simulation's guard
and recorder for the run. Rank 0 shows its progress (:mod:`hpcclose.stepping.progress`: simulated time,
steps, cell-updates per second, ETA) and prints a closing summary (wall time, phase shares, closure
statistics, mass and entropy).
"""

from __future__ import annotations

import contextlib
import time

import numpy as np

from .errors import HpccloseError, SimulationFailed
from .io.run_dir import RunDirectory
from .parallel.stop import StopRequest
from .stepping import Checkpointer, FieldWriter, Observer, Progress, Schedule, StopCheck


def run_loop(sim, out: RunDirectory, progress: bool = True, initial_output: bool = True) -> tuple[float, str]:
    """Step ``sim`` to its end (or a stop request); returns (wall seconds, how it ended)."""
    ocfg = sim.cfg.output
    request = StopRequest(out.path / "STOP")
    writer = FieldWriter(out, Schedule(time=ocfg.every, steps=ocfg.every_steps))
    stop = StopCheck(request)
    checkpoints = Schedule(steps=ocfg.checkpoint_every_steps, wall=ocfg.checkpoint_every_seconds)
    observers = [writer, Checkpointer(out, checkpoints), stop]
    progress_bar = Progress(sim) if progress and sim.decomp.is_root else None
    if progress_bar is not None:
        observers.append(progress_bar)
    # every log line of the run (field writes included) goes around the bar while it is drawn
    with progress_bar.redirect_logging() if progress_bar is not None else contextlib.nullcontext():
        t0 = time.perf_counter()  # wall time covers everything the phase timers see, I/O included
        sim.prime()
        if initial_output and writer.schedule.enabled:
            writer.write(sim)
        ended = _steps(sim, out, observers, stop, request, progress_bar)
        for o in observers:
            o.finish(sim, ended)
    return time.perf_counter() - t0, ended


def _steps(sim, out: RunDirectory, observers: list[Observer], stop: StopCheck, request: StopRequest,
           progress_bar: Progress | None) -> str:
    """The loop over steps with the run's observers; returns how it ended."""
    sim.observers.add(*observers)
    sim.observers.start(sim)
    try:
        while not sim.done():
            sim.step()
            if stop.reason is not None:
                return f"stopped ({stop.reason})"
    except HpccloseError as exc:
        # only an error every rank raised together (the guard's verdict) may lead to collective writes;
        # any other error ends the job through the abort hook (cli), so no rank waits for another
        if not exc.collective:
            raise
        if progress_bar is not None:
            progress_bar.close()
        path = out.write_rescue()
        out.write_diagnostics()
        raise SimulationFailed(f"{exc} (state written to {path})") from exc
    finally:
        sim.observers.remove(*observers)
        request.restore()
    return "completed"


def mass_balance(axes: tuple[str, ...], hist: list, final: float) -> str:
    """The run's mass balance: change = sources − out through the walls + conservation error.

    ``hist``: this run's StepRecords (each with the mass at its start and what its step moved);
    ``final``: the mass after the last step. The error is what the scheme did not conserve: rounding,
    the Newton tolerance and the realizability reconstruction, never what the walls or sources moved.
    """
    initial = hist[0].mass if hist else final
    out = {f"{a} {side}": sum(getattr(r, f"out_{a}_{side}") for r in hist) for a in sorted(axes)
           for side in ("low", "high")}
    sources = sum(r.sources for r in hist)
    error = (final - initial) - (sources - sum(out.values()))
    scale = max(abs(initial), abs(final), abs(sources), *map(abs, out.values())) or 1.0
    walls = ", ".join(f"{k} {v:.6g}" for k, v in out.items())
    return (f"mass {initial:.12g} -> {final:.12g}: out through the walls {walls} (negative: in); sources "
            f"{sources:+.6g}; conservation error {error:+.3e} ({error / scale:+.1e} of the largest term)")


def summary(sim, wall: float, ended: str) -> str:
    """The closing summary printed by rank 0."""
    hist, state = sim.history.records, sim.guard.state
    first = hist[0] if hist else None
    shares = sim.timer.shares(wall)
    steps = len(hist)
    cell_updates = sim.grid.ncells * steps
    solves = f"iterations mean {np.mean([r.iterations_mean for r in hist]):.2f}, max " \
             f"{max(r.iterations_max for r in hist)}, " if hist else ""
    regularised = sum(r.regularised for r in hist)
    largest_r = f" (largest r {max(r.reg_r_max for r in hist):.1e})" if regularised else ""
    entropy = f"entropy {first.entropy:.12g} -> {hist[-1].entropy:.12g} (t = {hist[-1].t:.6g}); " if hist else ""
    return "\n".join([
        f"{ended}: t = {sim.t:.6g} after {sim.step_count} steps; wall {wall:.3f} s "
        f"({cell_updates / max(wall, 1e-300):.3g} cell-updates/s on {sim.decomp.size} rank(s))",
        "phases: " + ", ".join(f"{k} {100 * v:.1f}%" for k, v in shares.items()),
        f"closure {sim.closure.name}: {solves}regularised cell-solves {regularised}{largest_r}, "
        f"failed {sum(r.failed for r in hist)}",
        mass_balance(sim.grid.axis_names, hist, state.mass),
        f"{entropy}min u0 {min([state.min_u0, *(r.min_u0 for r in hist)]):.3e}",
        f"memory: {sim.bytes_per_cell():.0f} bytes per cell held by the step (rank 0) + flux tiles "
        f"{sim.divergence.tile_bytes / 1024:.0f} KiB per thread",
        *_skipped(sim),
    ])


def _skipped(sim) -> list[str]:
    """The summary's line on the work scheme.skip_unchanged saved (rank 0's cells; none without it)."""
    if not sim.cfg.scheme.skip_unchanged or sim.device is not None or not sim.solved_cells[1]:
        return []
    solves, flux = (1 - c[0] / max(c[1], 1) for c in (sim.solved_cells, sim.divergence.computed.sum(axis=0)))
    return [f"skipped where nothing changed (rank 0): {100 * solves:.1f} % of the cell-solves, {100 * flux:.1f} % "
            "of the flux"]
