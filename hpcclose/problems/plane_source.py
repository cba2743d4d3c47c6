"""Plane source ([A] 4.4; Ganapol 2001): a unit pulse of particles at x = 0 in a purely scattering medium.

f0 = ½ δ(x) + f_floor on [−1.1, 1.1], σs = 1, walls at f = f_floor, t_final = 1.

How the delta is put on the grid: its unit mass goes into the cell(s) containing x = 0. With an even
number of cells x = 0 is a face, and each of the two neighbouring cells gets half (density 1/(2Δx));
with an odd number the middle cell gets all of it (density 1/Δx). The discrete total mass is exactly 1
(plus the floor) on every grid. ``variant = "smooth"`` is the refined variant of [A] (1000 cells):
f0 = ½ χ[−½, ½](x) cos²(πx) + f_floor, cell-averaged by Gauss quadrature. The δ variant with σs = 1,
σa = 0 has Ganapol's exact solution (:mod:`.ganapol`), plus the floor.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from ..scheme.boundary import BoundaryCondition
from .base import Coefficients, ExactSolution, Params, Problem, cell_average, isotropic_moments
from .ganapol import plane_source_cell_averages, plane_source_density


class PlaneSourceParams(Params):
    variant: Literal["delta", "smooth"] = "delta"
    f_floor: float = Field(1e-8, gt=0.0, description="floor added to the density, also the wall value")
    sigma_s: float = Field(1.0, ge=0.0)
    sigma_a: float = Field(0.0, ge=0.0)


class PlaneSource(Problem):
    name = "plane_source"
    dim = 1
    Params = PlaneSourceParams

    @property
    def periodic(self):
        return (False,)

    def initial_moments(self, centres, spacing, basis, quad):
        x, dx = centres[0], spacing[0]
        measure = quad.weights.sum()  # ⟨1⟩ = 2: density u0 = ⟨f⟩
        rho = np.full(x.shape, self.p.f_floor * measure)
        if self.p.variant == "smooth":
            rho += cell_average(lambda s: np.where(np.abs(s) <= 0.5, np.cos(np.pi * s) ** 2, 0.0), centres,
                                spacing, points=8)
        else:
            # cells whose closed extent contains 0 share the unit mass (one or two cells, see above)
            lo, hi = x - 0.5 * dx, x + 0.5 * dx
            on_face = np.isclose(lo, 0.0, atol=1e-12 * dx) | np.isclose(hi, 0.0, atol=1e-12 * dx)
            inside = (lo < 0.0) & (hi > 0.0) & ~on_face
            rho += np.where(inside, 1.0 / dx, 0.0) + np.where(on_face, 0.5 / dx, 0.0)
        return isotropic_moments(rho, basis, quad)

    def boundary_conditions(self, quad):
        wall = BoundaryCondition.constant(self.p.f_floor, quad.size)
        return [(wall, wall)]

    def coefficients(self, centres):
        return Coefficients(self.p.sigma_s, self.p.sigma_a, 0.0)

    def exact(self, t):
        p = self.p
        if t <= 0 or p.variant != "delta" or p.sigma_s != 1.0 or p.sigma_a != 0.0:
            return None
        floor = 2.0 * p.f_floor  # ⟨1⟩ = 2

        def cell_averages(centres, spacing):
            edges = np.append(centres[0] - 0.5 * spacing[0], centres[0][-1] + 0.5 * spacing[0])
            return plane_source_cell_averages(edges, t) + floor

        return ExactSolution(t, "x", f"exact kinetic (Ganapol), t = {t:.3g}",
                             profile=lambda x: plane_source_density(x, t) + floor, cell_averages=cell_averages)
