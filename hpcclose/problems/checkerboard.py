"""Checkerboard / lattice problem (Brunner 2002): a source among absorbing squares.

[0, 7]² of unit squares. Absorbers (σa = 10, σs = 0) sit on a checkerboard pattern inside
[1, 6]² minus the centre column's middle: squares (i, j) with i + j even, 1 ≤ i, j ≤ 5, excluding
(3, 3) — the source square [3, 4]² (σs = 1, isotropic source 1) — and (3, 5). Elsewhere σs = 1,
σa = 0. Vacuum boundaries (floor), t_final = 3.2. Cells are classified by their centre, so choose
cell counts that are multiples of 7 for the squares to be resolved exactly.

The same lattice as Schotthöfer & Hauck 2025 (arXiv 2505.17284) and KiT-RT's ``LATTICE``, there on
[−3.5, 3.5]². Quantity of interest: the absorption ∫ σa u0 dA in the absorbing squares ("absorbers"),
cumulated over time.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from ..scheme.boundary import BoundaryCondition
from .base import Coefficients, Params, Problem, isotropic_moments


class CheckerboardParams(Params):
    floor: float = Field(1e-10, gt=0.0, description="floor of the angular density f (initial and walls)")
    sigma_absorber: float = Field(10.0, ge=0.0)
    sigma_scatter: float = Field(1.0, ge=0.0)
    source: float = Field(1.0, ge=0.0, description="isotropic source density in the centre square")


def absorber_mask(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """True inside the absorbing squares of the lattice."""
    i, j = np.floor(x).astype(int), np.floor(y).astype(int)
    board = ((i + j) % 2 == 0) & (i >= 1) & (i <= 5) & (j >= 1) & (j <= 5)
    return board & ~((i == 3) & ((j == 3) | (j == 5)))


def source_mask(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return (x >= 3.0) & (x <= 4.0) & (y >= 3.0) & (y <= 4.0)


class Checkerboard(Problem):
    name = "checkerboard"
    dim = 2
    Params = CheckerboardParams

    @property
    def periodic(self):
        return (False, False)

    def initial_moments(self, centres, spacing, basis, quad):
        shape = tuple(c.size for c in centres)
        return isotropic_moments(np.full(shape, self.p.floor * quad.weights.sum()), basis, quad)

    def boundary_conditions(self, quad):
        wall = BoundaryCondition.constant(self.p.floor, quad.size)
        return [(wall, wall), (wall, wall)]

    def absorption_regions(self, centres):
        y, x = np.meshgrid(*centres, indexing="ij")
        return {"absorbers": absorber_mask(x, y)}

    def coefficients(self, centres):
        y, x = np.meshgrid(*centres, indexing="ij")
        absorb = absorber_mask(x, y)
        return Coefficients(sigma_s=np.where(absorb, 0.0, self.p.sigma_scatter),
                            sigma_a=np.where(absorb, self.p.sigma_absorber, 0.0),
                            source=np.where(source_mask(x, y), self.p.source, 0.0))
