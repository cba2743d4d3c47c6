"""Anisotropic inflow ([B] 5.4, Table 3): particles stream into an absorbing, scattering slab.

x ∈ [0, 1], vacuum initial state f = ε, inflow f = 0.5 for μ > 0 at x = 0 (ε for μ ≤ 0: only the
incoming nodes enter the upwind flux), far field (zero gradient) at x = 1, σs = 1, σa = 0.5,
t ∈ (0, 0.7], first-order upwind + Euler, CFL 0.4, 28-point Gauss–Legendre, monomial basis.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from ..scheme.boundary import BoundaryCondition
from .base import Coefficients, Params, Problem, isotropic_moments


class InflowParams(Params):
    epsilon: float = Field(1e-8, gt=0.0, description="vacuum safety floor ε of the initial density")
    inflow: float = Field(0.5, gt=0.0, description="incoming density for μ > 0 at x = 0")
    sigma_s: float = Field(1.0, ge=0.0)
    sigma_a: float = Field(0.5, ge=0.0)


class Inflow(Problem):
    name = "inflow"
    dim = 1
    Params = InflowParams

    @property
    def periodic(self):
        return (False,)

    def initial_moments(self, centres, spacing, basis, quad):
        rho = np.full(centres[0].shape, self.p.epsilon * quad.weights.sum())
        return isotropic_moments(rho, basis, quad)

    def boundary_conditions(self, quad):
        left = np.where(quad.velocity[:, 0] > 0.0, self.p.inflow, self.p.epsilon)
        return [(BoundaryCondition("prescribed", left), BoundaryCondition("farfield"))]

    def coefficients(self, centres):
        return Coefficients(self.p.sigma_s, self.p.sigma_a, 0.0)
