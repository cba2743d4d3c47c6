"""The hemisphere form of a sphere rule: nodes with μ > 0, weights doubled (nodes on the equator kept as
they are).

In 2D (x, y) problems the angular density is even in μ = Ωz, and so is every basis function and the
transport velocity (vx, vy). A rule symmetric under μ → −μ (product rules, Lebedev rules) integrates such a
function with its upper half alone: ⟨g⟩ = Σ_{μ_q > 0} 2 w_q g(v_q) + Σ_{μ_q = 0} w_q g(v_q). Closure, flux
and sources give the full rule's results to round-off at half the nodes (half the memory and work per
cell).
"""

from __future__ import annotations

import re

import numpy as np

from .quadrature import Quadrature

#: How a hemisphere rule's name wraps the name of the sphere rule it is folded from.
NAME = re.compile(r"hemisphere\((.+)\)")
#: |μ| below this is the equator (Lebedev rules put nodes there; their μ is zero to round-off).
EQUATOR = 1e-12


def hemisphere(quad: Quadrature) -> Quadrature:
    """Fold a sphere rule that is symmetric under μ → −μ to μ ≥ 0 (ValueError for any other rule)."""
    if quad.dim != 2:
        raise ValueError(f"the hemisphere form needs a sphere rule, not the 1D {quad.name}")
    if NAME.fullmatch(quad.name):
        return quad
    upper, equator, lower = quad.mu > EQUATOR, np.abs(quad.mu) <= EQUATOR, quad.mu < -EQUATOR
    if not _mirrored(quad, upper, lower):
        raise ValueError(f"{quad.name} is not symmetric under μ → −μ: it has no hemisphere form")
    keep = upper | equator
    w = np.where(upper, 2.0 * quad.weights, quad.weights)[keep]
    mu = np.where(equator, 0.0, quad.mu)[keep]
    return Quadrature(np.ascontiguousarray(quad.velocity[keep]), w, mu, quad.phi[keep].copy(),
                      f"hemisphere({quad.name})", quad.degree)


def _mirrored(quad: Quadrature, upper: np.ndarray, lower: np.ndarray) -> bool:
    """Every node below the equator is the mirror image of one above it, with the same weight."""
    if upper.sum() != lower.sum():
        return False
    key = np.round(np.column_stack([quad.velocity, np.abs(quad.mu), quad.weights]), 12)
    above, below = key[upper], key[lower]
    return np.array_equal(above[np.lexsort(above.T[::-1])], below[np.lexsort(below.T[::-1])])
