"""Periodic 2D M1 ([B] 5.5): free streaming of a smooth periodic state; entropy must not increase.

[−1.5, 1.5]², σ = τ = 0, u0 = 1.5 + cos(2πx) cos(2πy), (u_x, u_y) = 0.3 u0 (cell-averaged), periodic.
The higher moments of an M2 (or harmonics) basis are taken isotropic, scaled by u0. t_final = 10.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from .base import Params, Problem, cell_average


class PeriodicParams(Params):
    amplitude: float = Field(1.0, description="u0 = mean + amplitude cos(2πx) cos(2πy)")
    mean: float = Field(1.5, gt=0.0)
    drift: float = Field(0.3, description="first moments = drift · u0 in x and y")


class Periodic2D(Problem):
    name = "periodic_2d"
    dim = 2
    Params = PeriodicParams

    @property
    def periodic(self):
        return (True, True)

    def initial_moments(self, centres, spacing, basis, quad):
        p = self.p
        u0 = cell_average(lambda y, x: p.mean + p.amplitude * np.cos(2 * np.pi * x) * np.cos(2 * np.pi * y),
                          centres, spacing)
        u = basis.isotropic(u0, quad)
        if basis.kind != "monomial":
            raise ValueError("periodic_2d prescribes (u0, u_x, u_y): use the monomial basis")
        u[..., 1] = p.drift * u0
        u[..., 2] = p.drift * u0
        return u
