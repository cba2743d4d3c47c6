"""Lebedev rules on the unit sphere, from SciPy (``scipy.integrate.lebedev_rule``, SciPy ≥ 1.15).

A Lebedev rule of order D integrates every spherical polynomial of degree ≤ D exactly with about
(D + 1)²/3 nodes (degree 19: 146 nodes, against 400 for the 20 × 20 product rule of the same degree).
Its octahedral symmetry contains μ → −μ, so it folds to the hemisphere (:mod:`.hemisphere`), and the
quarter turns about Ωz, so x and y are treated alike. Orders 13, 25 and 27 have a negative weight: a
negative weight breaks the positivity of the discrete measure (realizability, the kinetic scheme), so
they are never used — a degree asking for one gets the next order up.
"""

from __future__ import annotations

import numpy as np
from scipy.integrate import lebedev_rule

from .quadrature import Quadrature

#: Orders SciPy provides whose weights are all positive (13, 25 and 27 are left out, see above).
ORDERS = (3, 5, 7, 9, 11, 15, 17, 19, 21, 23, 29, 31, 35, 41, 47, 53, 59, 65, 71, 77, 83, 89, 95, 101,
          107, 113, 119, 125, 131)
MAX_DEGREE = ORDERS[-1]


def order_for(degree: int) -> int:
    """The smallest order (= exact degree) of a positive Lebedev rule that integrates ``degree`` exactly."""
    if degree > MAX_DEGREE:
        raise ValueError(f"no Lebedev rule integrates degree {degree} exactly (the largest is {MAX_DEGREE}); "
                         "use the product rule")
    return next(order for order in ORDERS if order >= degree)


def lebedev(degree: int) -> Quadrature:
    """The smallest positive Lebedev rule exact to polynomial degree ``degree`` (weights sum to 4π)."""
    order = order_for(max(int(degree), 1))
    x, w = lebedev_rule(order)
    mu = np.clip(x[2], -1.0, 1.0)
    phi = np.mod(np.arctan2(x[1], x[0]), 2.0 * np.pi)
    # (vx, vy) straight from the rule's unit vectors: no round trip through (μ, φ)
    vel = np.ascontiguousarray(x[:2].T)
    return Quadrature(vel, np.ascontiguousarray(w), mu, phi, f"lebedev({order})", order)
