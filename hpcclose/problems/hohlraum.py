"""Symmetric hohlraum (Brunner 2002; as defined by Schotthöfer & Hauck 2025, arXiv 2505.17284, and KiT-RT's
``SYMMETRIC_HOHLRAUM``): radiation entering a cavity through its side walls heats a capsule.

[−0.65, 0.65]², t_final = 2.6, vacuum (the floor) inside at t = 0. Materials (σs, σa = σt − σs), later
rules overriding earlier ones, each cell by its centre:

- white (the cavity): σs = 0.1, σa = 0;
- red (vertical walls): x < −0.6 with y in (red_left_bottom, red_left_top), x > 0.6 with y in
  (red_right_bottom, red_right_top): σs = 95, σa = 5;
- green (capsule shell): |x − cx| < 0.2, |y − cy| < 0.4: σs = 90, σa = 10;
- blue (capsule interior): |x − cx| < 0.15, |y − cy| < 0.35: σs = 0, σa = 100;
- black (horizontal walls): |y| > 0.6: σs = 50, σa = 50.

Walls: an isotropic inflow f = 1 (``inflow``) on the incoming nodes (vx > 0 at x = −0.65, vx < 0 at x =
0.65) where |y| < 0.6; the floor elsewhere. Quantities of interest (KiT-RT's HPC solver, ``SNSolverHPC``,
which made the paper's data): the absorption ∫ σa u0 dA in the capsule ("center": the whole green box
|x − cx| < 0.2, |y − cy| < 0.4; KiT-RT's ``SymmetricHohlraum`` class alone sums |y| < 0.35), the red walls
("vertical") and the black walls ("horizontal"), cumulated over time. KiT-RT's 2D scalar flux integrates
over one hemisphere (weights summing to 2π), so its absorption values are half of these (u0 integrates over
the sphere). Cells are classified by their centre: cell counts that are multiples of 26 (Δx dividing 0.05)
resolve every interface. The sources are explicit and Δt follows the transport CFL alone, so σt Δt ≤ 1
(σt = 100) needs Δx ≤ 0.04 at cfl 0.95: 52 cells or more per axis.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from ..scheme.boundary import BoundaryCondition
from .base import Coefficients, Params, Problem, isotropic_moments

#: (σs, σa) of each material.
WHITE, RED, GREEN, BLUE, BLACK = (0.1, 0.0), (95.0, 5.0), (90.0, 10.0), (0.0, 100.0), (50.0, 50.0)
#: |y| beyond which the black walls lie (and the side walls let nothing in).
BLACK_Y = 0.6


class HohlraumParams(Params):
    floor: float = Field(1e-10, gt=0.0, description="floor of the angular density f (initial and walls)")
    inflow: float = Field(1.0, gt=0.0, description="incoming density f at the side walls where |y| < 0.6")
    capsule_x: float = Field(0.0, ge=-0.25, le=0.25, description="x of the capsule's centre")
    capsule_y: float = Field(0.0, ge=-0.15, le=0.15, description="y of the capsule's centre")
    red_left_top: float = Field(0.4, gt=0.0, lt=BLACK_Y)
    red_left_bottom: float = Field(-0.4, gt=-BLACK_Y, lt=0.0)
    red_right_top: float = Field(0.4, gt=0.0, lt=BLACK_Y)
    red_right_bottom: float = Field(-0.4, gt=-BLACK_Y, lt=0.0)
    red_left_border: float = Field(-0.6, gt=-0.65, lt=-0.4, description="inner x of the left red wall")
    red_right_border: float = Field(0.6, gt=0.4, lt=0.65, description="inner x of the right red wall")


class Hohlraum(Problem):
    name = "hohlraum"
    dim = 2
    Params = HohlraumParams

    @property
    def periodic(self):
        return (False, False)

    def initial_moments(self, centres, spacing, basis, quad):
        # the side walls' inflow depends on y: keep this rank's rows for boundary_conditions, which the
        # solver asks for after the initial state
        self._rows = centres[0]
        shape = tuple(c.size for c in centres)
        return isotropic_moments(np.full(shape, self.p.floor * quad.weights.sum()), basis, quad)

    def boundary_conditions(self, quad):
        if not hasattr(self, "_rows"):
            raise RuntimeError("hohlraum: boundary_conditions needs the owned rows (call initial_moments first)")
        vx, open_rows = quad.velocity[:, 0], (np.abs(self._rows) < BLACK_Y)[:, None, None]
        floor = np.full(quad.size, self.p.floor)
        left = np.where(open_rows, np.where(vx > 0.0, self.p.inflow, self.p.floor), floor)
        right = np.where(open_rows, np.where(vx < 0.0, self.p.inflow, self.p.floor), floor)
        wall = BoundaryCondition.constant(self.p.floor, quad.size)
        return [(wall, wall), (BoundaryCondition("prescribed", left), BoundaryCondition("prescribed", right))]

    def materials(self, centres: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """(σs, σa) on the cells with these centres (array order (y, x))."""
        y, x = np.meshgrid(*centres, indexing="ij")
        p = self.p
        sigma = np.empty(x.shape + (2,))
        sigma[...] = WHITE
        sigma[self._red(x, y)] = RED
        dx, dy = np.abs(x - p.capsule_x), np.abs(y - p.capsule_y)
        sigma[(dx < 0.2) & (dy < 0.4)] = GREEN
        sigma[(dx < 0.15) & (dy < 0.35)] = BLUE
        sigma[np.abs(y) > BLACK_Y] = BLACK
        return sigma[..., 0], sigma[..., 1]

    def _red(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        p = self.p
        return (((x < p.red_left_border) & (y > p.red_left_bottom) & (y < p.red_left_top))
                | ((x > p.red_right_border) & (y > p.red_right_bottom) & (y < p.red_right_top)))

    def coefficients(self, centres):
        sigma_s, sigma_a = self.materials(centres)
        return Coefficients(sigma_s=sigma_s, sigma_a=sigma_a, source=0.0)

    def absorption_regions(self, centres):
        y, x = np.meshgrid(*centres, indexing="ij")
        p = self.p
        # "center" as KiT-RT's SNSolverHPC (the paper's data) sums it: the whole green box around the capsule
        return {"center": (np.abs(x - p.capsule_x) < 0.2) & (np.abs(y - p.capsule_y) < 0.4),
                "vertical": self._red(x, y), "horizontal": np.abs(y) > BLACK_Y}
