"""The one interface every closure implements, and the registry that finds closures by name.

A closure maps moments u (ncells, n) to the multipliers α (ncells, n) of its ansatz, batched over all
cells of a rank. The ansatz at the quadrature nodes is exp(α·m) (entropy closures, networks, splines)
or α·m (linear P_N: α are then the expansion coefficients); ``linear`` tells the flux kernels which.

Each closure declares its options (``[closure.<name>]`` in an input) as a pydantic model, ``Options``,
with the rules of every input (:data:`~hpcclose.validation.STRICT_INPUT`); the input file is checked
against it when it is read, and the constructor checks its keyword options the same way.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel, ValidationError

from ..errors import InputError, RealizabilityError
from ..kernels.moments import ansatz_moments
from ..registry import Registry
from ..validation import STRICT_INPUT, input_error
from ..velocity import Basis, Quadrature


class ClosureOptions(BaseModel):
    """Base of a closure's options: strict types, finite numbers, no unknown keys (none by default)."""

    model_config = STRICT_INPUT


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

    def reusable(self) -> np.ndarray:
        """Per cell of the call: its α is the plain answer for its moments (neither regularised nor failed)."""
        ok = np.ones(self.ncells, bool)
        ok[self.regularised] = False
        ok[self.failed] = False
        return ok

    #: fields that list cells of the call (subclasses add theirs)
    cell_lists: ClassVar[tuple[str, ...]] = ("regularised", "failed")

    def on_cells(self, cells: np.ndarray, ncells: int) -> ClosureStats:
        """These statistics of a call on the rows ``cells`` of a batch of ``ncells``, as the batch's (the
        other cells kept their α without an iteration); cell indices become the batch's."""
        mapped = {name: cells[getattr(self, name)] for name in self.cell_lists}
        return replace(self, ncells=ncells, iterations_mean=self.iterations_mean * self.ncells / max(ncells, 1),
                       **mapped)

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
    Options: ClassVar[type[ClosureOptions]] = ClosureOptions
    registry: ClassVar[Registry] = Registry("closure", "closure.name", tuple(
        f"{__package__}.{m}" for m in ("newton", "m1_exact", "pn", "spline", "neural", "hybrid")))

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        Closure.registry.add(cls)

    @classmethod
    def parse_options(cls, options: Mapping[str, Any], source: str | None = None) -> ClosureOptions:
        """``options`` validated by the closure's ``Options``; a problem is an :class:`InputError` naming
        ``closure.<name>.<key>`` (and the input file, if given)."""
        try:
            return cls.Options(**options)
        except ValidationError as exc:
            raise input_error(exc, source, f"closure.{cls.name}.") from None

    def __init__(self, basis: Basis, quad: Quadrature):
        self.basis = basis
        self.quad = quad
        # (Q, n) basis values at the nodes and the weights, contiguous for the Numba kernels
        self.m = np.ascontiguousarray(basis.evaluate(quad))
        self.w = np.ascontiguousarray(quad.weights)
        self._mT = np.ascontiguousarray(self.m.T)

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
        """Moments ⟨m ansatz⟩ of the ansatz with multipliers α, (…, n) like α; each cell's sums in a fixed
        order (:mod:`hpcclose.kernels.moments`), so a cell's result does not depend on the batch."""
        a = np.asarray(alpha, dtype=float)
        u = ansatz_moments(np.ascontiguousarray(a.reshape(-1, self.n)), self._mT, self.w, self.linear)
        return u.reshape(a.shape)

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


def unclosable_cells(u2: np.ndarray, vacuum: np.ndarray) -> tuple[np.ndarray | None, np.ndarray]:
    """(u2 with every cell no exponential closure can take — moments not finite, or u0 ≤ 0 — replaced by
    ``vacuum``, those cells' indices); (None, empty) if there are none. The solver closes a stage input so
    instead of letting the closure raise on one rank, and reports the cells as failed."""
    unclosable = ~np.isfinite(u2).all(axis=1) | ~(u2[:, 0] > 0)
    if not unclosable.any():
        return None, np.zeros(0, np.int64)
    return np.where(unclosable[:, None], vacuum, u2), np.flatnonzero(unclosable)


def _raise_offending(u: np.ndarray, bad: np.ndarray, head: str) -> None:
    """RealizabilityError "<head>: cell c: u=[…], …" naming the first three cells flagged in ``bad`` (rows
    of u); ``{}`` in ``head`` becomes the number of flagged cells."""
    cells = np.flatnonzero(bad)
    shown = ", ".join(f"cell {c}: u={np.array2string(u[c], precision=4)}" for c in cells[:3])
    more = f" (and {cells.size - 3} more)" if cells.size > 3 else ""
    raise RealizabilityError(f"{head.format(cells.size)}: {shown}{more}", cells, u[cells])


def available() -> list[str]:
    """Names of the registered closures."""
    return Closure.registry.names()


def get_closure(name: str, basis: Basis, quad: Quadrature, source: str | None = None, **options) -> Closure:
    """Instantiate the closure registered as ``name`` (as written in an input file) with its ``options``;
    errors name the key (and ``source``, the input file, if given)."""
    cls = Closure.registry.lookup(name, source)
    try:
        return cls(basis, quad, **options)
    except InputError as exc:
        raise InputError(f"{source}: {exc}" if source else str(exc)) from None
