"""The one interface every closure implements, and the registry that finds closures by name.

A closure maps moments u (ncells, n) to the multipliers α (ncells, n) of its ansatz, batched over all
cells of a rank. The ansatz at the quadrature nodes is exp(α·m) (entropy closures, networks, splines)
or α·m (linear P_N: α are then the expansion coefficients); ``linear`` tells the flux kernels which.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from ..errors import InputError, RealizabilityError
from ..velocity import Basis, Quadrature


@dataclass
class ClosureStats:
    """What one batched closure call did, for diagnostics and for the caller to decide on failures.

    ``regularised``/``reg_r``: cells solved for the regularised moments (1 − r)u + r·u_iso, and r.
    ``failed``/``failed_moments``: cells with no acceptable answer (their α is finite but wrong).
    """

    ncells: int = 0
    iterations_mean: float = 0.0
    iterations_max: int = 0
    regularised: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    reg_r: np.ndarray = field(default_factory=lambda: np.zeros(0))
    failed: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    failed_moments: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))

    @property
    def ok(self) -> bool:
        return self.failed.size == 0

    def summary(self) -> str:
        s = f"{self.ncells} cells, iterations mean {self.iterations_mean:.2f} max {self.iterations_max}"
        if self.regularised.size:
            s += f", {self.regularised.size} regularised (max r {self.reg_r.max():.1e})"
        if self.failed.size:
            s += f", {self.failed.size} FAILED"
        return s


class Closure(ABC):
    """Base class: subclasses set ``name`` (the registry key) and implement :meth:`multipliers`."""

    name: ClassVar[str] = ""
    linear: ClassVar[bool] = False
    _registry: ClassVar[dict[str, type[Closure]]] = {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.name:
            Closure._registry[cls.name] = cls

    def __init__(self, basis: Basis, quad: Quadrature):
        self.basis = basis
        self.quad = quad
        # (Q, n) basis values at the nodes and the weights, contiguous for the Numba kernels
        self.m = np.ascontiguousarray(basis.evaluate(quad))
        self.w = np.ascontiguousarray(quad.weights)

    @property
    def n(self) -> int:
        return self.basis.n

    # --- the batched call -------------------------------------------------------------------------
    @abstractmethod
    def multipliers(self, u: np.ndarray, alpha0: np.ndarray | None = None) -> tuple[np.ndarray, ClosureStats]:
        """Multipliers α (ncells, n) of the ansatz whose moments are u; ``alpha0`` is a warm start."""

    # --- derived quantities, shared by all closures ------------------------------------------------
    def ansatz(self, alpha: np.ndarray) -> np.ndarray:
        """Ansatz values at the quadrature nodes, (ncells, Q)."""
        z = np.asarray(alpha) @ self.m.T
        return z if self.linear else np.exp(z)

    def moments(self, alpha: np.ndarray) -> np.ndarray:
        """Moments ⟨m ansatz⟩ of the ansatz with multipliers α, (ncells, n)."""
        return (self.ansatz(alpha) * self.w) @ self.m

    def entropy(self, u: np.ndarray, alpha: np.ndarray | None = None) -> np.ndarray:
        """Entropy density h(u) per cell: α·u − ⟨e^{α·m}⟩ (Maxwell–Boltzmann); ½⟨(α·m)²⟩ for linear."""
        if alpha is None:
            alpha, _ = self.multipliers(u)
        if self.linear:
            return 0.5 * np.einsum("ij,ij->i", alpha, u)
        return np.einsum("ij,ij->i", alpha, u) - self.ansatz(alpha) @ self.w

    def as_cells(self, u: np.ndarray, where: str, positive: bool = False) -> tuple[np.ndarray, tuple[int, ...]]:
        """The input check every closure starts with: (u as a float (ncells, n) array, u's shape).

        One cell may come as (n,), a batch with any leading axes as (…, n); closures give α back in u's
        shape. ``where`` names the closure in errors. Raises ValueError if the last axis is not n; with
        ``positive``, :class:`RealizabilityError` naming the first offending cells if some moments are not
        finite or have u0 ≤ 0 (the cheap test an exponential closure needs before it takes log u0; full
        realizability is :meth:`check_realizable`).
        """
        u = np.asarray(u, dtype=float)
        if u.ndim == 0 or u.shape[-1] != self.n:
            raise ValueError(f"{where}: moments must have shape (ncells, {self.n}), got {u.shape}")
        u2 = u.reshape(-1, self.n)
        if positive:
            bad = ~np.isfinite(u2).all(axis=1) | ~(u2[:, 0] > 0)
            if bad.any():
                _raise_offending(u2, bad, f"{where} input: {{}} moment vector(s) non-finite or with u0 ≤ 0")
        return u2, u.shape

    def check_realizable(self, u: np.ndarray, where: str = "input") -> None:
        """Raise :class:`RealizabilityError` naming the first offending cells if u is not realizable."""
        u = np.asarray(u)
        bad = ~np.all(np.isfinite(u), axis=-1)
        if not self.linear:
            bad |= ~self.basis.is_realizable(u)
        if bad.any():
            _raise_offending(u, bad, f"{where}: {{}} non-realizable moment vector(s)")


def _raise_offending(u: np.ndarray, bad: np.ndarray, head: str) -> None:
    """RealizabilityError "<head>: cell c: u=[…], …" naming the first three cells flagged in ``bad`` (rows
    of u); ``{}`` in ``head`` becomes the number of flagged cells."""
    cells = np.flatnonzero(bad)
    shown = ", ".join(f"cell {c}: u={np.array2string(u[c], precision=4)}" for c in cells[:3])
    more = f" (and {cells.size - 3} more)" if cells.size > 3 else ""
    raise RealizabilityError(f"{head.format(cells.size)}: {shown}{more}", cells, u[cells])


def available() -> list[str]:
    """Names of the registered closures."""
    _import_builtin()
    return sorted(Closure._registry)


def get_closure(name: str, basis: Basis, quad: Quadrature, **options) -> Closure:
    """Instantiate the closure registered as ``name`` (as written in an input file)."""
    _import_builtin()
    try:
        cls = Closure._registry[name]
    except KeyError:
        raise InputError(f"closure.name: unknown closure {name!r}; available: {', '.join(available())}") from None
    accepted = [p for p in inspect.signature(cls.__init__).parameters if p not in ("self", "basis", "quad")]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise InputError(f"closure.{name}.{unknown[0]}: unknown option for closure {name!r}; "
                         f"options: {', '.join(accepted) or 'none'}")
    return cls(basis, quad, **options)


def _import_builtin() -> None:
    """Import the modules that register the built-in closures (lazily: some import Numba)."""
    import importlib

    for mod in ("newton", "m1_exact", "pn", "spline", "neural", "hybrid"):
        try:
            importlib.import_module(f"{__package__}.{mod}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__package__}.{mod}":
                raise
