"""Exact scalar density of the line source in an infinite, purely scattering medium (σs = σt = 1).

A unit mass of particles on the line x = y = 0 at t = 0, isotropic. With η = r/t < 1 (Ganapol, "Homogeneous
infinite media time-dependent analytical benchmarks", LA-UR-01-1854, 2001; Garrett & Hauck, TTSP 42, 2013):

    φ(r, t) = e^{−t} / (2π t² √(1 − η²))  +  2t ∫₀^{√(1−η²)} φ_pt(t √(η² + w²), t) dw,

where φ_pt is the collided density of a unit point source at distance R, γ = R/t < 1, q = (1 + γ)/(1 − γ):

    φ_pt(R, t) = e^{−t}/(4π R t) · log q
               + e^{−t}/(32 π² R) · (1 − γ²) ∫₀^π sec²(u/2) Re[(γ + i tan(u/2)) β³ e^{t (1 − γ²) β / 2}] du,
    β(u) = (log q + i u) / (γ + i tan(u/2)).

The first term of φ_pt is the once-collided density; the first term of φ the uncollided one; φ = 0 for r ≥ t.
Both integrands are smooth on fixed Gauss–Legendre rules once the logarithmic end point of the line integral
(R → t) is mapped away (w = w_max sin θ, θ = π/2 (1 − (1 − s)²)): 32 × 48 nodes give ~1e−12 relative.

A pulse smoothed to a Gaussian of standard deviation ``width`` (the benchmark's initial data) is the same
kernel convolved with that Gaussian, a radial integral with the kernel exp(−(r − r')²/2s²) I0(r r'/s²)/s²,
done on panels of width s/2 (the uncollided ring through r' = t sin θ, which removes its square-root
singularity).
"""

from __future__ import annotations

from functools import cache

import numpy as np
from scipy.special import i0e

from .base import cell_average

#: Gauss–Legendre nodes of the inner (u), the line (s) and each panel's radial integral.
_U_NODES, _LINE_NODES, _PANEL_NODES = 48, 32, 12


@cache
def _gauss(n: int, a: float, b: float) -> tuple[np.ndarray, np.ndarray]:
    """Gauss–Legendre nodes and weights on [a, b]."""
    x, w = np.polynomial.legendre.leggauss(n)
    return 0.5 * (b - a) * x + 0.5 * (b + a), 0.5 * (b - a) * w


def point_source_collided(R: np.ndarray, t: float, one_minus_g2: np.ndarray | None = None) -> np.ndarray:
    """Collided density φ_pt(R, t) of a unit point source (c = 1), for 0 < R < t; vectorised over ``R``.

    ``one_minus_g2`` may pass 1 − (R/t)² computed without cancellation (near R = t).
    """
    R = np.asarray(R, dtype=float)
    g = R / t
    omg2 = 1.0 - g * g if one_minus_g2 is None else np.asarray(one_minus_g2, dtype=float)
    # log q = log(1 + γ) − log(1 − γ), with 1 − γ = (1 − γ²)/(1 + γ) exact near γ = 1
    logq = (np.log1p(g) - np.log(omg2 / (1.0 + g)))[..., None]
    u, wu = _gauss(_U_NODES, 0.0, np.pi)
    tan = np.tan(0.5 * u)
    gc = g[..., None] + 1j * tan
    beta = (logq + 1j * u) / gc
    inner = (gc * beta**3 * np.exp(0.5 * t * omg2[..., None] * beta)).real / np.cos(0.5 * u) ** 2
    once = np.exp(-t) / (4.0 * np.pi * R * t) * logq[..., 0]
    return once + np.exp(-t) / (32.0 * np.pi**2 * R) * omg2 * (inner @ wu)


def uncollided_density(r: np.ndarray, t: float) -> np.ndarray:
    """Uncollided density e^{−t}/(2π t² √(1 − η²)) of the unit line source (0 for r ≥ t)."""
    eta = np.asarray(r, dtype=float) / t
    inside = eta < 1.0
    root = np.sqrt(np.where(inside, 1.0 - eta * eta, 1.0))
    return np.where(inside, np.exp(-t) / (2.0 * np.pi * t * t * root), 0.0)


def collided_density(r: np.ndarray, t: float) -> np.ndarray:
    """Collided density 2t ∫ φ_pt dw of the unit line source (0 for r ≥ t); vectorised over ``r``."""
    eta = np.atleast_1d(np.asarray(r, dtype=float)) / t
    out = np.zeros(eta.shape)
    inside = eta < 1.0
    e = eta[inside][:, None]
    # w = w_max sin θ, θ = π/2 (1 − (1 − s)²): the log singularity at w = w_max becomes (1 − s)³ log(1 − s)
    s, ws = _gauss(_LINE_NODES, 0.0, 1.0)
    theta = 0.5 * np.pi * (1.0 - (1.0 - s) ** 2)
    jac = ws * np.pi * (1.0 - s) * np.cos(theta)
    wmax2 = 1.0 - e * e
    w2 = wmax2 * np.sin(theta) ** 2
    R = t * np.sqrt(e * e + w2)
    phi = point_source_collided(R, t, one_minus_g2=wmax2 * np.cos(theta) ** 2)
    out[inside] = 2.0 * t * np.sqrt(wmax2[:, 0]) * (phi @ jac)
    return out.reshape(np.shape(r))


def _gaussian_kernel(r: np.ndarray, rp: np.ndarray, s: float) -> np.ndarray:
    """The 2D Gaussian of std s integrated over the angle between radii r and r': (len r, len r')."""
    r, rp = r[:, None], rp[None, :]
    return np.exp(-((r - rp) ** 2) / (2.0 * s * s)) * i0e(r * rp / (s * s)) / (s * s)


def radial_density(r: np.ndarray, t: float, width: float = 0.0) -> np.ndarray:
    """Exact density φ(r, t) of a unit line pulse (σs = σt = 1), r the distance from the line.

    ``width = 0``: the δ pulse (the uncollided part is singular at r = t). ``width = s > 0``: the pulse
    smoothed to a Gaussian exp(−r²/2s²)/(2πs²), as the line-source benchmark starts from.
    """
    if t <= 0:
        raise ValueError("the line-source density is a delta at t = 0; ask for t > 0")
    r = np.asarray(r, dtype=float)
    if width == 0.0:
        return uncollided_density(r, t) + collided_density(r, t)
    flat = r.ravel()
    # r' = t sin θ on panels of width s/2 in r': it turns the ring's r' dr'/(t √(t² − r'²)) into sin θ dθ
    # and smooths the collided part's √(t − r') edge
    x, w = _gauss(_PANEL_NODES, -1.0, 1.0)
    edges = np.arcsin(np.linspace(0.0, 1.0, max(1, int(np.ceil(2.0 * t / width))) + 1))
    half, mid = 0.5 * np.diff(edges)[:, None], 0.5 * (edges[1:] + edges[:-1])[:, None]
    theta, wt = (mid + half * x).ravel(), (half * w).ravel()
    rp = t * np.sin(theta)
    weights = wt * (np.exp(-t) / (2.0 * np.pi) * np.sin(theta) + t * np.cos(theta) * rp * collided_density(rp, t))
    return (_gaussian_kernel(flat, rp, width) @ weights).reshape(r.shape)


def line_source_cell_averages(centres: tuple[np.ndarray, np.ndarray], spacing: tuple[float, float], t: float,
                              width: float, points: int = 6) -> np.ndarray:
    """Cell averages over the 2D cells (array order (y, x)) of the smoothed pulse's density (``width`` > 0).

    The radial profile is tabulated once on a fine grid and interpolated at each cell's Gauss points.
    """
    if width <= 0.0:
        raise ValueError("cell averages need the smoothed pulse (width > 0): the δ pulse's ring is singular")
    r_max = t + 8.0 * width
    table_r = np.linspace(0.0, r_max, int(np.ceil(r_max / (0.05 * width))) + 1)
    table = radial_density(table_r, t, width)
    return cell_average(lambda y, x: np.interp(np.hypot(x, y), table_r, table, right=0.0), centres, spacing, points)
