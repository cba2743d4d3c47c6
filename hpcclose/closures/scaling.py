"""Normalisation and extension for closures trained on normalised moments (SCIENCE.md §3).

Data-driven closures learn the entropy h̃(ω̃) = h((1, ω̃)) of normalised moments ω̃ = ũ/u0 (a bounded
set) and its gradient α̃ = ∇h̃. The Maxwell–Boltzmann entropy is 1-homogeneous up to a log term,

    h(λu) = λ h(u) + λ u0 log λ,

because scaling the density by λ shifts α0 by log λ and leaves α̃ alone (m0 ≡ 1). With λ = u0 this gives
the extension below. All helpers are vectorised numpy over leading (cell) axes.

Conventions checked numerically (tests/unit/test_scaling.py) with the Newton closure on Gauss–Legendre
(⟨1⟩ = 2) and sphere (⟨1⟩ = 4π) rules: with ⟨·⟩ the *unnormalised* quadrature sum, no term in ⟨1⟩
appears — h̃ is defined through the same ⟨·⟩ as the closure (h̃ = α̂·(1, ω̃) − ⟨G⟩ with ⟨G⟩ = 1), and
the isotropic moments enter only through h̃ itself. A ⟨1⟩ would appear only if one normalised the
measure (⟨·⟩/⟨1⟩), which hpcclose does not do.
"""

from __future__ import annotations

import numpy as np

from ..errors import RealizabilityError


def normalise(u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(u0, ω̃) with ω̃ = (u1, …, u_{n−1}) / u0, over the last axis; raises if some u0 ≤ 0 or non-finite."""
    u = np.asarray(u, dtype=float)
    u0 = u[..., 0]
    bad = ~(np.isfinite(u0) & (u0 > 0))
    if np.any(bad):
        cells = np.flatnonzero(bad)
        raise RealizabilityError(f"normalise: u0 must be positive and finite; {cells.size} cell(s) are not "
                                 f"(first flat index {cells[0]}, u0 = {u0.reshape(-1)[cells[0]]!r})",
                                 cells, u.reshape(-1, u.shape[-1])[cells])
    return u0, u[..., 1:] / u0[..., None]


def alpha0_from_gradient(h_tilde: np.ndarray, omega_tilde: np.ndarray, alpha_tilde: np.ndarray,
                         u0: np.ndarray) -> np.ndarray:
    """α̂0(u) = h̃(ω̃) − ω̃·α̃ + 1 + log u0 — the exact u0-derivative of the extended entropy [A eq. 37].

    Convention: the *gradient* convention. It makes (α̂0, α̃) = ∇_u h(u) of the extension
    h(u) = u0 h̃(ũ/u0) + u0 log u0 exactly, so an approximate convex h̃ yields a consistent, hyperbolic
    closure, but ⟨exp(α̂·m)⟩ = u0 only as far as h̃ and α̃ are the exact entropy and its gradient.
    (Derivation: ∂_{u0}[u0 h̃(ũ/u0) + u0 log u0] = h̃ − (ũ/u0)·∇h̃ + log u0 + 1.)
    """
    h_tilde = np.asarray(h_tilde, dtype=float)
    dot = np.einsum("...i,...i->...", np.asarray(omega_tilde, float), np.asarray(alpha_tilde, float))
    return h_tilde - dot + 1.0 + np.log(np.asarray(u0, dtype=float))


def alpha0_from_normalisation(alpha_tilde: np.ndarray, m_tilde: np.ndarray, w: np.ndarray,
                              u0: np.ndarray) -> np.ndarray:
    """α̂0(u) = −log⟨exp(α̃·m̃)⟩ + log u0 — the *mass* convention [B eq. 44, 47].

    Chooses α0 so that the ansatz carries exactly the mass u0 (⟨G⟩ = u0), whatever α̃ is; this is the
    convention that keeps u0 exact in a simulation. m_tilde (Q, n−1) are the basis functions without
    m0 at the quadrature nodes, w (Q,) the weights; the log-sum is evaluated stably (shifted by the
    largest exponent).
    """
    z = np.asarray(alpha_tilde, dtype=float) @ np.asarray(m_tilde, dtype=float).T  # (..., Q)
    zmax = z.max(axis=-1, keepdims=True)
    log_mass = zmax[..., 0] + np.log(np.exp(z - zmax) @ np.asarray(w, dtype=float))
    return np.log(np.asarray(u0, dtype=float)) - log_mass


def extend_entropy(h_tilde: np.ndarray, u0: np.ndarray) -> np.ndarray:
    """h(u) = u0 h̃(ũ/u0) + u0 log u0 [A eq. 27/33], [B eq. 51] (1-homogeneity up to the log term)."""
    u0 = np.asarray(u0, dtype=float)
    return u0 * np.asarray(h_tilde, dtype=float) + u0 * np.log(u0)


def full_alpha(alpha_tilde: np.ndarray, alpha0: np.ndarray) -> np.ndarray:
    """(α̂0, α̃) stacked along the last axis: the multipliers of the ansatz exp(α̂·m)."""
    alpha_tilde = np.asarray(alpha_tilde, dtype=float)
    alpha0 = np.asarray(alpha0, dtype=float)
    return np.concatenate([alpha0[..., None], alpha_tilde], axis=-1)
