"""Rotations about Ωz acting on 2D moments: the reduced coordinates of rotation-invariant closures.

In 2D the velocity frame may be turned about Ωz: for the rotation R_θ of (Ωx, Ωy) the basis functions
transform linearly, m(R_θ Ω) = D(θ) m(Ω), because every basis spans the polynomials of degree ≤ N in
(Ωx, Ωy) (degree by degree, so D is block-diagonal: m0 ≡ 1 stays, degree 1 turns like a vector, …). The
moments of the turned density f(R_θ⁻¹ Ω) are D(θ) u, and the Maxwell–Boltzmann entropy does not change:

    h(D(θ) u) = h(u),      α(D(θ) u) = D(θ)⁻ᵀ α(u)      (α = ∇h; D is orthogonal only for the harmonics)

The entries of D(θ) are trigonometric polynomials of degree ≤ N in θ (a representation of SO(2)), so
D(θ) = A0 + Σ_k (A_k cos kθ + B_k sin kθ); :class:`Rotation` fits D at the nodes of a rule exact for the
basis (least squares, round-off only) for 2N + 1 angles and keeps the Fourier coefficients, which works
for any N and either basis (monomials, real spherical harmonics). cos kθ and sin kθ come from cos θ and
sin θ by the Chebyshev recurrence, so no angle is ever computed.

**Reduced coordinates.** Every normalised moment vector ω̃ = ũ/u0 is turned so that its first moment
(⟨Ωx f⟩, ⟨Ωy f⟩)/u0 = r (cos θ, sin θ) lies along Ωx: v = D̃(−θ) ω̃ has v_y = 0 and v_x ∝ r ≥ 0
(D̃: D without m0). A network of the entropy sees v without its y component (one input fewer) and gives
Ĥ(v) and its gradient in the other n − 2 directions. The y component of the gradient follows from the
invariance itself: Ĥ is constant along the orbit, d/dθ Ĥ(D̃(θ) v) = ∇Ĥ(v)·G v = 0 with the generator
G = D̃′(0), so

    α_y = −Σ_{k≠y} α_k (G v)_k / (G v)_y          ((G v)_y ∝ v_x = r: the first moment turns into y)

and α̃ = D̃(−θ)ᵀ (α_v) is the exact gradient of the rotation-invariant function h(ω̃) = Ĥ(D̃(−θ) ω̃). A network
convex in its reduced inputs stays convex in them; the closure commutes with every rotation to round-off
(tests/unit/test_rotation.py). Where r = 0 (first moment exactly zero) θ = 0 and α_y = 0; as r → 0 α_y is
the quotient of two small numbers for the exact entropy, and for a network its numerator is the network's
own lack of invariance among states with r = 0, which training on α in these coordinates keeps small.

Residual symmetries of the reduced frame: the reflections Ωy → −Ωy and Ωx → −Ωx map v_y = 0 to itself (they
flip the signs of the components odd in Ωy, in Ωx); :func:`reduced_signs` gives the sign patterns a
symmetrised network averages over ([A eq. 45], convexity kept). With both, the network is even in v_x (no
kink where the first moment vanishes, α_x = 0 there) and in the Ωx Ωy-odd components (α_y = α_xy = 0 for
states symmetric about the first moment's axis, as the line source's are).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ...velocity import Basis, Quadrature


def rotated_rule(quad: Quadrature, theta: float) -> Quadrature:
    """The nodes of ``quad`` turned by θ about Ωz (same weights): R_θ Ω_q."""
    c, s = np.cos(theta), np.sin(theta)
    vx, vy = quad.velocity[:, 0], quad.velocity[:, 1]
    vel = np.stack([c * vx - s * vy, s * vx + c * vy], axis=1)
    return Quadrature(vel, quad.weights, quad.mu, quad.phi + theta, f"{quad.name} turned by {theta:g}")


def representation(basis: Basis, theta: float) -> np.ndarray:
    """D(θ) (n, n) with m(R_θ Ω) = D(θ) m(Ω): fitted at the nodes of a rule on which the basis is
    independent (exact up to round-off; entries below 1e−13 set to zero)."""
    quad = basis.reference_quadrature
    m = basis.evaluate(quad)
    D = np.linalg.lstsq(m, basis.evaluate(rotated_rule(quad, theta)), rcond=None)[0].T
    D[np.abs(D) < 1e-13] = 0.0
    return D


def _component(basis: Basis, monomial: int) -> int:
    """Index of the basis function that is a multiple of the monomial ``monomial`` (1: Ωx, 2: Ωy)."""
    T = basis.to_monomial
    rows = [j for j in range(basis.n) if T[j, monomial] != 0 and np.count_nonzero(T[j]) == 1]
    if len(rows) != 1:
        raise ValueError(f"the {basis.describe()} has no single component proportional to Ω{'xy'[monomial - 1]}")
    return rows[0]


class Rotation:
    """The SO(2) action on the normalised moments ω̃ (n − 1 components) of a 2D basis with N ≥ 1."""

    def __init__(self, basis: Basis):
        if basis.dim != 2 or basis.N < 1:
            raise ValueError(f"rotations act on 2D moments of order N ≥ 1, not the {basis.describe()}")
        self.basis = basis
        N = basis.N
        K = 2 * N + 1  # samples of a trigonometric polynomial of degree N: exact discrete Fourier transform
        angles = 2.0 * np.pi * np.arange(K) / K
        Ds = np.array([representation(basis, t)[1:, 1:] for t in angles])
        k = np.arange(N + 1)
        cos, sin = np.cos(np.outer(angles, k)), np.sin(np.outer(angles, k))
        # coeffs[0] = A0, coeffs[2k − 1] = A_k (cos kθ), coeffs[2k] = B_k (sin kθ)
        coeffs = [Ds.mean(axis=0)]
        for j in range(1, N + 1):
            coeffs += [2.0 / K * np.einsum("t,tij->ij", cos[:, j], Ds), 2.0 / K * np.einsum("t,tij->ij", sin[:, j], Ds)]
        self.coeffs = np.array(coeffs)
        self.coeffs[np.abs(self.coeffs) < 1e-13] = 0.0
        # G = D̃′(0) = Σ_k k B_k
        self.generator = sum(j * self.coeffs[2 * j] for j in range(1, N + 1))
        # positions in ω̃ (without m0) of the components ∝ Ωx and ∝ Ωy, and of the reduced coordinates
        self.x = _component(basis, 1) - 1
        self.y = _component(basis, 2) - 1
        self.keep = np.array([j for j in range(basis.n - 1) if j != self.y])
        # first moment (⟨Ωx f⟩, ⟨Ωy f⟩)/u0 = ω̃_x / T_xx, ω̃_y / T_yy
        T = basis.to_monomial
        self.scale = np.array([T[self.x + 1, 1], T[self.y + 1, 2]])

    @property
    def d(self) -> int:
        """Number of reduced coordinates (n − 2)."""
        return self.keep.size

    # --- the representation -----------------------------------------------------------------------
    def matrices(self, c: np.ndarray, s: np.ndarray) -> np.ndarray:
        """D̃(θ) (B, n − 1, n − 1) for cos θ = c, sin θ = s (B,) (Chebyshev recurrence for kθ)."""
        c, s = np.atleast_1d(np.asarray(c, dtype=float)), np.atleast_1d(np.asarray(s, dtype=float))
        trig = [np.ones_like(c)]
        ck, sk, cp, sp = c, s, np.ones_like(c), np.zeros_like(c)
        for _ in range(1, self.basis.N + 1):
            trig += [ck, sk]
            ck, sk, cp, sp = 2.0 * c * ck - cp, 2.0 * c * sk - sp, ck, sk
        return np.einsum("tb,tij->bij", np.array(trig), self.coeffs)

    def angle(self, omega: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(cos θ, sin θ) of the first moment of ω̃ (B, n − 1); θ = 0 where it is zero."""
        fx, fy = omega[:, self.x] / self.scale[0], omega[:, self.y] / self.scale[1]
        r = np.hypot(fx, fy)
        pos = r > 0
        safe = np.where(pos, r, 1.0)
        return np.where(pos, fx / safe, 1.0), np.where(pos, fy / safe, 0.0)

    # --- reduced coordinates -------------------------------------------------------------------------
    def reduce(self, omega: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(c, s, v): the angle of the first moment and v = D̃(−θ) ω̃ (B, n − 1), its y component set to 0."""
        omega = np.atleast_2d(np.asarray(omega, dtype=float))
        c, s = self.angle(omega)
        v = np.einsum("bij,bj->bi", self.matrices(c, -s), omega)
        v[:, self.y] = 0.0
        return c, s, v

    def expand(self, reduced: np.ndarray) -> np.ndarray:
        """Full rotated-frame vectors (B, n − 1) from reduced coordinates (B, n − 2): v_y = 0 inserted."""
        reduced = np.atleast_2d(np.asarray(reduced, dtype=float))
        return np.insert(reduced, self.y, 0.0, axis=1)

    def complete_alpha(self, v: np.ndarray, alpha_reduced: np.ndarray) -> np.ndarray:
        """α_v (B, n − 1): the reduced gradient with α_y from the invariance ∇Ĥ·G v = 0 (0 where v_x = 0)."""
        alpha = self.expand(alpha_reduced)
        gv = v @ self.generator.T
        den = gv[:, self.y]
        num = np.einsum("bi,bi->b", alpha, gv)  # α_y = 0 here, so this is Σ_{k≠y} α_k (G v)_k
        safe = np.where(den != 0.0, den, 1.0)
        alpha[:, self.y] = np.where(den != 0.0, -num / safe, 0.0)
        return alpha

    def to_frame(self, c: np.ndarray, s: np.ndarray, alpha_v: np.ndarray) -> np.ndarray:
        """α̃ = D̃(−θ)ᵀ α_v: multipliers of the rotated frame back in the original one."""
        return np.einsum("bji,bj->bi", self.matrices(c, -s), alpha_v)

    def turn(self, theta: float, u: np.ndarray, alpha: np.ndarray | None = None):
        """Full moments u (B, n) of the density turned by θ, D(θ) u, and with ``alpha`` its multipliers
        D(θ)⁻ᵀ α (B, n): the exact action, used by the tests and to move data between frames."""
        D = np.eye(self.basis.n)
        D[1:, 1:] = self.matrices(np.cos(theta), np.sin(theta))[0]
        turned = np.asarray(u, dtype=float) @ D.T
        if alpha is None:
            return turned
        return turned, np.linalg.solve(D.T, np.asarray(alpha, dtype=float).T).T

    def signs(self, symmetric: bool) -> np.ndarray:
        """(S, n − 2) sign patterns of a (symmetrised) reduced network: see :func:`reduced_signs`."""
        return reduced_signs(self.basis, symmetric)


@lru_cache(maxsize=16)
def rotation(basis: Basis) -> Rotation:
    """The :class:`Rotation` of a basis (cached: the fit is done once per basis)."""
    return Rotation(basis)


def reduced_signs(basis: Basis, symmetric: bool | str) -> np.ndarray:
    """Sign patterns over the reduced coordinates: the identity, and with ``symmetric`` the reflections
    Ωx → −Ωx, Ωy → −Ωy and both (the reflections that keep the reduced frame's v_y = 0); with ``"y"`` only
    Ωy → −Ωy, which also keeps v_x ≥ 0 — a network with batch norms (monotone) sees inputs from the region its
    statistics describe, and states symmetric about the first moment's axis still get α_xy = 0 (so the
    completed α_y = 0 there: no quotient of small numbers as v_x → 0)."""
    keep = rotation(basis).keep
    if not symmetric:
        return np.ones((1, keep.size))
    fx, fy = basis.flips[0, 1:][keep], basis.flips[1, 1:][keep]
    if symmetric == "y":
        return np.array([np.ones(keep.size), fy])
    return np.array([np.ones(keep.size), fy, fx, fx * fy])


def distinct_nodes(m: np.ndarray, weights: np.ndarray, decimals: int = 12) -> tuple[np.ndarray, np.ndarray]:
    """(m, w) with the nodes at which every basis function has the same value merged, their weights summed:
    every 2D basis is even in Ωz, so the mirrored nodes ±μ of a product (or Lebedev) rule coincide, and a sum
    ⟨g(α·m)⟩ needs half the terms. Rows are grouped after rounding to ``decimals`` (the mirrored nodes of a
    Gauss–Legendre rule agree to round-off, not bit for bit); each group keeps its first row."""
    _, first, group = np.unique(np.round(m, decimals), axis=0, return_index=True, return_inverse=True)
    return np.ascontiguousarray(m[first]), np.bincount(group.ravel(), weights=weights, minlength=first.size)
