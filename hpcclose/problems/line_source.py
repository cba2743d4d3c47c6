"""Line source (Garrett & Hauck 2013, TTSP 42): a pulse on the line x = y = 0 in a scattering medium.

[−1.5, 1.5]², σs = 1, σa = 0, t_final = 1. The δ is smoothed to a Gaussian of width s = 0.03 (the
benchmark's choice): density ρ0 = exp(−r²/(2s²))/(2πs²) (unit mass) + a floor ρ_floor = 1e−4·⟨1⟩/(4π),
cell-averaged; the angular density is isotropic. Walls hold the floor value (the pulse never reaches
them before t = 1). The exact solution (:mod:`.line_source_exact`, σs = 1, σa = 0) is the line-source
kernel convolved with the same Gaussian, plus the floor.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from ..scheme.boundary import BoundaryCondition
from .base import Coefficients, ExactSolution, Params, Problem, cell_average, isotropic_moments
from .line_source_exact import line_source_cell_averages, radial_density

#: ⟨1⟩ of every 2D (sphere) rule: the floor's density is floor · 4π.
SPHERE = 4.0 * np.pi


class LineSourceParams(Params):
    width: float = Field(0.03, gt=0.0, description="standard deviation s of the smoothed pulse")
    floor: float = Field(1e-4 / (4 * np.pi), gt=0.0, description="floor of the angular density f")
    sigma_s: float = Field(1.0, ge=0.0)
    sigma_a: float = Field(0.0, ge=0.0)


class LineSource(Problem):
    name = "line_source"
    dim = 2
    Params = LineSourceParams

    @property
    def periodic(self):
        return (False, False)

    def initial_moments(self, centres, spacing, basis, quad):
        s = self.p.width
        rho = cell_average(lambda y, x: np.exp(-(x * x + y * y) / (2 * s * s)) / (2 * np.pi * s * s),
                           centres, spacing, points=6)
        return isotropic_moments(rho + self.p.floor * quad.weights.sum(), basis, quad)

    def boundary_conditions(self, quad):
        wall = BoundaryCondition.constant(self.p.floor, quad.size)
        return [(wall, wall), (wall, wall)]

    def coefficients(self, centres):
        return Coefficients(self.p.sigma_s, self.p.sigma_a, 0.0)

    def exact(self, t):
        p = self.p
        if t <= 0 or p.sigma_s != 1.0 or p.sigma_a != 0.0:
            return None
        floor = p.floor * SPHERE
        return ExactSolution(
            t, "r", f"exact kinetic (Ganapol), t = {t:.3g}",
            profile=lambda r: radial_density(r, t, p.width) + floor,
            cell_averages=lambda centres, spacing: line_source_cell_averages(centres, spacing, t, p.width) + floor)
