"""Quadrature rules for the velocity variable.

Conventions (tested): the 1D rule integrates over μ ∈ [−1, 1], weights sum to 2; the sphere rule
integrates over (μ, φ) ∈ [−1, 1] × [0, 2π), weights sum to 4π. ⟨g⟩ = Σ_q w_q g(v_q).
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
    """

    velocity: np.ndarray
    weights: np.ndarray
    mu: np.ndarray
    phi: np.ndarray
    name: str

    @property
    def dim(self) -> int:
        return self.velocity.shape[1]

    @property
    def size(self) -> int:
        return self.weights.size

    def integrate(self, values: np.ndarray) -> np.ndarray:
        """⟨values⟩ along the last axis (values has Q as its last dimension)."""
        return values @ self.weights


def gauss_legendre(order: int) -> Quadrature:
    """Gauss–Legendre rule with ``order`` nodes on μ ∈ [−1, 1] (exact for degree 2·order − 1)."""
    if order < 1:
        raise ValueError(f"quadrature order must be ≥ 1, got {order}")
    mu, w = np.polynomial.legendre.leggauss(order)
    return Quadrature(mu[:, None].copy(), w, mu, np.zeros_like(mu), f"gauss_legendre({order})")


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
    return Quadrature(vel, w, mu, phi, f"sphere_product({n_mu}x{n_phi})")
