"""The benchmark-problem interface and its registry by name (``[problem] name = "…"``).

A problem supplies, for the cells a rank owns: initial moments, the space-dependent coefficients
(σs, σa, isotropic source), and per-side boundary conditions given as nodal densities. Parameters come
from the input's ``[problem]`` table and are validated by the problem's ``Params`` model (defaults =
the paper's values), so errors name ``problem.<key>``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from pydantic import BaseModel, ValidationError

from ..registry import Registry
from ..scheme.boundary import BoundaryCondition
from ..validation import STRICT_INPUT, input_error
from ..velocity import Basis, Quadrature


class Params(BaseModel):
    """Base of problem parameter models: the rules of every input (:data:`~hpcclose.validation.STRICT_INPUT`:
    unknown keys, inf / nan and loose types are errors)."""

    model_config = STRICT_INPUT


@dataclass
class Coefficients:
    """Scattering, absorption and isotropic source density (scalars or arrays over owned cells)."""

    sigma_s: float | np.ndarray = 0.0
    sigma_a: float | np.ndarray = 0.0
    source: float | np.ndarray = 0.0


@dataclass(frozen=True)
class ExactSolution:
    """A problem's exact density u0 = ⟨f⟩ at time ``t`` (its floor included), for plots and error tables.

    ``coordinate`` is "x" (1D: the position) or "r" (2D, radially symmetric: the distance from the origin);
    ``profile(values)`` gives u0 at those coordinate values; ``cell_averages(centres, spacing)`` gives u0
    averaged over the cells with those per-axis centres and widths (array order), as a run's cells hold it.
    """

    t: float
    coordinate: str
    label: str
    profile: Callable[[np.ndarray], np.ndarray]
    cell_averages: Callable[[tuple[np.ndarray, ...], tuple[float, ...]], np.ndarray]


class Problem(ABC):
    """Subclasses set ``name``, ``dim``, ``Params`` and implement the three hooks below."""

    name: ClassVar[str] = ""
    dim: ClassVar[int] = 1
    Params: ClassVar[type[Params]] = Params
    registry: ClassVar[Registry] = Registry("problem", "problem.name", tuple(
        f"{__package__}.{m}" for m in ("checkerboard", "hohlraum", "inflow", "line_source", "periodic1d",
                                       "periodic2d", "plane_source")))

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        Problem.registry.add(cls)

    def __init__(self, params: dict, source: str = "<input>"):
        try:
            self.p = self.Params(**params)
        except ValidationError as exc:
            raise input_error(exc, source, "problem.", f" (problem {self.name!r})") from None

    # --- hooks --------------------------------------------------------------------------------------
    @property
    @abstractmethod
    def periodic(self) -> tuple[bool, ...]:
        """Periodicity per array axis ((x,) or (y, x))."""

    @abstractmethod
    def initial_moments(self, centres: tuple[np.ndarray, ...], spacing: tuple[float, ...],
                        basis: Basis, quad: Quadrature) -> np.ndarray:
        """Cell-averaged initial moments on the owned cells, shape (cells…, n)."""

    def boundary_conditions(self, quad: Quadrature) -> list[tuple[BoundaryCondition, BoundaryCondition]]:
        """(low, high) condition per array axis; periodic axes get 'periodic'."""
        return [(BoundaryCondition("periodic"),) * 2 for _ in range(self.dim)]

    def coefficients(self, centres: tuple[np.ndarray, ...]) -> Coefficients:
        """σs, σa and source on the owned cells (scalars when constant)."""
        return Coefficients()

    def exact(self, t: float) -> ExactSolution | None:
        """The exact solution at time ``t`` > 0 where one is known for these parameters, else None."""
        return None

    def absorption_regions(self, centres: tuple[np.ndarray, ...]) -> dict[str, np.ndarray]:
        """Named regions (boolean masks over the owned cells) whose absorption ∫ σa u0 dA is a quantity of
        interest of the problem (:class:`~hpcclose.stepping.absorption.AbsorptionRecorder`); none by default."""
        return {}

    def describe(self) -> str:
        return f"{self.name} ({', '.join(f'{k}={v}' for k, v in self.p.model_dump().items())})"


def isotropic_moments(density: np.ndarray, basis: Basis, quad: Quadrature) -> np.ndarray:
    """Moments of the isotropic angular density with scalar density ``density`` (= u0), per cell."""
    return basis.isotropic(np.asarray(density, float), quad)


def cell_average(func, centres: tuple[np.ndarray, ...], spacing: tuple[float, ...], points: int = 4):
    """Average of ``func(*coords)`` over each cell by a ``points``-point Gauss rule per axis.

    ``centres`` are the per-axis owned-cell centres in array order; the result has the shape of the
    owned block. Exact for polynomials of degree 2·points − 1 in each direction.
    """
    xi, wi = np.polynomial.legendre.leggauss(points)
    wi = wi / 2.0
    grids = np.meshgrid(*centres, indexing="ij")
    total = 0.0
    for idx in np.ndindex(*(points,) * len(centres)):
        coords = [g + 0.5 * h * xi[i] for g, h, i in zip(grids, spacing, idx, strict=True)]
        total = total + np.prod([wi[i] for i in idx]) * func(*coords)
    return total


def available() -> list[str]:
    """Names of the registered problems."""
    return Problem.registry.names()


def get_problem(name: str, params: dict, source: str = "<input>") -> Problem:
    """Instantiate the problem registered as ``name`` with its validated parameters."""
    return Problem.registry.lookup(name, source)(params, source)
