"""Realizability for the discrete measure of a rule: is u = Σ_q g_q m(v_q) with g ≥ 0?

The moments a run can hold are those of non-negative nodal densities: the cone spanned by the nodes'
basis vectors m(v_q). Its *depth* measures how far inside a state lies,

    t*(u) = max { t : u/u0 = Σ_q g_q m(v_q),  g_q ≥ t · w_q / Σw }   ∈ (−∞, 1],

the share of isotropic density the state holds (1 for the isotropic state, 0 on the boundary, negative
outside). Everything is computed in coordinates orthonormal under the rule (ω' = S u/u0, node vectors
q(v) with Σ_q ŵ_q q qᵀ = I, ŵ = w/Σw, q_0 ≡ 1), where the tests are well conditioned at any N.

Per cell, in one Numba pass (:mod:`.certificate`; cheap, decides almost every cell of a run):

1. **A certificate of realizability** (a lower bound on t*): densities ĝ = ŵ exp(a·q) ⊙ (1 + d·q) have
   exactly the moments ω' when d = H⁻¹r, r = ω' − ⟨q e^{a·q}⟩, H = ⟨q qᵀ e^{a·q}⟩ — one Newton step of the
   entropy dual from a; so do ĝ = ŵ (e^{a·q} + r·q) (q is orthonormal under ŵ), without H, which decides
   most cells where a is near the dual optimum. At a = 0 it is the P_N density ω'·q(v). If either density
   is ≥ 0 at every node, the state is realizable and t* ≥ its smallest value over ŵ. Otherwise take a
   damped Newton step and try again (:data:`CERTIFY_STEPS` at most): interior states are certified within
   a few. Before any of this, in O(n): the P_N density is at least 1 − B|ω'_{1:}| with B = max_q
   |q_{1:}(v_q)|, which settles the nearly isotropic cells without a pass over the nodes. Where the caller
   knows multipliers α of an ansatz near the state (the guard passes the closure's of the last stage), the
   search first starts from them (any start gives a valid certificate, so the verdicts are the same).
2. **Necessary conditions** (an upper bound on t*): for a polynomial ℓ ≥ 0 at the nodes (1, and 1 − μ²,
   1 ± μ in 1D; 1 − vx² − vy² = μ², 1 ± vx, 1 ± vy in 2D) and polynomials ψ with ℓψψᵀ of degree ≤ N,
   L(ω') = Σ_q ĝ_q ℓ_q ψ ψᵀ is linear in ω' and positive semi-definite for every realizable state; with
   ψ orthonormal under ŵℓ, L(isotropic) = I, so t* ≤ λ_min L(ω'). A clearly negative bound rejects the
   state.

The few cells neither step decides go to the exact test, a linear programme (:mod:`.lp`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import certificate, lp
from .quadrature import Quadrature

#: Damped Newton steps the certificate search takes before it gives a cell to the exact test.
CERTIFY_STEPS = 12
#: An upper bound this far below zero rejects a state (the bounds are exact to ~1e−15 in these coordinates).
REJECT_BELOW = -1e-9


@dataclass(frozen=True)
class Cone:
    """The cone of one rule's node vectors for one basis, with the data of the per-cell tests."""

    name: str
    to_orth: np.ndarray  # (n, n): ω' = to_orth @ (u/u0)
    nodes: np.ndarray  # (Q, n): q(v_q), orthonormal under ŵ, column 0 ≡ 1
    weights: np.ndarray  # (Q,): ŵ, summing to 1
    tests: np.ndarray  # the necessary-condition tensors C[a, b, l] (L = C·ω'), flattened one after another
    test_sizes: np.ndarray  # (ntests,): the order k of each L
    reach: float  # B = max_q |q_{1:}(v_q)|: the P_N density is ≥ 1 − B |ω'_{1:}|
    from_basis: np.ndarray  # (n, n) R: the closure's ansatz e^{α·m} is e^{(Rα)·q} (q = m R⁻¹)
    log_weight: float  # log Σw: the closure's density w e^{α·m} is u0 ŵ e^{a·q} with a0 = (Rα)0 + log(Σw/u0)
    padded: tuple = field(repr=False)  # qᵀ (n, Qp), q (Qp, n) and ŵ, zero-padded (certificate.py)

    @classmethod
    def build(cls, values: np.ndarray, localisers: list[tuple[np.ndarray, int]], quad: Quadrature,
              degrees: np.ndarray) -> Cone:
        """From the basis ``values`` at the nodes (Q, n), their polynomial ``degrees`` (n,), and the
        localisers (values ℓ at the nodes, degree of ℓ)."""
        wn = quad.weights / quad.weights.sum()
        nodes, r = _orthonormal(values, wn)
        # q = m R⁻¹ at every node, so u/u0 = Σ ĝ m gives ω' = Σ ĝ q = R⁻ᵀ (u/u0)
        to_orth = np.linalg.solve(r.T, np.eye(r.shape[0]))
        top = int(degrees.max())
        tensors = []
        for ell, deg in localisers:
            k = int(np.sum(degrees <= (top - deg) // 2)) if deg <= top else 0
            if k == 0:
                continue
            psi, _ = _orthonormal(values[:, :k], wn * ell, strict=False)
            if psi is None:  # ℓ vanishes on too many nodes to give a basis: no test from it
                continue
            prod = ell[:, None, None] * psi[:, :, None] * psi[:, None, :]  # (Q, k, k)
            # ℓψψᵀ lies in the span of the basis, so its discrete projection on q is exact at the nodes
            c = np.einsum("q,qab,ql->abl", wn, prod, nodes)
            if not np.allclose(np.einsum("abl,ql->qab", c, nodes), prod, atol=1e-9):
                raise AssertionError(f"{quad.name}: a localiser product is not in the basis span")
            tensors.append(c)
        flat = np.concatenate([c.ravel() for c in tensors]) if tensors else np.zeros(0)
        sizes = np.array([c.shape[0] for c in tensors], dtype=np.int64)
        reach = float(np.sqrt(np.max(np.sum(nodes[:, 1:] ** 2, axis=1))))
        return cls(quad.name, np.ascontiguousarray(to_orth), np.ascontiguousarray(nodes), wn, flat, sizes, reach,
                   np.ascontiguousarray(r), float(np.log(quad.weights.sum())), certificate.padded(nodes, wn))

    def margin(self, u: np.ndarray, alpha: np.ndarray | None = None) -> np.ndarray:
        """The depth t* of every row of ``u`` (ncells, n), or a bound on it with the same sign (see the
        module docstring); −inf where u0 ≤ 0, NaN where u is not finite. ``alpha``: multipliers of an
        exponential ansatz e^{α·m} per row with moments near u (the closure's of the last stage), where the
        certificate search starts first (:mod:`.certificate`); any α gives the same verdicts."""
        u2 = np.ascontiguousarray(u, dtype=float)
        out = np.empty(u2.shape[0])
        warm = np.zeros((0, u2.shape[1])) if alpha is None else np.ascontiguousarray(alpha, dtype=float)
        if warm.shape[0] and warm.shape != u2.shape:
            raise ValueError(f"cone margin: alpha has shape {warm.shape}, the moments {u2.shape}")
        certificate.decide(u2, warm, self.from_basis, self.log_weight, np.ascontiguousarray(self.to_orth.T),
                           *self.padded, self.nodes.shape[0], self.tests, self.test_sizes, self.reach,
                           CERTIFY_STEPS, REJECT_BELOW, out)
        for i in np.flatnonzero(np.isinf(out) & (out > 0)):  # undecided: the exact test
            out[i] = lp.depth(self.nodes, self.to_orth @ u2[i] / u2[i, 0])
        return out


def localisers(quad: Quadrature) -> list[tuple[np.ndarray, int]]:
    """Polynomials ℓ ≥ 0 on the sphere (or [−1, 1]) for the necessary conditions: (values at the nodes,
    degree). 1D: 1, 1 − μ², 1 ± μ; 2D: 1, 1 − vx² − vy² (= μ²), 1 ± vx, 1 ± vy."""
    v = quad.velocity
    one = np.ones(quad.size)
    out = [(one, 0), (np.maximum(1.0 - np.sum(v * v, axis=1), 0.0), 2)]
    for d in range(quad.dim):
        out += [(np.maximum(1.0 + v[:, d], 0.0), 1), (np.maximum(1.0 - v[:, d], 0.0), 1)]
    return out


def _orthonormal(values: np.ndarray, weights: np.ndarray, strict: bool = True):
    """(q, R): q = values R⁻¹ orthonormal under ``weights`` (QR of √w·values, R with a positive diagonal,
    so q_0 = 1 where values[:, 0] ≡ 1). None, None where the values are dependent under these weights."""
    if values.shape[0] < values.shape[1]:
        if strict:
            raise ValueError(f"the rule's {values.shape[0]} nodes cannot resolve {values.shape[1]} basis functions: "
                             "use a finer quadrature")
        return None, None
    sw = np.sqrt(weights)[:, None]
    qr, r = np.linalg.qr(sw * values)
    sign = np.where(np.diag(r) < 0, -1.0, 1.0)
    r, qr = sign[:, None] * r, qr * sign[None, :]
    if np.abs(np.diag(r)).min() <= 1e-10 * np.abs(np.diag(r)).max():
        if strict:
            raise ValueError("the rule does not resolve the basis (its node vectors are dependent): use a "
                             "finer quadrature")
        return None, None
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.where(sw > 0, qr / sw, values @ np.linalg.inv(r))
    return q, r
