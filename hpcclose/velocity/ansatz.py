"""The Maxwell–Boltzmann ansatz G_α = exp(α·m) completed from its multipliers by quadrature (no optimisation).

[A §3.3], SCIENCE.md §4: choose the normalised multipliers α̃ = (α1 … α_{n−1}); the rest follows by
quadrature, so the data are exact up to the quadrature rule (no Newton tolerance):

    α0 = −log⟨exp(α̃·m̃)⟩          ⇒ u0 = ⟨G_α⟩ = 1, G_α = exp(α·m), m0 ≡ 1
    u  = ⟨m G_α⟩ = (1, ω̃)          (ω̃ = ũ/u0 = ũ)
    h  = α·u − u0 = α·(1, ω̃) − 1   (h = ⟨G log G − G⟩, the Maxwell–Boltzmann entropy, SCIENCE §2)

Conventions: ⟨·⟩ = Σ_q w_q (·)(v_q) with the quadrature's own weights (sum 2 in 1D, 4π on the sphere),
the same ⟨·⟩ the Newton closure solves with, so (α, u, h) are the Newton closure's answer for u under that
quadrature. α0 and h depend on that weight convention by the constant −log Σw; ω̃ and α̃ do not.

Simulation side: the spline closure builds its nodes from :func:`multiplier_grid` (the uniform α̃ grid of
[A 4.1.1]); the training-data samplers (:mod:`hpcclose.data.sampling`) complete their α̃ here too.
Everything is batched numpy (exp over all nodes of a chunk of samples at once) and deterministic.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.special import logsumexp

from ..errors import InputError
from .basis import Basis
from .quadrature import Quadrature

# Samples per batched exp pass (bounds the (chunk, Q) temporaries: 65536 × 400 nodes ≈ 200 MB).
CHUNK = 1 << 14


class AnsatzData(NamedTuple):
    """Normalised ansatz data: multipliers α (count, n), moments u (count, n), entropies h (count,)."""

    alpha: np.ndarray
    u: np.ndarray
    h: np.ndarray


def check_fit(basis: Basis, quad: Quadrature) -> None:
    """Refuse a quadrature of another dimension than the basis, and a basis without multipliers α̃."""
    if basis.dim != quad.dim:
        raise InputError(f"sampling: a {quad.dim}D quadrature ({quad.name}) does not fit the "
                         f"{basis.describe()}")
    if basis.n < 2:
        raise InputError("sampling: N = 0 has no multipliers to sample (α̃ is empty); use N ≥ 1")


def normalised_multipliers(alpha_tilde: np.ndarray, basis: Basis, quad: Quadrature) -> np.ndarray:
    """Full α (count, n) with α0 = −log⟨exp(α̃·m̃)⟩, i.e. ⟨G_α⟩ = 1 (log-sum-exp: no overflow)."""
    at = np.atleast_2d(np.asarray(alpha_tilde, dtype=float))
    m = basis.evaluate(quad)
    alpha = np.empty((at.shape[0], basis.n))
    alpha[:, 1:] = at
    for s in range(0, at.shape[0], CHUNK):
        z = at[s:s + CHUNK] @ m[:, 1:].T
        alpha[s:s + CHUNK, 0] = -logsumexp(z, b=quad.weights, axis=1)
    return alpha


def complete(alpha_tilde: np.ndarray, basis: Basis, quad: Quadrature) -> AnsatzData:
    """Normalised data (α, u, h) for the multipliers α̃ (count, n−1)."""
    check_fit(basis, quad)
    at = np.asarray(alpha_tilde, dtype=float).reshape(-1, basis.n - 1)
    alpha = normalised_multipliers(at, basis, quad)
    m = basis.evaluate(quad)
    u = np.empty_like(alpha)
    # chunked so the (chunk, Q) ansatz values stay small; exponents are ≤ −log min w (normalised α)
    for s in range(0, alpha.shape[0], CHUNK):
        G = np.exp(alpha[s:s + CHUNK] @ m.T)
        u[s:s + CHUNK] = (G * quad.weights) @ m
    h = np.einsum("ij,ij->i", alpha, u) - u[:, 0]
    return AnsatzData(alpha, u, h)


def grid_alpha(dims: int, size: int | tuple[int, ...],
               bounds: tuple[float, float] = (-65.0, 65.0)) -> np.ndarray:
    """Uniform tensor grid of α̃ in [lo, hi]^dims, ``size`` points per axis (one int or one per axis),
    flattened to (Π size, dims) in C order (last axis fastest)."""
    sizes = (size,) * dims if np.isscalar(size) else tuple(size)
    lo, hi = map(float, bounds)
    if len(sizes) != dims:
        raise InputError(f"sampling: grid needs {dims} size(s) (one per multiplier α1…α{dims}), "
                         f"got {len(sizes)}")
    if any(int(s) < 2 for s in sizes) or not lo < hi:
        raise InputError(f"sampling: grid needs ≥ 2 points per axis and lo < hi, got size {sizes}, "
                         f"bounds {bounds}")
    axes = [np.linspace(lo, hi, int(s)) for s in sizes]
    return np.stack([a.ravel() for a in np.meshgrid(*axes, indexing="ij")], axis=1)


def multiplier_grid(basis: Basis, quad: Quadrature, size: int | tuple[int, ...],
                    bounds: tuple[float, float] = (-65.0, 65.0)) -> AnsatzData:
    """Normalised data on the uniform α̃ tensor grid of [A 4.1.1] (N=1: [−65, 65]; N=2: [−10, 10], 100×50)."""
    check_fit(basis, quad)
    return complete(grid_alpha(basis.n - 1, size, bounds), basis, quad)
