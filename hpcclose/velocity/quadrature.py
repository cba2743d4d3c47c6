"""Quadrature rules for the velocity variable: the rule record and the Gauss–Legendre and product rules.

Conventions (tested): the 1D rule integrates over μ ∈ [−1, 1], weights sum to 2; the sphere rule
integrates over (μ, φ) ∈ [−1, 1] × [0, 2π), weights sum to 4π. ⟨g⟩ = Σ_q w_q g(v_q). Every rule records
the polynomial degree it integrates exactly (Lebedev rules: :mod:`.lebedev`; the hemisphere form of a
sphere rule: :mod:`.hemisphere`; which rule a run uses: :mod:`.rules`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Quadrature:
    """Nodes and weights of a velocity quadrature.

    Attributes
    ----------
    velocity : (Q, dim) transport velocities: μ in 1D, (vx, vy) in 2D.
    weights : (Q,) positive weights.
    mu, phi : (Q,) polar cosine and azimuth of every node (phi is zero in 1D).
    name : the rule as :func:`hpcclose.velocity.rules.from_name` rebuilds it (model files record it).
    degree : every polynomial of this degree or less (1D: in μ; 2D: on the sphere — on a hemisphere rule,
        those even in μ) is integrated exactly; None where unknown (a rule built by hand).
    """

    velocity: np.ndarray
    weights: np.ndarray
    mu: np.ndarray
    phi: np.ndarray
    name: str
    degree: int | None = None

    @property
    def dim(self) -> int:
        return self.velocity.shape[1]

    @property
    def size(self) -> int:
        return self.weights.size

    def describe(self) -> str:
        """The rule, its size and the polynomial degree it integrates exactly."""
        exact = "exactness unknown" if self.degree is None else f"exact to degree {self.degree}"
        return f"{self.name}: {self.size} nodes, {exact}"

    def integrate(self, values: np.ndarray) -> np.ndarray:
        """⟨values⟩ along the last axis (values has Q as its last dimension)."""
        return values @ self.weights


def gauss_legendre(order: int) -> Quadrature:
    """Gauss–Legendre rule with ``order`` nodes on μ ∈ [−1, 1] (exact for degree 2·order − 1)."""
    if order < 1:
        raise ValueError(f"quadrature order must be ≥ 1, got {order}")
    mu, w = np.polynomial.legendre.leggauss(order)
    return Quadrature(mu[:, None].copy(), w, mu, np.zeros_like(mu), f"gauss_legendre({order})", 2 * order - 1)


def sphere_product(n_mu: int, n_phi: int) -> Quadrature:
    """Product rule on the unit sphere: Gauss–Legendre in μ × uniform (trapezoidal) in φ.

    The uniform φ rule is exact for trigonometric polynomials of degree < n_phi, so the product is
    exact for spherical polynomials up to min(2 n_mu − 1, n_phi − 1). Nodes are ordered μ-major.
    """
    if n_mu < 1 or n_phi < 1:
        raise ValueError(f"sphere rule sizes must be ≥ 1, got n_mu={n_mu}, n_phi={n_phi}")
    mu1, wmu = np.polynomial.legendre.leggauss(n_mu)
    phi1 = (np.arange(n_phi) + 0.5) * (2.0 * np.pi / n_phi)
    mu, phi = (a.ravel() for a in np.meshgrid(mu1, phi1, indexing="ij"))
    w = np.outer(wmu, np.full(n_phi, 2.0 * np.pi / n_phi)).ravel()
    s = np.sqrt(1.0 - mu**2)
    vel = np.stack([s * np.cos(phi), s * np.sin(phi)], axis=1)
    return Quadrature(vel, w, mu, phi, f"sphere_product({n_mu}x{n_phi})", min(2 * n_mu - 1, n_phi - 1))
