"""Finite-volume kinetic scheme: nodal ansatz, upwind fluxes, sources, boundaries, time integrators."""

from .boundary import BoundaryCondition, apply_boundaries, fill_periodic
from .divergence import FluxDivergence
from .flux import NG, cfl_limit, flux_divergence_1d, flux_divergence_2d, max_stable_dt, nodal_values
from .integrators import Integrator, get_integrator
from .integrators import available as available_integrators
from .sources import Sources

__all__ = [
    "NG",
    "BoundaryCondition",
    "FluxDivergence",
    "Integrator",
    "Sources",
    "apply_boundaries",
    "available_integrators",
    "cfl_limit",
    "fill_periodic",
    "flux_divergence_1d",
    "flux_divergence_2d",
    "get_integrator",
    "max_stable_dt",
    "nodal_values",
]
