"""Exact scalar density of the plane-source problem in an infinite, purely scattering medium.

Ganapol (2001), "Homogeneous infinite media time-dependent analytical benchmarks": for f0 = ½δ(x)
(unit mass), σs = c = 1, the density ρ = ∫ f dμ is, with η = x/t and q = (1 + η)/(1 − η),

    ρ(x, t) = e^{−t}/(2t) · [1 + c t (1 − η²)/(4π) ∫₀^π sec²(u/2) Re(ξ² e^{c t (1 − η²) ξ/2}) du],  |η| < 1,
    ξ(u) = (log q + i u) / (η + i tan(u/2)),

and ρ = 0 for |x| > t. The leading term e^{−t}/(2t) is the uncollided density. The integrand is smooth
on [0, π] (sec² is cancelled by ξ² ~ cos²); scipy's adaptive quadrature evaluates it.
"""

from __future__ import annotations

import numpy as np
from scipy.integrate import quad


def _rho_point(x: float, t: float, c: float) -> float:
    eta = x / t
    if abs(eta) >= 1.0:
        return 0.0
    logq = np.log1p(eta) - np.log1p(-eta)
    k = 0.5 * c * t * (1.0 - eta * eta)

    def integrand(u: float) -> float:
        xi = (logq + 1j * u) / (eta + 1j * np.tan(0.5 * u))
        return float((xi * xi * np.exp(k * xi)).real / np.cos(0.5 * u) ** 2)

    integral, _ = quad(integrand, 0.0, np.pi, limit=200, epsabs=1e-13, epsrel=1e-11)
    return np.exp(-t) / (2.0 * t) * (1.0 + c * t * (1.0 - eta * eta) * integral / (4.0 * np.pi))


def plane_source_density(x: np.ndarray, t: float, c: float = 1.0) -> np.ndarray:
    """ρ(x, t) of the plane source (scattering ratio ``c``); vectorised over ``x``."""
    if t <= 0:
        raise ValueError("the plane-source density is a delta at t = 0; ask for t > 0")
    x = np.asarray(x, dtype=float)
    return np.vectorize(lambda s: _rho_point(s, t, c), otypes=[float])(x)


def plane_source_cell_averages(edges: np.ndarray, t: float, c: float = 1.0, points: int = 8) -> np.ndarray:
    """Cell averages of ρ(·, t) over cells with the given edges (Gauss rule per cell, split at |x| = t)."""
    xi, wi = np.polynomial.legendre.leggauss(points)
    out = np.empty(edges.size - 1)
    for i, (a, b) in enumerate(zip(edges[:-1], edges[1:], strict=True)):
        # the density jumps at the uncollided front x = ±t: integrate the pieces separately
        cuts = [a, *sorted(s for s in (-t, t) if a < s < b), b]
        total = 0.0
        for lo, hi in zip(cuts[:-1], cuts[1:], strict=True):
            xs = 0.5 * (lo + hi) + 0.5 * (hi - lo) * xi
            total += 0.5 * (hi - lo) * np.dot(wi, plane_source_density(xs, t, c))
        out[i] = total / (b - a)
    return out
