"""Moment bases m(v) = (m_0, …, m_{n−1}) with m_0 ≡ 1.

1D (slab): monomials μ^k or Legendre polynomials P_k(μ), k = 0…N.
2D (directions on the sphere, geometry symmetric in z): monomials vx^a vy^b with a + b ≤ N ordered by
degree, or real spherical harmonics of degree ≤ N that are even in μ = v_z, scaled so m_0 = 1.
Each basis knows its size n, its symmetry flips (the sign every component takes under v_d → −v_d),
its isotropic moment vector, and its realizability test. A basis may carry the discrete measure (the
quadrature) a run integrates with, :meth:`Basis.on`: its realizability test is then the one of that measure
(:mod:`.cone`), the set of moments the run's non-negative nodal densities can have.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property

import numpy as np
from scipy.special import eval_legendre, sph_harm_y

from . import names, realizability, rules
from .cone import Cone, localisers
from .quadrature import Quadrature, gauss_legendre, sphere_product

KINDS = ("monomial", "legendre", "spherical_harmonics")


@dataclass(frozen=True)
class Basis:
    """A moment basis of degree ``N`` in ``dim`` = 1 or 2 space dimensions, optionally with the discrete
    ``measure`` its realizability is judged by (not part of its identity: equal bases compare equal)."""

    kind: str
    dim: int
    N: int
    exponents: tuple = field(init=False, repr=False)
    measure: Quadrature | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown basis {self.kind!r}; choose one of {', '.join(KINDS)}")
        if self.dim not in (1, 2):
            raise ValueError(f"dimension must be 1 or 2, got {self.dim}")
        if self.N < 0:
            raise ValueError(f"moment order N must be ≥ 0, got {self.N}")
        if self.dim == 1 and self.kind == "spherical_harmonics":
            raise ValueError("spherical harmonics are a 2D basis; use 'legendre' in 1D")
        if self.dim == 2 and self.kind == "legendre":
            raise ValueError("the Legendre basis is 1D; use 'monomial' or 'spherical_harmonics' in 2D")
        # 1D: degree k; 2D monomial: (a, b) of vx^a vy^b; 2D harmonics: (l, m) with l + m even.
        if self.dim == 1:
            exps = tuple((k,) for k in range(self.N + 1))
        elif self.kind == "monomial":
            exps = tuple((d - b, b) for d in range(self.N + 1) for b in range(d + 1))
        else:
            exps = tuple((l, m) for l in range(self.N + 1) for m in range(-l, l + 1) if (l + m) % 2 == 0)
        object.__setattr__(self, "exponents", exps)

    # --- identity -----------------------------------------------------------------------------------
    @property
    def n(self) -> int:
        """Number of basis functions."""
        return len(self.exponents)

    @property
    def labels(self) -> list[str]:
        """Component names, the one scheme of files, XDMF, plots and diagnostics (see :mod:`.names`)."""
        return [c.name for c in names.components(self)]

    @property
    def degrees(self) -> np.ndarray:
        """The polynomial degree of every basis function (μ^k, P_k: k; vx^a vy^b: a + b; Y_lm: l)."""
        return np.array([sum(e) if self.kind == "monomial" else e[0] for e in self.exponents])

    def describe(self) -> str:
        return f"{self.kind} basis, {self.dim}D, N={self.N} (n={self.n})"

    def on(self, quad: Quadrature) -> Basis:
        """This basis with ``quad`` as the measure of its realizability test."""
        if quad.dim != self.dim:
            raise ValueError(f"a {quad.dim}D quadrature does not fit a {self.dim}D basis")
        return replace(self, measure=quad)

    # --- evaluation ---------------------------------------------------------------------------------
    def evaluate(self, quad: Quadrature) -> np.ndarray:
        """Basis values at the quadrature nodes, shape (Q, n)."""
        if quad.dim != self.dim:
            raise ValueError(f"a {quad.dim}D quadrature does not fit a {self.dim}D basis")
        if self.dim == 1:
            mu = quad.velocity[:, 0]
            if self.kind == "monomial":
                return np.stack([mu**k for (k,) in self.exponents], axis=1)
            return np.stack([eval_legendre(k, mu) for (k,) in self.exponents], axis=1)
        vx, vy = quad.velocity[:, 0], quad.velocity[:, 1]
        if self.kind == "monomial":
            return np.stack([vx**a * vy**b for a, b in self.exponents], axis=1)
        return np.stack([_real_harmonic(l, m, quad.mu, quad.phi) for l, m in self.exponents], axis=1)

    @cached_property
    def flips(self) -> np.ndarray:
        """(dim, n) signs: component j of m(v) changes by flips[d, j] under v_d → −v_d."""
        if self.dim == 1:
            return np.array([[(-1.0) ** k for (k,) in self.exponents]])
        if self.kind == "monomial":
            return np.array([[(-1.0) ** a for a, _ in self.exponents],
                             [(-1.0) ** b for _, b in self.exponents]])
        # real harmonics: cos(mφ) (m ≥ 0) and sin(|m|φ) (m < 0); vx → −vx is φ → π − φ, vy → −vy is φ → −φ
        fx = [(-1.0) ** m if m >= 0 else (-1.0) ** (-m + 1) for _, m in self.exponents]
        fy = [1.0 if m >= 0 else -1.0 for _, m in self.exponents]
        return np.array([fx, fy])

    @cached_property
    def reference_quadrature(self) -> Quadrature:
        """A rule exact for every product of two basis functions (used for isotropic moments)."""
        return gauss_legendre(self.N + 2) if self.dim == 1 else sphere_product(self.N + 2, 2 * self.N + 3)

    def isotropic(self, u0: float | np.ndarray = 1.0, quad: Quadrature | None = None) -> np.ndarray:
        """Moments of the isotropic density with zeroth moment ``u0``: u0·⟨m⟩/⟨m_0⟩.

        Pass the closure's quadrature to get the vector that is exactly isotropic under it.
        """
        q = quad or self.reference_quadrature
        mean = q.integrate(self.evaluate(q).T) / q.weights.sum()
        return np.multiply.outer(np.asarray(u0, dtype=float), mean)

    # --- realizability ------------------------------------------------------------------------------
    @cached_property
    def to_monomial(self) -> np.ndarray:
        """Matrix T with m(v) = T · mono(v), mono the monomial basis of the same dim and N.

        Both bases span the same polynomial space, so T is the exact least-squares fit on a rule
        that resolves it (round-off only).
        """
        if self.kind == "monomial":
            return np.eye(self.n)
        if self.kind == "legendre":  # exact coefficients (lstsq leaves ~1e−14 round-off at N = 8)
            T = np.zeros((self.n, self.n))
            for k in range(self.n):
                c = np.polynomial.legendre.leg2poly(np.eye(k + 1)[k])
                T[k, : c.size] = c
            return T
        q = self.reference_quadrature
        mono = Basis("monomial", self.dim, self.N).evaluate(q)
        T = np.linalg.lstsq(mono, self.evaluate(q), rcond=None)[0].T
        T[np.abs(T) < 1e-12] = 0.0  # exact zeros stay zero (round-off of the fit is ~1e−15)
        T[0] = np.eye(self.n)[0]  # m_0 = mono_0 = 1 exactly
        return T

    @cached_property
    def cone(self) -> Cone:
        """The realizability test of the discrete measure: the basis's own (:meth:`on`), else the default
        rule of its order (:func:`.rules.default`)."""
        quad = self.measure or rules.default(self.dim, self.N)
        return Cone.build(self.evaluate(quad), localisers(quad), quad, self.degrees)

    def is_realizable(self, u: np.ndarray) -> np.ndarray:
        """True for moment vectors in the interior of the realizable set (batched over leading axes)."""
        return realizability.margin(self, u) > 0.0

    def realizability_margin(self, u: np.ndarray, alpha: np.ndarray | None = None) -> np.ndarray:
        """A distance-like measure to ∂R of the normalised moments (positive inside, ≤ 0 outside): with a
        measure (and in 2D beyond N = 2), the depth in the cone of its nodes (:mod:`.cone`); otherwise the
        smallest eigenvalue of the classical moment conditions (:mod:`.realizability`). ``alpha``: the
        multipliers of an exponential ansatz near u (a closure's), where the cone's test starts its search."""
        return realizability.margin(self, u, alpha)


def _real_harmonic(l: int, m: int, mu: np.ndarray, phi: np.ndarray) -> np.ndarray:
    """Real spherical harmonic of degree l, order m, scaled by √(4π) so that Y_00 = 1."""
    theta = np.arccos(np.clip(mu, -1.0, 1.0))
    y = sph_harm_y(l, abs(m), theta, phi)
    if m == 0:
        val = y.real
    elif m > 0:
        val = np.sqrt(2.0) * (-1.0) ** m * y.real
    else:
        val = np.sqrt(2.0) * (-1.0) ** m * y.imag
    return np.sqrt(4.0 * np.pi) * val


def make_basis(kind: str, dim: int, N: int) -> Basis:
    """Build a basis by name ("monomial", "legendre", "spherical_harmonics")."""
    return Basis(kind, dim, N)
