"""Training and test data for data-driven closures, sampled in multiplier space (no optimisation).

[A §3.3], SCIENCE.md §4: choose the normalised multipliers α̃; the multipliers α, moments u and entropy h
follow by quadrature (:mod:`hpcclose.velocity.ansatz`, which the spline closure uses for its nodes too),
so the data are exact up to the quadrature rule (no Newton tolerance). Here they become datasets with
their provenance.

Samplers
--------
* :func:`sample_grid` — uniform tensor grid of α̃ [A 4.1.1]: N=1 α1 ∈ [−65, 65]; N=2 [−10, 10]², 100 × 50.
* :func:`sample_sobol` — B_{M,τ} = {α̃ : ‖α̃‖₂ < M, λ_min(⟨m mᵀ G_α⟩) > τ} [B eq. 110]: scrambled Sobol
  points in the cube [−M, M]^{n−1}, rejected outside the ball or when the smallest Hessian eigenvalue of
  the dual objective at the normalised α (distance-like to ∂R) is ≤ τ. Any basis/dimension.
* :func:`vary_u0` — test sets with u0 = w0 ≠ 1 [A 4.1.1]: u = w0·(1, ω̃), α0 + log w0,
  h = w0 h̃ + w0 log w0 [A eq. 27]. :func:`w0_grid` gives the paper's 160 values in [1e−8, 8].

Everything is batched numpy (exp over all nodes of a chunk of samples at once) and deterministic.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import qmc

from ..errors import InputError
from ..velocity import Basis, Quadrature, ansatz
from ..velocity.ansatz import CHUNK, check_fit, normalised_multipliers
from .datasets import Dataset

# Sobol points drawn per rejection round (a power of two keeps the sequence's balance properties).
SOBOL_BLOCK = 1 << 14


def _dataset(data: ansatz.AnsatzData, basis: Basis, quad: Quadrature, **extra) -> Dataset:
    """The data with the attributes every dataset carries (what was sampled, for which basis and quadrature)."""
    return Dataset(*data, {"basis_kind": basis.kind, "basis_dim": basis.dim, "basis_N": basis.N,
                           "quadrature": quad.name, "quadrature_size": quad.size, "count": data.alpha.shape[0],
                           **extra})


def complete(alpha_tilde: np.ndarray, basis: Basis, quad: Quadrature, **attrs) -> Dataset:
    """Normalised data (α, u, h) for the multipliers α̃ (count, n−1); ``attrs`` are added as provenance."""
    return _dataset(ansatz.complete(alpha_tilde, basis, quad), basis, quad, **attrs)


def hessian_min_eig(alpha: np.ndarray, basis: Basis, quad: Quadrature) -> np.ndarray:
    """λ_min of the dual Hessian ⟨m mᵀ exp(α·m)⟩ for every row of α (count, n)."""
    alpha = np.atleast_2d(np.asarray(alpha, dtype=float))
    m = basis.evaluate(quad)
    out = np.empty(alpha.shape[0])
    for s in range(0, alpha.shape[0], CHUNK):
        Gw = np.exp(alpha[s:s + CHUNK] @ m.T) * quad.weights
        H = np.einsum("bq,qj,qk->bjk", Gw, m, m, optimize=True)
        out[s:s + CHUNK] = np.linalg.eigvalsh(H)[:, 0]
    return out


def sample_grid(basis: Basis, quad: Quadrature, size: int | tuple[int, ...],
                bounds: tuple[float, float] = (-65.0, 65.0)) -> Dataset:
    """Normalised data on the uniform α̃ tensor grid of [A 4.1.1] (N=1: [−65, 65]; N=2: [−10, 10], 100×50)."""
    data = ansatz.multiplier_grid(basis, quad, size, bounds)
    sizes = [int(size)] * (basis.n - 1) if np.isscalar(size) else [int(s) for s in size]
    return _dataset(data, basis, quad, sampler="grid", bounds=[float(b) for b in bounds], size=sizes)


def sample_sobol(basis: Basis, quad: Quadrature, count: int, max_norm: float, tau: float = 1e-7,
                 seed: int = 0, max_draws: int = 1 << 24) -> Dataset:
    """``count`` normalised samples with α̃ from B_{M,τ} [B eq. 110] by Sobol rejection sampling.

    The scrambled Sobol sequence (``seed``) is consumed in blocks and the first ``count`` accepted points
    are kept, so the result is reproducible. Raises InputError if fewer than ``count`` points are found
    in ``max_draws`` draws (M, τ leave too small a set).
    """
    check_fit(basis, quad)
    if count < 1 or not max_norm > 0 or not tau >= 0 or seed < 0:
        raise InputError(f"sampling: need count ≥ 1, max_norm > 0, tau ≥ 0, seed ≥ 0; "
                         f"got {count}, {max_norm}, {tau}, {seed}")

    def keep(unit: np.ndarray) -> np.ndarray:
        # the cube [−M, M]^d, then the ball (cheap), then the eigenvalue test on the survivors
        at = max_norm * (2.0 * unit - 1.0)
        at = at[np.linalg.norm(at, axis=1) < max_norm]
        return at[hessian_min_eig(normalised_multipliers(at, basis, quad), basis, quad) > tau]

    at, drawn = sobol_rejection(basis.n - 1, count, seed, keep, max_draws,
                                f"‖α̃‖ < {max_norm:g}, λ_min > {tau:g}; raise max_norm or lower tau")
    return complete(at, basis, quad, sampler="sobol", max_norm=float(max_norm), tau=float(tau),
                    seed=int(seed), draws=drawn)


def sobol_rejection(dim: int, count: int, seed: int, keep, max_draws: int, what: str,
                    block: int = SOBOL_BLOCK) -> tuple[np.ndarray, int]:
    """The first ``count`` points that ``keep`` (unit-cube points → accepted points, mapped) returns from a
    scrambled Sobol sequence (``seed``), and how many were drawn. Draws whole blocks of ``block`` points (a
    power of two keeps the sequence balanced; a smaller one wastes less of an expensive ``keep``); raises
    InputError naming ``what`` after ``max_draws`` draws."""
    sobol = qmc.Sobol(dim, scramble=True, seed=np.random.default_rng(seed))
    kept, found, drawn = [], 0, 0
    while found < count:
        if drawn >= max_draws:
            raise InputError(f"sampling: only {found} of {count} points accepted in {drawn} Sobol draws ({what})")
        pts = keep(sobol.random(block))
        drawn += block
        kept.append(pts)
        found += pts.shape[0]
    return np.concatenate(kept)[:count], drawn


def w0_grid(count: int = 160, lo: float = 1e-8, hi: float = 8.0) -> np.ndarray:
    """The zeroth moments of [A 4.1.1]'s test sets: ``count`` values evenly spaced in [lo, hi]."""
    return np.linspace(lo, hi, count)


def vary_u0(ds: Dataset, w0: np.ndarray) -> Dataset:
    """Scale normalised data to every u0 in ``w0`` (w0-major order): u = w0·ω, α0 += log w0,
    h = w0 h̃ + w0 log w0 [A eqs. 27, 31]."""
    w0 = np.asarray(w0, dtype=float).reshape(-1)
    if not np.all(w0 > 0):
        raise InputError("sampling: every w0 must be positive")
    alpha = np.tile(ds.alpha, (w0.size, 1))
    alpha[:, 0] += np.repeat(np.log(w0), ds.count)
    wr = np.repeat(w0, ds.count)
    u = np.tile(ds.u, (w0.size, 1)) * wr[:, None]
    h = wr * np.tile(ds.h, w0.size) + wr * np.log(wr)
    attrs = {**ds.attrs, "count": alpha.shape[0], "w0": w0}
    return Dataset(alpha, u, h, attrs)
