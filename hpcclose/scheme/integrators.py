"""Explicit strong-stability-preserving time integrators over a right-hand side ``rhs(u, t) -> du``.

Each scheme is a convex combination of forward-Euler steps (SSP coefficient 1), so the positivity
time step of the spatial scheme (:func:`hpcclose.scheme.flux.max_stable_dt`) carries over unchanged.

``rhs`` may return an internal buffer (the same array every call): every stage consumes it before
the next call. It must not return ``u`` itself. One stage array is allocated at construction (the
low-storage Shu–Osher forms need no more); :meth:`Integrator.step` updates ``u`` in place with no
further allocation. Stage times: Euler t; SSP-RK2 t, t + Δt; SSP-RK3 t, t + Δt, t + Δt/2.

Two optional hooks make what happens around a stage explicit instead of hidden in ``rhs``:

- ``project(u_stage)`` is called on every stage input before ``rhs`` and may replace it in place (the
  realizability reconstruction u ← ⟨m G_α(u)⟩ of KiT-RT); the stage combinations then use it;
- ``first_stage(u)`` is called once per step, right after the first ``rhs`` evaluation and before ``u``
  changes: the state at the start of the step and everything ``rhs`` computed from it are at hand
  (the step's diagnostics are taken there).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import numpy as np
from numba import njit, prange

from ..registry import Registry

Rhs = Callable[[np.ndarray, float], np.ndarray]
Hook = Callable[[np.ndarray], None]


@njit(parallel=True, cache=True)
def _combine(dst, a, x, b, y, c, z):
    """dst = a·x + b·y + c·z elementwise on flat arrays (dst may alias x or y)."""
    for i in prange(dst.size):
        dst[i] = a * x[i] + b * y[i] + c * z[i]


class HostArrays:
    """Where the integrators' arrays live and how a stage combines them: NumPy arrays and :func:`_combine`.
    The GPU step passes its own (:class:`hpcclose.gpu.arrays.DeviceArrays`), so the stages are written once."""

    @staticmethod
    def empty_like(like) -> np.ndarray:
        return np.empty(np.shape(like), dtype=np.float64)

    @staticmethod
    def flat(a: np.ndarray) -> np.ndarray:
        if not a.flags.c_contiguous:
            raise ValueError("time integrators need C-contiguous state arrays")
        return a.reshape(-1)

    combine = staticmethod(_combine)


class Integrator:
    """Base class; subclasses set ``name`` (registry key), ``order``, ``stages`` and :meth:`_step`."""

    name: ClassVar[str] = ""
    order: ClassVar[int] = 0
    stages: ClassVar[int] = 0
    #: b_s of the step written as u + Δt Σ_s b_s L(u_s): how a per-stage rate (a wall flux) adds up per step
    weights: ClassVar[tuple[float, ...]] = ()
    registry: ClassVar[Registry] = Registry("time integrator", "scheme.integrator")

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        Integrator.registry.add(cls)

    def __init__(self, rhs: Rhs, like: np.ndarray, project: Hook | None = None,
                 first_stage: Hook | None = None, arrays=HostArrays):
        self.rhs = rhs
        self.project = project
        self.first_stage = first_stage
        self.arrays = arrays
        self._combine = arrays.combine
        self._v = arrays.empty_like(like)  # the one stage array all schemes need

    @property
    def nbytes(self) -> int:
        """Bytes of the stage array the integrator holds."""
        return self._v.nbytes

    def _L(self, u: np.ndarray, t: float) -> np.ndarray:
        if self.project is not None:
            self.project(u)
        du = self.rhs(u, t)
        if du is u or du.shape != u.shape:
            raise ValueError(f"rhs must return a separate array of shape {u.shape}")
        return self.arrays.flat(du)

    def _L0(self, u: np.ndarray, t: float) -> np.ndarray:
        """The first stage: L(u, t), then the first-stage hook while u is still the step's start state."""
        du = self._L(u, t)
        if self.first_stage is not None:
            self.first_stage(u)
        return du

    def step(self, u: np.ndarray, t: float, dt: float) -> np.ndarray:
        """Advance u from t to t + dt in place; returns u."""
        if u.shape != self._v.shape:
            raise ValueError(f"state shape {u.shape} differs from the integrator's {self._v.shape}")
        self._step(u, self.arrays.flat(u), self.arrays.flat(self._v), t, dt)
        return u

    def _step(self, u, uf, vf, t, dt):
        raise NotImplementedError


class ForwardEuler(Integrator):
    """u ← u + Δt L(u, t)."""

    name, order, stages = "euler", 1, 1
    weights = (1.0,)

    def _step(self, u, uf, vf, t, dt):
        du = self._L0(u, t)
        self._combine(uf, 1.0, uf, dt, du, 0.0, du)


class SSPRK2(Integrator):
    """Heun / SSP-RK2: v = u + Δt L(u); u ← ½ u + ½ v + ½ Δt L(v)."""

    name, order, stages = "ssprk2", 2, 2
    weights = (0.5, 0.5)

    def _step(self, u, uf, vf, t, dt):
        du = self._L0(u, t)
        self._combine(vf, 1.0, uf, dt, du, 0.0, du)
        du = self._L(self._v, t + dt)
        self._combine(uf, 0.5, uf, 0.5, vf, 0.5 * dt, du)


class SSPRK3(Integrator):
    """Shu–Osher SSP-RK3: v = u + Δt L(u); v ← ¾u + ¼v + ¼Δt L(v); u ← ⅓u + ⅔v + ⅔Δt L(v)."""

    name, order, stages = "ssprk3", 3, 3
    weights = (1.0 / 6.0, 1.0 / 6.0, 2.0 / 3.0)

    def _step(self, u, uf, vf, t, dt):
        du = self._L0(u, t)
        self._combine(vf, 1.0, uf, dt, du, 0.0, du)
        du = self._L(self._v, t + dt)
        self._combine(vf, 0.75, uf, 0.25, vf, 0.25 * dt, du)
        du = self._L(self._v, t + 0.5 * dt)
        self._combine(uf, 1.0 / 3.0, uf, 2.0 / 3.0, vf, 2.0 / 3.0 * dt, du)


def available() -> list[str]:
    """Names of the registered integrators."""
    return Integrator.registry.names()


def get_integrator(name: str, rhs: Rhs, like: np.ndarray, project: Hook | None = None,
                   first_stage: Hook | None = None, arrays=HostArrays) -> Integrator:
    """Build the integrator registered as ``name`` for states shaped like ``like`` (hooks: see the module;
    ``arrays``: where the state lives, :class:`HostArrays` or the GPU step's)."""
    return Integrator.registry.lookup(name)(rhs, like, project, first_stage, arrays)
