"""The GPU-resident step of a :class:`~hpcclose.solver.Simulation` (``[parallel] device = "gpu"``).

u, α (owned and extended), the integrator's stage array, du and the face fluxes live on the rank's GPU for
the whole run. A stage (the host path's, kernel for kernel):

    closure (device closure, :mod:`.closures`) ─► α ─► α into the extended array ─► halo (:mod:`.halo`)
      ─► fused flux (:mod:`.flux`) ─► sources (the CPU's per-cell function) ─► du;  stages combined by the
    host's integrators on device arrays (:class:`~.arrays.DeviceArrays`).

What crosses to the host: per stage the halo slabs (staged MPI only), the closure's statistics (counters,
then only the regularised / failed cells), the walls' zeroth-moment fluxes (2 numbers per axis) and, with
sources, their mass rate (one number, for the summary's balance); per step
u (the guard's realizability check) and the start state's entropy (summed on the device by the closure's
formula; a closure with a formula of its own gets its start α copied and the host's); α only when an output
or checkpoint reads it. The host's copy of u is the state between
steps; restore() and the set-up copy it to the device.
"""

from __future__ import annotations

import logging

import numpy as np
from numba import cuda

from .. import devices
from ..closures.base import Closure, unclosable_cells
from ..closures.newton import NewtonClosure
from ..errors import RealizabilityError
from ..grid import NG
from ..kernels.fastmath import exp_full
from ..kernels.moments import ansatz_moments_cell
from ..scheme.sources import source_cell, source_rate_cell
from .arrays import DeviceArrays, copy_box
from .base import THREADS, blocks, view
from .closures import to_device
from .flux import DeviceFlux
from .halo import DeviceHalo

log = logging.getLogger("hpcclose")


@cuda.jit
def _sources(u, du, iso, ss, sa, src, measure):
    i = cuda.grid(1)
    if i < u.shape[0]:
        source_cell(view(u), view(du), i, view(iso), view(ss), view(sa), view(src), measure)


@cuda.jit
def _source_rate(u, iso, ss, sa, src, measure, rate):
    """rate[i] = d(u0_i)/dt from the sources (the CPU's per-cell function): the cells' terms of the step's
    mass balance, summed on the device."""
    i = cuda.grid(1)
    if i < u.shape[0]:
        rate[i] = source_rate_cell(view(u), i, view(iso), view(ss), view(sa), view(src), measure)


@cuda.jit
def _moments(alpha, mT, w, linear, u):
    """The realizability reconstruction, cell by cell (the CPU's per-cell function)."""
    i = cuda.grid(1)
    if i < u.shape[0]:
        ansatz_moments_cell(view(alpha), i, view(mT), view(w), linear, view(u))


@cuda.jit
def _entropy(u, alpha, mT, w, mode, h):
    """h[i] = the entropy density of cell i by its closure's formula: ``mode`` 0 ½ α·u (linear), 1 α·u − u0
    (at the dual optimum ⟨e^{α·m}⟩ = u0: Newton), 2 α·u − Σ_q w_q e^{α·m_q}."""
    i = cuda.grid(1)
    if i < u.shape[0]:
        n, Q = mT.shape
        au = 0.0
        for k in range(n):
            au += alpha[i, k] * u[i, k]
        if mode == 0:
            h[i] = 0.5 * au
        elif mode == 1:
            h[i] = au - u[i, 0]
        else:
            s = 0.0
            for q in range(Q):
                z = 0.0
                for k in range(n):
                    z += alpha[i, k] * mT[k, q]
                s += w[q] * exp_full(z)
            h[i] = au - s


def _entropy_mode(closure: Closure) -> int | None:
    """Which formula of :func:`_entropy` is the closure's own :meth:`~Closure.entropy`; None for one of its own
    (then taken on the host)."""
    own = type(closure).entropy
    if own is NewtonClosure.entropy:
        return 1
    if own is Closure.entropy:
        return 0 if closure.linear else 2
    return None


class DeviceStep:
    """The device state and stage of ``sim`` (built by the Simulation, after its host set-up)."""

    arrays = DeviceArrays

    def __init__(self, sim):
        self.sim = sim
        par = sim.cfg.parallel
        self.where = devices.place_cuda()
        aware, why = devices.cuda_aware_mpi(par.cuda_aware_mpi)
        log.info("device: %s; halo %s (%s)", self.where, "through CUDA-aware MPI" if aware else
                 "staged through pinned host buffers", why)
        self.closure = to_device(sim.closure)
        self.n, self.shape = sim.n, sim.u.shape
        self.ncells = sim.u.size // sim.n
        self.u = cuda.to_device(sim.u)
        self.alpha = cuda.to_device(np.full((self.ncells, self.n), np.nan))  # not finite: the closure starts cold
        self.alpha_ext = cuda.to_device(np.zeros(sim.decomp.extended_shape(self.n)))
        self.du = cuda.device_array(self.shape)
        self.halo = DeviceHalo(sim.decomp, self.n, aware)
        self.flux = DeviceFlux(sim.divergence)
        src = sim.sources
        self.source_data = tuple(cuda.to_device(a) for a in (src.iso, *src.per_cell(self.ncells)))
        self.m = (cuda.to_device(sim.closure.m.T.copy()), cuda.to_device(sim.closure.w))
        self.entropy_mode = _entropy_mode(sim.closure)
        self.h = cuda.device_array(self.ncells)
        self._sum = cuda.reduce(lambda a, b: a + b)
        self._known = False  # α holds a closure's answer
        self._host_alpha = None  # its host copy, None when stale
        self._projected = False

    # --- α: on the device, copied to the host when read ---------------------------------------------------
    def alpha_host(self) -> np.ndarray | None:
        """α of the last closure call (owned cells, (ncells, n)) on the host; None before the first."""
        if self._known and self._host_alpha is None:
            self._host_alpha = self.alpha.copy_to_host()
        return self._host_alpha if self._known else None

    def set_alpha(self, alpha: np.ndarray | None) -> None:
        """Restore the warm start (None: none, the next closure call starts cold)."""
        value = np.full((self.ncells, self.n), np.nan) if alpha is None else alpha.reshape(self.ncells, self.n)
        self.alpha.copy_to_device(np.ascontiguousarray(value, dtype=np.float64))
        self._known, self._host_alpha = alpha is not None, None

    def pull(self) -> None:
        """sim.u ← the device state (the guard and the outputs read the host copy)."""
        self.u.copy_to_host(self.sim.u)

    def push(self) -> None:
        """The device state ← sim.u (after a restore)."""
        self.u.copy_to_device(self.sim.u)

    # --- the stage --------------------------------------------------------------------------------------
    def close(self, u):
        """α of the device moments u, warm-started, in place; statistics into the step's (as Simulation._close,
        unclosable cells closed as vacuum and listed as failed)."""
        sim = self.sim
        u2 = u.reshape(self.ncells, self.n)
        host = None
        with sim.timer("closure"):
            try:
                stats = self.closure.multipliers(u2, self.alpha)
            except RealizabilityError:
                host = u2.copy_to_host()
                given, unclosable = unclosable_cells(host, sim._vacuum)
                if given is None:
                    raise
                stats = self.closure.multipliers(cuda.to_device(given), self.alpha)
                stats.failed = np.union1d(stats.failed, unclosable)
        self._known, self._host_alpha = True, None
        if stats.failed.size and host is None:
            host = u2.copy_to_host()  # the guard's message names the first failed cell's moments
        sim.step_stats.add(stats, host)
        return self.alpha

    def rhs(self, u, t: float):
        """du/dt at the device stage input u: closure, halo, fused flux, sources (device arrays)."""
        sim = self.sim
        alpha = self.alpha if self._projected else self.close(u)
        self._projected = False
        with sim.timer("halo"):
            owned = (NG, NG) if len(self.shape) == 3 else (0, NG)
            copy_box(alpha.reshape(*self.shape), (0, 0), self.alpha_ext, owned, (self.shape[0], self.shape[1])
                     if len(self.shape) == 3 else (1, self.shape[0]))
            self.halo(self.alpha_ext)
        with sim.timer("flux"):
            self.flux(self.alpha_ext, self.du)
            sim.stage_wall_flux.append(self.flux.wall_flux())
            rate = 0.0
            if sim.sources.active:
                u2 = u.reshape(self.ncells, self.n)
                _sources[blocks(self.ncells), THREADS](u2, self.du.reshape(self.ncells, self.n), *self.source_data,
                                                       sim.sources.measure)
                # the mass balance's source term: one number crosses (self.h is free until the next step)
                _source_rate[blocks(self.ncells), THREADS](u2, *self.source_data, sim.sources.measure, self.h)
                rate = float(self._sum(self.h))
            sim.stage_source_rate.append(rate * sim.grid.cell_volume)
        return self.du

    def project(self, u) -> None:
        """Realizability reconstruction of a stage input on the device: u ← ⟨m G_α(u)⟩ (its α kept)."""
        alpha = self.close(u)
        _moments[blocks(self.ncells), THREADS](alpha, *self.m, self.sim.closure.linear,
                                               u.reshape(self.ncells, self.n))
        self._projected = True

    def first_stage(self, u) -> None:
        """The step's start state and its α: the entropy for the step's record, by the closure's formula on
        the device (one number crosses), or by the host closure if it has a formula of its own."""
        sim = self.sim
        with sim.timer("other"):
            if self.entropy_mode is None:
                start = u.copy_to_host() if sim.integrator.project is not None else sim.u
                h = sim.closure.entropy(start.reshape(-1, self.n), self.alpha_host())
            else:
                _entropy[blocks(self.ncells), THREADS](u.reshape(self.ncells, self.n), self.alpha, *self.m,
                                                       self.entropy_mode, self.h)
                h = self._sum(self.h)
            sim.step_stats.entropy = float(np.sum(h))

    @property
    def nbytes(self) -> int:
        """Device bytes the step holds between stages (state, stage array, du, α owned and extended, face
        fluxes, entropy per cell)."""
        arrays = (self.u, self.du, self.alpha, self.alpha_ext, self.h)
        return sum(a.nbytes for a in arrays) + self.sim.integrator.nbytes + self.flux.nbytes
