"""The domain-decomposed finite-volume kinetic scheme for moment systems (one object per run).

Per stage on every rank (DESIGN.md): closure on owned cells (warm-started from the last α) → halo
exchange of α (n numbers a cell) started → fused flux of the interior cells (ansatz at the quadrature
nodes tile by tile, kinetic upwind flux, 1st order or minmod(θ)) → halo finished → fused flux of the
frame cells (physical walls as nodal densities, the flux out through them recorded) → sources. No array
of nodal values per cell exists. Every per-cell operation depends only on the cell's stencil, so results
do not depend on the number of ranks.
"""

from __future__ import annotations

import logging
import time

import numpy as np

from . import config as config_mod
from . import resources
from .closures import Closure, get_closure
from .closures.base import ClosureStats, unclosable_cells
from .diagnostics import History, PhaseTimer, StepStats
from .errors import InputError, RealizabilityError
from .grid import Grid
from .kernels.compare import store_changed
from .parallel.decomp import Decomposition
from .parallel.halo import HaloExchange
from .problems import get_problem
from .scheme import flux as fluxmod
from .scheme.divergence import FluxDivergence
from .scheme.integrators import HostArrays, get_integrator
from .scheme.sources import Sources
from .stepping import Observers, StateGuard, StepRecorder
from .stepping.unchanged import UnchangedCells
from .velocity import make_basis, rules

log = logging.getLogger("hpcclose")
#: u0 of the isotropic state an unclosable stage input is closed as (exp(α0) stays a normal double).
VACUUM_U0 = 1e-300


class Simulation:
    """A configured run: state, closure, decomposition, time stepping and diagnostics."""

    def __init__(self, cfg: config_mod.Config, comm=None):
        self.cfg = cfg
        src = cfg.source
        self.problem = get_problem(cfg.problem.name, cfg.problem.params, src)
        if self.problem.dim != cfg.mesh.dim:
            raise InputError(f"{src}: mesh: problem {self.problem.name!r} is {self.problem.dim}D but the mesh is "
                             f"{cfg.mesh.dim}D")
        m = cfg.mesh
        if m.dim == 1:
            self.grid = Grid.from_extent(x=(*m.x, m.cells))
        else:
            self.grid = Grid.from_extent(x=(*m.x, m.cells[0]), y=(*m.y, m.cells[1]))
        try:
            self.quad = cfg.velocity.rule(m.dim)
            # the guard judges states by the measure the run integrates with (velocity/cone.py)
            self.basis = make_basis(cfg.velocity.basis, m.dim, cfg.velocity.order).on(self.quad)
            self.basis.cone  # noqa: B018 (built now: refuses a rule that cannot resolve the basis)
        except ValueError as exc:
            raise InputError(f"{src}: velocity: {exc}") from None
        coarse = rules.coarse_warning(self.quad, self.basis.N)
        if coarse:
            log.warning("%s: %s", src, coarse)
        resources.check(cfg, self.grid, self.basis, self.quad, self.problem.periodic, comm)
        self.closure = get_closure(cfg.closure.name, self.basis, self.quad, src, **self._closure_options(cfg))
        self.decomp = Decomposition(self.grid, self.problem.periodic, comm=comm, dims=cfg.parallel.dims)
        d = self.decomp
        self.n, self.dim = self.basis.n, m.dim
        centres = tuple(d.local_centers(a) for a in range(self.dim))

        # state (owned cells) and the extended work arrays, allocated once
        try:
            u0 = self.problem.initial_moments(centres, self.grid.spacing, self.basis, self.quad)
        except ValueError as exc:  # a parameter combination the problem cannot represent
            raise InputError(f"{src}: problem: {exc}") from None
        self.u = np.ascontiguousarray(u0)
        self.bcs = self.problem.boundary_conditions(self.quad)
        self.walls = [(d.is_lower_wall(a), d.is_upper_wall(a)) for a in range(self.dim)]
        coeff = self.problem.coefficients(centres)
        self.sources = Sources.from_basis(self.basis, self.quad, coeff.sigma_s, coeff.sigma_a, coeff.source)
        self.vel = np.ascontiguousarray(self.quad.velocity)
        s = cfg.scheme
        self.divergence = FluxDivergence(self.closure.m, self.closure.w, self.vel, self.grid.spacing, s.order,
                                         s.theta, self.closure.linear, self.bcs, self.walls, d.local_shape)
        # zeroth-moment flux out through each wall, (dim, 2), and the sources' mass rate: per stage of the
        # current step, and the last step's Σ_s b_s (the integrator's weights): the block's mass changed by
        # Δt (source_rate − Σ wall_flux) in that step, up to what the realizability reconstruction moved
        self.stage_wall_flux: list[np.ndarray] = []
        self.stage_source_rate: list[float] = []
        self.wall_flux = np.zeros((self.dim, 2))
        self.source_rate = 0.0

        # time step: cfl × the realizability-preserving step of the scheme
        self.dt = fluxmod.time_step(s, self.grid.spacing, self.vel, src)
        self.t, self.step_count = 0.0, 0
        self._alpha = None  # α of the owned cells at the last closure call (the warm start)
        # the moments of that call: a cell whose stage input is bitwise the same keeps its α (host runs)
        self._unchanged = UnchangedCells() if s.skip_unchanged and cfg.parallel.device != "gpu" else None
        self.solved_cells = np.zeros(2, np.int64)  # cells the closure ran on, and of how many (host runs)
        self._vacuum = self.basis.isotropic(VACUUM_U0, self.quad)  # what unclosable cells are closed as
        self._projected = False  # the stage input was just reconstructed: its α is self.alpha
        # the stage's arrays: on the host, or on the rank's GPU for the whole run (self.u stays the host copy
        # of the state between steps)
        reconstruct = s.realizability_reconstruction and not self.closure.linear
        self.device = None
        if cfg.parallel.device == "gpu":
            from .gpu.step import DeviceStep  # numba-cuda is imported by GPU runs only

            self.device = dev = DeviceStep(self)
            self.halo = dev.halo.exchange
            stage = (dev.rhs, dev.u, dev.first_stage, dev.project if reconstruct else None, dev.arrays)
        else:
            self.alpha_ext = d.empty_extended(self.n, fill=0.0)
            self.du = np.empty_like(self.u)
            # skipping: the flux divergence is kept apart from du (its cells far from changed α keep it), and
            # which owned α changed since the last stage
            self.flux_du = np.zeros_like(self.u) if s.skip_unchanged else self.du
            self._alpha_changed = np.zeros(self.alpha_ext.shape[:-1], bool) if s.skip_unchanged else None
            self._flux_known = False  # flux_du holds the flux of the α in alpha_ext
            self.halo = HaloExchange(d, self.n)
            stage = (self._rhs, self.u, self._first_stage, self._reconstruct if reconstruct else None, HostArrays)
        rhs, state, first, project, arrays = stage
        self.integrator = get_integrator(s.integrator, rhs, state, first_stage=first, project=project, arrays=arrays)
        self.timer = PhaseTimer()
        self.history = History()
        self.step_stats = StepStats(self.step_count, self.t)
        # end of every step: the recorder files the step, then the guard checks the new state
        self.guard = StateGuard()
        self.observers = Observers(StepRecorder(self.guard), self.guard)
        self.guard.check(self, "initial state")

    @staticmethod
    def _closure_options(cfg: config_mod.Config) -> dict:
        """The closure's options; its own realizability check is off unless asked for, because the
        solver guards every step's state itself (and reports cells the closure had to regularise)."""
        opts = dict(cfg.closure.options)
        if "check" in Closure.registry.lookup(cfg.closure.name, cfg.source).Options.model_fields:
            opts.setdefault("check", False)
        return opts

    @property
    def alpha(self) -> np.ndarray | None:
        """α (ncells, n) of the owned cells at the last closure call (the warm start; copied from the GPU
        when the state lives there); None before the first."""
        return self._alpha if self.device is None else self.device.alpha_host()

    @alpha.setter
    def alpha(self, value: np.ndarray | None) -> None:
        if self.device is None:
            self._alpha = value
            if self._unchanged is not None:
                self._unchanged.forget()  # α not from the closure: nothing is known to be reusable
        else:
            self.device.set_alpha(value)

    # --- the right-hand side and the integrator's hooks ----------------------------------------------
    def _close(self, u: np.ndarray) -> np.ndarray:
        """α for owned cells, warm-started; the call's statistics go into the step's.

        Cells whose moments are bitwise those of the last call keep its α (:mod:`.stepping.unchanged`):
        solving them again would return it unchanged, after a pass over the nodes.
        """
        u2 = u.reshape(-1, self.n)
        memo = self._unchanged
        with self.timer("closure"):
            todo = None if memo is None or self._alpha is None else memo.changed(u2)
            if todo is not None and todo.size == u2.shape[0]:
                todo = None  # every cell changed: no gathers
            if todo is None:
                alpha, stats = self._solve(u2, self._alpha)
            else:  # the others keep their α: in place (nothing holds the last stage's α apart)
                alpha = self._alpha
                stats = ClosureStats()
                if todo.size:
                    alpha[todo], stats = self._solve(u2[todo], alpha[todo])
            if memo is not None:
                memo.remember(u2, todo, stats.reusable())
            if todo is not None:
                stats = stats.on_cells(todo, u2.shape[0])
            self.solved_cells += (u2.shape[0] if todo is None else todo.size, u2.shape[0])
        self._alpha = alpha  # (host runs only: a GPU run closes on the device)
        # failed cells hold finite α, so the stage can finish; the guard reports them
        self.step_stats.add(stats, u2)
        return alpha

    def _solve(self, u2: np.ndarray, warm: np.ndarray | None) -> tuple[np.ndarray, ClosureStats]:
        """The closure on the cells u2, warm-started.

        A stage input no closure can take (non-finite moments, or u0 ≤ 0 for an exponential ansatz: a
        time step too large for strong absorption, say) is not handed to it — the closure would raise on
        this rank alone. Such cells are closed as vacuum and listed as failed, so the guard reports them
        at the end of the step, on every rank, naming the global cell.
        """
        try:  # the common case costs nothing extra: the closure checks its input anyway
            return self.closure.multipliers(u2, warm)
        except RealizabilityError:
            given, unclosable = unclosable_cells(u2, self._vacuum)
            if given is None:
                raise  # not a stage-input problem (a closure asked to check realizability itself)
            alpha, stats = self.closure.multipliers(given, warm)
            stats.failed = np.union1d(stats.failed, unclosable)
            return alpha, stats

    def _reconstruct(self, u: np.ndarray) -> None:
        """Realizability reconstruction of a stage input: u ← ⟨m G_α(u)⟩ (its α is kept for the rhs)."""
        alpha = self._close(u)
        u[...] = self.closure.moments(alpha).reshape(u.shape)
        if self._unchanged is not None:  # α is exactly the answer for these moments
            self._unchanged.replace(u.reshape(-1, self.n))
        self._projected = True

    def _first_stage(self, u: np.ndarray) -> None:
        """The step's start state and its α are at hand: take its entropy for the step's record."""
        with self.timer("other"):
            self.step_stats.entropy = float(self.closure.entropy(u.reshape(-1, self.n), self.alpha).sum())

    def _rhs(self, u: np.ndarray, t: float) -> np.ndarray:
        """du/dt of the moment system at the stage input u: closure, halo, fused flux, sources."""
        alpha = self.alpha if self._projected else self._close(u)
        self._projected = False
        # the interior cells' flux is computed while the ghost α are in flight (overlap), the frame's after
        changed = None
        with self.timer("halo"):
            owned = self.alpha_ext[self.decomp.owned]
            if self._flux_known and self._alpha_changed is not None:
                changed = self._alpha_changed  # the owned flags here, the ghosts' in the frame pass
                store_changed(owned, alpha.reshape(u.shape), changed[self.decomp.owned])
            else:
                owned[...] = alpha.reshape(u.shape)
            self.halo.start(self.alpha_ext)
        with self.timer("flux"):
            self.divergence.interior(self.alpha_ext, self.flux_du, changed)
            self._flux_known = True
        with self.timer("halo"):
            self.halo.finish(self.alpha_ext)
        with self.timer("flux"):
            self.divergence.frame(self.alpha_ext, self.flux_du, changed)
            if self.flux_du is not self.du:
                np.copyto(self.du, self.flux_du)
            self.stage_wall_flux.append(self.divergence.wall_flux())
            self.sources.apply(u, self.du)
            self.stage_source_rate.append(self.sources.mass_rate(u) * self.grid.cell_volume)
        return self.du

    # --- stepping ------------------------------------------------------------------------------------
    def step(self, t_stop: float | None = None) -> float:
        """Advance one time step, then run the end-of-step observers (guard, recorder, outputs, …).

        The step is clipped to t_final, to the next time an observer must land on (an output time) and
        to ``t_stop`` if given.
        """
        stops = [self.cfg.scheme.t_final, self.observers.next_time(), t_stop]
        dt = min(self.dt, *(t - self.t for t in stops if t is not None))
        self.step_stats = StepStats(self.step_count, self.t, phase_totals=dict(self.timer.totals))
        self.stage_wall_flux, self.stage_source_rate = [], []
        if self.device is None:
            self.integrator.step(self.u, self.t, dt)
        else:
            self.integrator.step(self.device.u, self.t, dt)
            self.device.pull()  # the end-of-step observers read the state on the host
        weights = self.integrator.weights
        self.wall_flux = sum(b * f for b, f in zip(weights, self.stage_wall_flux, strict=True))
        self.source_rate = sum(b * r for b, r in zip(weights, self.stage_source_rate, strict=True))
        self.t += dt
        self.step_count += 1
        self.step_stats.wall = time.perf_counter() - self.step_stats.started
        self.observers.end_of_step(self)
        return dt

    def done(self) -> bool:
        s = self.cfg.scheme
        end = self.t >= s.t_final * (1 - 1e-12)
        return end or (s.max_steps is not None and self.step_count >= s.max_steps)

    def prime(self) -> np.ndarray:
        """Close the current state once if no α is known yet (for output before the first step)."""
        if self.alpha is None:
            if self.device is None:
                self._close(self.u)
            else:
                self.device.close(self.device.u)
        return self.alpha

    def restore(self, u: np.ndarray, alpha: np.ndarray | None, t: float, step: int) -> None:
        """Continue from a checkpointed state (owned blocks); α restores the warm start bit for bit."""
        if u.shape != self.u.shape:
            raise InputError(f"checkpoint block {u.shape} does not match this run's {self.u.shape}")
        self.u[...] = u
        self.alpha = None if alpha is None else np.ascontiguousarray(alpha.reshape(-1, self.n))
        if self.device is not None:
            self.device.push()
        self.t, self.step_count = float(t), int(step)
        self.guard.check(self, f"restart at t = {self.t:.6g}, step {self.step_count}")

    # --- summary ---------------------------------------------------------------------------------------
    def bytes_per_cell(self) -> float:
        """Bytes per owned cell of the arrays the step keeps between stages: state, stage array, du, α (owned
        and extended). O(n): the flux's nodal values exist per tile only (``divergence.tile_bytes`` a thread)."""
        if self.device is not None:  # on the GPU; the host keeps u
            return (self.device.nbytes + self.u.nbytes) / self.decomp.ncells_local
        held = self.u.nbytes + self.du.nbytes + self.integrator.nbytes + self.alpha_ext.nbytes
        held += 0 if self.alpha is None else self.alpha.nbytes
        if self.flux_du is not self.du:  # skipping unchanged cells: their flux, α flags and closure inputs
            held += self.flux_du.nbytes + self._alpha_changed.nbytes + self._unchanged.nbytes
        return held / self.decomp.ncells_local

    def describe(self) -> str:
        s = self.cfg.scheme
        return (f"{self.problem.describe()} | {self.grid.describe()} | {self.decomp.describe()} | "
                f"{self.basis.describe()}, {self.quad.describe()} | closure {self.closure.name} | order {s.order}, "
                f"{s.integrator}, dt = {self.dt:.4g}")
