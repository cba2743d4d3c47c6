"""Smooth periodic slab problem for convergence studies (no counterpart in the papers).

x ∈ [0, 1] periodic, free streaming by default: u0 = mean + amplitude·sin(2πx), u1 = drift·u0·⟨μ²⟩-scaled
(the isotropic higher moments times u0, with the first moment set to drift·u0). Smooth and strictly
realizable, so measured orders of accuracy are the scheme's, not the limiter's at discontinuities.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from .base import Coefficients, Params, Problem, cell_average


class Periodic1DParams(Params):
    mean: float = Field(1.0, gt=0.0)
    amplitude: float = Field(0.5, ge=0.0)
    drift: float = Field(0.2, gt=-1.0, lt=1.0, description="u1 = drift · u0 (monomial/Legendre P1 = μ)")
    sigma_s: float = Field(0.0, ge=0.0)
    sigma_a: float = Field(0.0, ge=0.0)


class Periodic1D(Problem):
    name = "periodic_1d"
    dim = 1
    Params = Periodic1DParams

    @property
    def periodic(self):
        return (True,)

    def initial_moments(self, centres, spacing, basis, quad):
        p = self.p
        if p.amplitude >= p.mean:
            raise ValueError("periodic_1d needs amplitude < mean for a positive density")
        u0 = cell_average(lambda x: p.mean + p.amplitude * np.sin(2 * np.pi * x), centres, spacing, points=6)
        u = basis.isotropic(u0, quad)
        if basis.N >= 1:
            u[..., 1] = p.drift * u0  # μ is the first function of both 1D bases
        return u

    def coefficients(self, centres):
        return Coefficients(self.p.sigma_s, self.p.sigma_a, 0.0)
