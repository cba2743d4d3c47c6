"""The domain-decomposed finite-volume kinetic scheme for moment systems (one object per run).

Per stage on every rank (DESIGN.md): closure on owned cells (warm-started from the last α) → halo
exchange of α (n numbers a cell) → ansatz at the quadrature nodes on owned + ghost cells → physical
boundary ghosts set as nodal densities → kinetic upwind flux (1st order or minmod(θ)) → sources.
Every per-cell operation depends only on the cell's stencil, so results do not depend on the number
of ranks.
"""

from __future__ import annotations

import logging
import time

import numpy as np

from . import config as config_mod
from .closures import ClosureStats, get_closure
from .diagnostics import History, PhaseTimer, StepRecord
from .errors import InputError, RealizabilityError
from .grid import Grid
from .parallel.decomp import Decomposition
from .parallel.halo import HaloExchange
from .problems import get_problem
from .scheme import flux as fluxmod
from .scheme.boundary import apply_boundaries
from .scheme.integrators import get_integrator
from .scheme.sources import Sources
from .velocity import gauss_legendre, make_basis, sphere_product

log = logging.getLogger("hpcclose")


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
            self.basis = make_basis(cfg.velocity.basis, m.dim, cfg.velocity.order)
        except ValueError as exc:
            raise InputError(f"{src}: velocity: {exc}") from None
        q = cfg.velocity.quadrature
        self.quad = gauss_legendre(q) if m.dim == 1 else sphere_product(*q)
        self.closure = get_closure(cfg.closure.name, self.basis, self.quad, **self._closure_options(cfg))
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
        self.alpha_ext = d.empty_extended(self.n, fill=0.0)
        self.f_ext = d.empty_extended(self.quad.size, fill=0.0)
        self.du = np.empty_like(self.u)
        self.halo = HaloExchange(d, self.n)
        self.bcs = self.problem.boundary_conditions(self.quad)
        self.walls = [(d.is_lower_wall(a), d.is_upper_wall(a)) for a in range(self.dim)]
        coeff = self.problem.coefficients(centres)
        self.sources = Sources.from_basis(self.basis, self.quad, coeff.sigma_s, coeff.sigma_a, coeff.source)
        self.vel = np.ascontiguousarray(self.quad.velocity)

        # time step: cfl × the realizability-preserving step of the scheme
        s = cfg.scheme
        limit = fluxmod.cfl_limit(s.order, s.theta, self.dim)
        if s.cfl > 1.0:
            raise InputError(f"{src}: scheme.cfl: {s.cfl} is beyond stability (cfl ≤ 1 is the fraction of the "
                             f"positivity-preserving step {limit:.3g}·Δx/max|v| for order {s.order})")
        self.dt = fluxmod.max_stable_dt(self.grid.spacing[::-1], np.abs(self.vel).max(axis=0), s.order, s.theta,
                                        cfl=s.cfl * limit)
        self.integrator = get_integrator(s.integrator, self._rhs, self.u)

        self.t, self.step_count = 0.0, 0
        self.alpha = None  # α of the owned cells at the last closure call (the warm start)
        self.timer = PhaseTimer()
        self.history = History()
        self._stage = 0
        self._pending_failure = None
        self._check_state("initial state")

    @staticmethod
    def _closure_options(cfg: config_mod.Config) -> dict:
        """The closure's options; its own realizability check is off unless asked for, because the
        solver guards every step's state itself (and reports cells the closure had to regularise)."""
        import inspect

        from .closures.base import Closure, available

        opts = dict(cfg.closure.options)
        available()  # registers the built-in closures
        cls = Closure._registry.get(cfg.closure.name)
        if cls is not None and "check" in inspect.signature(cls.__init__).parameters:
            opts.setdefault("check", False)
        return opts

    # --- the right-hand side ----------------------------------------------------------------------
    def _close(self, u: np.ndarray) -> np.ndarray:
        """α for owned cells, warm-started; failures handled collectively as configured."""
        with self.timer("closure"):
            alpha, stats = self.closure.multipliers(u.reshape(-1, self.n), self.alpha)
        self.alpha = alpha
        # failed cells hold finite (isotropic) α, so the stage can finish; the failure is reported by
        # the next guard, which is collective anyway (no extra reduction per stage)
        if stats.failed.size and self.cfg.closure.on_failure == "abort" and self._pending_failure is None:
            rows = u.reshape(-1, self.n)[stats.failed]
            self._pending_failure = (stats.failed, rows, f"t = {self.t:.6g}, step {self.step_count}, stage "
                                     f"{self._stage}: closure failed to converge")
        return alpha, stats

    def _rhs(self, u: np.ndarray, t: float) -> np.ndarray:
        if self._stage == 0:  # u is the state at the start of the step: guard it, then diagnose it
            with self.timer("other"):
                self._check_state(f"t = {self.t:.6g}, step {self.step_count}")
        alpha, stats = self._close(u)
        if self.cfg.scheme.realizability_reconstruction and not self.closure.linear:
            u[...] = self.closure.moments(alpha).reshape(u.shape)  # state := moments of the ansatz
        if self._stage == 0:
            with self.timer("other"):
                self._record(u, alpha, stats)
        # owned nodal values are computed while the ghost α are in flight (overlap), ghosts after
        owned, m, linear = self.decomp.owned, self.closure.m, self.closure.linear
        with self.timer("halo"):
            self.alpha_ext[owned] = alpha.reshape(u.shape)
            self.halo.start(self.alpha_ext)
        with self.timer("flux"):
            fluxmod.nodal_values(self.alpha_ext, m, linear, out=self.f_ext, part="owned")
        with self.timer("halo"):
            self.halo.finish(self.alpha_ext)
        with self.timer("flux"):
            fluxmod.nodal_values(self.alpha_ext, m, linear, out=self.f_ext, part="ghosts")
            apply_boundaries(self.f_ext, self.bcs, self.walls)
            s = self.cfg.scheme
            if self.dim == 1:
                fluxmod.flux_divergence_1d(self.f_ext, self.vel[:, 0], self.closure.w, self.closure.m,
                                           self.grid.spacing[0], s.order, s.theta, self.du)
            else:
                dy, dx = self.grid.spacing
                fluxmod.flux_divergence_2d(self.f_ext, self.vel[:, 0], self.vel[:, 1], self.closure.w,
                                           self.closure.m, dx, dy, s.order, s.theta, self.du)
            self.sources.apply(u, self.du)
        self._stage += 1
        return self.du

    # --- stepping ------------------------------------------------------------------------------------
    def step(self, t_stop: float | None = None) -> float:
        """Advance one time step, clipped to t_final (and to ``t_stop``, e.g. an output time)."""
        dt = min(self.dt, self.cfg.scheme.t_final - self.t, np.inf if t_stop is None else t_stop - self.t)
        self._stage = 0
        self._step_start = time.perf_counter()
        self.integrator.step(self.u, self.t, dt)
        self.t += dt
        self.step_count += 1
        return dt

    def done(self) -> bool:
        s = self.cfg.scheme
        end = self.t >= s.t_final * (1 - 1e-12)
        return end or (s.max_steps is not None and self.step_count >= s.max_steps)

    def prime(self) -> np.ndarray:
        """Close the current state once if no α is known yet (for output before the first step)."""
        if self.alpha is None:
            self.alpha, _ = self._close(self.u)
        return self.alpha

    def restore(self, u: np.ndarray, alpha: np.ndarray | None, t: float, step: int) -> None:
        """Continue from a checkpointed state (owned blocks); α restores the warm start bit for bit."""
        if u.shape != self.u.shape:
            raise InputError(f"checkpoint block {u.shape} does not match this run's {self.u.shape}")
        self.u[...] = u
        self.alpha = None if alpha is None else np.ascontiguousarray(alpha.reshape(-1, self.n))
        self.t, self.step_count = float(t), int(step)
        self._check_state(f"restart at t = {self.t:.6g}, step {self.step_count}")

    def finalize(self) -> StepRecord:
        """Guard and diagnose the final state (one extra closure call); returns its record."""
        self._check_state(f"t = {self.t:.6g}, step {self.step_count}")
        self._step_start = time.perf_counter()
        alpha, stats = self._close(self.u)
        return self._record(self.u, alpha, stats)

    # --- diagnostics and guards -----------------------------------------------------------------------
    def _record(self, u: np.ndarray, alpha: np.ndarray, stats: ClosureStats) -> StepRecord:
        d, vol, u2 = self.decomp, self.grid.cell_volume, u.reshape(-1, self.n)
        h = self.closure.entropy(u2, alpha)
        local = np.array([u2[:, 0].sum() * vol, h.sum() * vol, stats.iterations_mean * stats.ncells,
                          stats.regularised.size, stats.failed.size, stats.ncells])
        mins = np.array([u2[:, 0].min(), self._last_margin, -stats.iterations_max])
        tot, mn = d.sum(local), d.min(mins)
        rec = StepRecord(step=self.step_count, t=self.t, mass=tot[0], entropy=tot[1], min_u0=mn[0],
                         margin=mn[1], iterations_mean=tot[2] / max(tot[5], 1), iterations_max=int(-mn[2]),
                         regularised=int(tot[3]), failed=int(tot[4]),
                         wall=time.perf_counter() - getattr(self, "_step_start", time.perf_counter()),
                         **self.timer.snapshot())
        self.history.append(rec)
        return rec

    def _margin(self, u2: np.ndarray) -> np.ndarray:
        """Realizability margin per cell (P_N needs none: its state may leave the realizable set)."""
        if self.closure.linear:
            return np.where(np.isfinite(u2[:, 0]), np.inf, np.nan)
        return self.basis.realizability_margin(u2)

    def _check_state(self, when: str) -> None:
        """Stop every rank with a clear message if any owned cell is non-finite or non-realizable.

        The smallest margin is kept for the step's diagnostics (computed once per step).
        """
        u2 = self.u.reshape(-1, self.n)
        margin = self._margin(u2)
        self._last_margin = float(margin.min()) if margin.size else np.inf
        bad = ~(margin > 0.0) | ~np.all(np.isfinite(u2), axis=1)
        failed = self._pending_failure
        nbad, nfailed = self.decomp.sum(np.array([bad.sum(), 0 if failed is None else failed[0].size]))
        if nbad > 0:
            cells = np.flatnonzero(bad)
            self._raise_collective(cells, u2[cells], f"{when}: non-finite or non-realizable moments")
        if nfailed > 0:
            self._raise_collective(*(failed or (np.zeros(0, np.int64), np.zeros((0, self.n)), "")))

    def _raise_collective(self, cells: np.ndarray, rows: np.ndarray, what: str) -> None:
        """Raise the same RealizabilityError on all ranks, naming the first bad cell (global index).

        ``cells`` are this rank's owned-cell numbers (maybe none), ``rows`` their moments; ``what`` is
        taken from the rank that owns the first cell.
        """
        d = self.decomp
        first = d.global_cell_index(int(cells[0])) if cells.size else None
        key = np.ravel_multi_index(first, self.grid.shape) if first else np.iinfo(np.int64).max
        gkey = d.min(int(key))
        count = d.sum(int(cells.size))
        mine = first is not None and key == gkey
        owner = d.max(d.rank if mine else -1)
        info = (first, rows[0].tolist(), what) if mine else None
        first, moments, what = d.bcast(info, root=owner)
        axes = ", ".join(f"{a}={i}" for a, i in zip(self.grid.axis_names, first, strict=True))
        err = RealizabilityError(f"{what} in {count} cell(s); first: global cell ({axes}), "
                                 f"u = {np.array2string(np.array(moments), precision=6)}")
        err.collective = True
        raise err

    # --- summary ---------------------------------------------------------------------------------------
    def describe(self) -> str:
        s = self.cfg.scheme
        return (f"{self.problem.describe()} | {self.grid.describe()} | {self.decomp.describe()} | "
                f"{self.basis.describe()}, {self.quad.name} | closure {self.closure.name} | order {s.order}, "
                f"{s.integrator}, dt = {self.dt:.4g}")
