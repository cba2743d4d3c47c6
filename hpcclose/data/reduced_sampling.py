"""Training data of rotation-invariant 2D closures, sampled in the reduced coordinates (first moment along Ωx).

A rotation-invariant network (:mod:`hpcclose.closures.neural.rotation`) only ever sees moments turned so that
their first moment lies along Ωx (v_y = 0, v_x ≥ 0): its data live in that frame. Two samplers, for any
2D basis (monomials, real spherical harmonics) and N:

* :func:`sample_sobol_reduced` — [B]'s eigenvalue-bounded set B_{M,τ} (eq. 110) on the orbit representatives:
  scrambled Sobol points of the multipliers with α̃_y = 0 and α̃_x ≥ 0 (every rotation orbit meets that
  slice: the multipliers of degree 1 turn like a vector in both bases), kept where ‖α̃‖ < M and
  λ_min(⟨m mᵀ G_α⟩) > τ. Their moments are turned into the reduced frame.
* :func:`sample_moments_reduced` — uniform in the reduced normalised moments a margin ε inside the realizable
  set (as [B]'s repository sampled its M2 1D data, :mod:`.moment_sampling`): Sobol points of the box the
  sphere's basis values span (v_x ≥ 0, v_y = 0), kept where the realizability margin (smallest eigenvalue of
  the realizability matrices, :func:`hpcclose.velocity.realizability.margin`) exceeds ε.

The data are exact for the training rule: a turned product rule is not the same rule (it is invariant only
under its own φ steps), so rather than turning the data, the Sobol sampler turns each density until its
first moment lies along +Ωx *under the rule* (a safeguarded Newton iteration on the angle, :class:`_Turn`),
and the moment sampler solves for the multipliers of its moments by the Newton closure under the rule (tol
1e−10); (α, u, h) are then completed from α̃ by quadrature as in :mod:`.sampling`. Points the rule cannot
serve are rejected like those outside the set: densities so peaked that the rule's quadrature error exceeds
their first moment (they cannot be turned), moments the rule cannot realise (Newton regularises them).
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from ..velocity import Basis, Quadrature, sphere_product
from ..velocity.ansatz import check_fit, normalised_multipliers
from .datasets import Dataset
from .sampling import complete, hessian_min_eig, sobol_rejection

NEWTON_TOL = 1e-10  # on ‖⟨m G⟩ − u‖ / u0: far below any network's error
BLOCK = 1 << 12  # Sobol points per round: each accepted point is turned or solved for, so draw fewer at once


def _rotation(basis: Basis, quad: Quadrature):
    from ..closures.neural.rotation import rotation

    check_fit(basis, quad)
    if basis.dim != 2:
        raise InputError(f"sampling: reduced coordinates are for 2D bases (rotations about Ωz), not the "
                         f"{basis.describe()}")
    return rotation(basis)


def _newton_solution(basis: Basis, quad: Quadrature, v: np.ndarray) -> np.ndarray:
    """α̃ of those reduced normalised moments v (B, n − 1) whose multipliers Newton finds under the rule (tol
    1e−10, unregularised); the others are left out."""
    from ..closures.newton import NewtonClosure  # Numba kernels: compiled only when a sampler runs

    newton = NewtonClosure(basis, quad, tol=NEWTON_TOL, check=False)
    alpha, stats = newton.multipliers(np.concatenate([np.ones((v.shape[0], 1)), v], axis=1))
    ok = np.ones(v.shape[0], bool)
    ok[stats.failed] = False
    ok[stats.regularised] = False  # a regularised solve is for other moments
    return alpha[ok, 1:]


def sample_sobol_reduced(basis: Basis, quad: Quadrature, count: int, max_norm: float, tau: float = 1e-7,
                         seed: int = 0, max_draws: int = 1 << 24) -> Dataset:
    """``count`` samples of B_{M,τ} in the reduced frame (see the module docstring); reproducible by ``seed``."""
    rot = _rotation(basis, quad)
    if count < 1 or not max_norm > 0 or not tau >= 0 or seed < 0:
        raise InputError(f"sampling: need count ≥ 1, max_norm > 0, tau ≥ 0, seed ≥ 0; "
                         f"got {count}, {max_norm}, {tau}, {seed}")
    lo = np.full(rot.d, -max_norm)
    lo[list(rot.keep).index(rot.x)] = 0.0  # α̃_x ≥ 0 on the slice
    turn = _Turn(basis, quad)

    def keep(unit: np.ndarray) -> np.ndarray:
        # the box, then the ball (cheap), then the eigenvalue test and the turn on the survivors
        at = rot.expand(lo + (max_norm - lo) * unit)
        at = at[np.linalg.norm(at, axis=1) < max_norm]
        at = at[hessian_min_eig(normalised_multipliers(at, basis, quad), basis, quad) > tau]
        at = turn.reduced(at[turn.turnable(at)])
        return at[turn.mean(at)[:, rot.x] * rot.scale[0] > 0]  # the root with u_x > 0 under the rule

    at, drawn = sobol_rejection(rot.d, count, seed, keep, max_draws,
                                f"‖α̃‖ < {max_norm:g}, λ_min > {tau:g}; raise max_norm or lower tau", BLOCK)
    return complete(at, basis, quad, reduced=True, sampler="sobol", max_norm=float(max_norm), tau=float(tau),
                    seed=int(seed), draws=drawn)


class _Turn:
    """u_y of the density with normalised multipliers α̃ turned by −θ, under the rule, and its θ-derivative
    du_y/dθ = Cov_G(m_y, m̃)·D̃(θ)ᵀ Gᵀ α̃ (α̃_θ = D̃(θ)ᵀ α̃; D̃′(θ) = G D̃(θ))."""

    def __init__(self, basis: Basis, quad: Quadrature):
        self.rot = _rotation(basis, quad)
        self.m = basis.evaluate(quad)[:, 1:]
        self.logw = np.log(quad.weights)

    def mean(self, at: np.ndarray) -> np.ndarray:
        """Normalised moments ω̃ of the multipliers α̃ (B, n − 1)."""
        z = at @ self.m.T + self.logw
        p = np.exp(z - z.max(axis=1, keepdims=True))
        return (p / p.sum(axis=1, keepdims=True)) @ self.m

    def uy(self, at: np.ndarray, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rot, m = self.rot, self.m
        D = rot.matrices(np.cos(theta), np.sin(theta))
        z = np.einsum("bji,bj->bi", D, at) @ m.T + self.logw
        p = np.exp(z - z.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        mean_y = p @ m[:, rot.y]
        cov = (p * (m[:, rot.y] - mean_y[:, None])) @ m  # Cov(m_y, m̃)
        return mean_y, np.einsum("bi,bi->b", cov, np.einsum("bji,bj->bi", D, at @ rot.generator))

    def bracket(self, at: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(θ_u, lo, hi): the first moment's angle and [θ_u − π/2, θ_u + π/2], where u_y = ±r for the
        continuous sphere (u_y(θ) = r sin(θ_u − θ)) and u_x > 0 in between."""
        c, s = self.rot.angle(self.mean(at))
        theta = np.arctan2(s, c)
        return theta, theta - 0.5 * np.pi, theta + 0.5 * np.pi

    def turnable(self, at: np.ndarray) -> np.ndarray:
        """Samples whose u_y changes sign over the bracket under the rule (a density too peaked for the rule
        does not: its quadrature error exceeds its first moment)."""
        _, lo, hi = self.bracket(at)
        return (self.uy(at, lo)[0] > 0) & (self.uy(at, hi)[0] < 0)

    def reduced(self, at: np.ndarray, iterations: int = 100) -> np.ndarray:
        """The multipliers α̃_θ = D̃(θ)ᵀ α̃ of the densities turned by −θ (B, n − 1), θ per sample such that
        u_y = 0 under the rule: Newton inside the bracket, bisection where Newton leaves it. The samples
        must be :meth:`turnable`."""
        theta, lo, hi = self.bracket(at)
        for _ in range(iterations):
            f, slope = self.uy(at, theta)
            if f.size == 0 or np.max(np.abs(f)) < 1e-15:
                break
            lo, hi = np.where(f > 0, theta, lo), np.where(f > 0, hi, theta)  # u_y(lo) > 0 > u_y(hi)
            step = theta - f / np.where(slope != 0.0, slope, -1e-300)
            theta = np.where((step > lo) & (step < hi), step, 0.5 * (lo + hi))
        f, _ = self.uy(at, theta)
        if f.size and np.max(np.abs(f)) > 1e-13:
            raise InputError(f"sampling: turning {at.shape[0]} samples into the reduced frame did not "
                             f"converge (largest |u_y| {np.max(np.abs(f)):.1e})")
        return np.einsum("bji,bj->bi", self.rot.matrices(np.cos(theta), np.sin(theta)), at)


def moment_box(basis: Basis) -> tuple[np.ndarray, np.ndarray]:
    """Bounds (lo, hi) of the reduced normalised moments: each component's range over the sphere (a fine
    product rule), the Ωx component from 0 (its sign: v_x ≥ 0 in the reduced frame)."""
    rot = _rotation(basis, sphere_product(2, 4))
    m = basis.evaluate(sphere_product(64, 128))[:, 1:]
    lo, hi = m.min(axis=0), m.max(axis=0)
    if rot.scale[0] > 0:
        lo[rot.x] = 0.0
    else:
        hi[rot.x] = 0.0
    return lo[rot.keep], hi[rot.keep]


def sample_moments_reduced(basis: Basis, quad: Quadrature, count: int, eps: float, seed: int = 0,
                           max_draws: int = 1 << 24) -> Dataset:
    """``count`` samples uniform in the reduced normalised moments with realizability margin > ``eps``."""
    rot = _rotation(basis, quad)
    if count < 1 or seed < 0 or not 0.0 < eps < 0.5:
        raise InputError(f"sampling: need count ≥ 1, seed ≥ 0 and eps in (0, 0.5); got {count}, {seed}, {eps}")
    lo, hi = moment_box(basis)

    def keep(unit: np.ndarray) -> np.ndarray:
        v = rot.expand(lo + (hi - lo) * unit)
        try:
            margin = basis.realizability_margin(np.concatenate([np.ones((v.shape[0], 1)), v], axis=1))
        except NotImplementedError as exc:
            raise InputError(f"sampling: uniform moment sampling needs the realizability test: {exc}") from None
        return _newton_solution(basis, quad, v[margin > eps])

    at, drawn = sobol_rejection(rot.d, count, seed, keep, max_draws, f"margin > {eps:g}", BLOCK)
    return complete(at, basis, quad, reduced=True, sampler="moments", eps=float(eps), seed=int(seed),
                    draws=drawn)
