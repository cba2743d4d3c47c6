"""Realizability for the discrete measure of a rule: is u = Σ_q g_q m(v_q) with g ≥ 0?

The moments a run can hold are those of non-negative nodal densities: the cone spanned by the nodes'
basis vectors m(v_q). Its *depth* measures how far inside a state lies,

    t*(u) = max { t : u/u0 = Σ_q g_q m(v_q),  g_q ≥ t · w_q / Σw }   ∈ (−∞, 1],

the share of isotropic density the state holds (1 for the isotropic state, 0 on the boundary, negative
outside). Everything is computed in coordinates orthonormal under the rule (ω' = S u/u0, node vectors
q(v) with Σ_q ŵ_q q qᵀ = I, ŵ = w/Σw, q_0 ≡ 1), where the tests are well conditioned at any N.

Per cell, in one Numba pass (cheap, decides almost every cell of a run):

1. **A certificate of realizability** (a lower bound on t*): densities ĝ = ŵ exp(a·q) ⊙ (1 + d·q) have
   exactly the moments ω' when d = H⁻¹(ω' − ⟨q e^{a·q}⟩), H = ⟨q qᵀ e^{a·q}⟩ — one Newton step of the
   entropy dual from a. At a = 0 it is the P_N density ω'·q(v). If 1 + d·q ≥ 0 at every node, the state is
   realizable and t* ≥ min_q e^{a·q_q}(1 + d·q_q). Otherwise take a damped Newton step and try again
   (:data:`CERTIFY_STEPS` at most): interior states are certified within a few. Before any of this, in
   O(n): the P_N density is at least 1 − B|ω'_{1:}| with B = max_q |q_{1:}(v_q)|, which settles the nearly
   isotropic cells (most cells of a run) without a pass over the nodes.
2. **Necessary conditions** (an upper bound on t*): for a polynomial ℓ ≥ 0 at the nodes (1, and 1 − μ²,
   1 ± μ in 1D; 1 − vx² − vy² = μ², 1 ± vx, 1 ± vy in 2D) and polynomials ψ with ℓψψᵀ of degree ≤ N,
   L(ω') = Σ_q ĝ_q ℓ_q ψ ψᵀ is linear in ω' and positive semi-definite for every realizable state; with
   ψ orthonormal under ŵℓ, L(isotropic) = I, so t* ≤ λ_min L(ω'). A clearly negative bound rejects the
   state.

The few cells neither step decides go to the exact test, a linear programme (:mod:`.lp`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit, prange

from ..kernels.fastmath import exp_row
from ..kernels.jit import PARALLEL, SERIAL
from . import lp
from .quadrature import Quadrature

#: Damped Newton steps the certificate search takes before it gives a cell to the exact test.
CERTIFY_STEPS = 12
#: An upper bound this far below zero rejects a state (the bounds are exact to ~1e−15 in these coordinates).
REJECT_BELOW = -1e-9
#: Armijo parameters of the damped steps (sufficient decrease, smallest step).
_ARMIJO, _MIN_STEP = 1e-4, 1e-6
#: The search starts from log max(p, _FLOOR · max p), p the P_N density (measured on the line source: fewest steps).
_FLOOR = 1e-3


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
        return cls(quad.name, np.ascontiguousarray(to_orth), np.ascontiguousarray(nodes), wn, flat, sizes, reach)

    def margin(self, u: np.ndarray) -> np.ndarray:
        """The depth t* of every row of ``u`` (ncells, n), or a bound on it with the same sign (see the
        module docstring); −inf where u0 ≤ 0, NaN where u is not finite."""
        u2 = np.ascontiguousarray(u, dtype=float)
        out = np.empty(u2.shape[0])
        omega = np.empty_like(u2)
        _decide(u2, np.ascontiguousarray(self.to_orth.T), self.nodes, np.ascontiguousarray(self.nodes.T),
                self.weights, self.tests, self.test_sizes, self.reach, CERTIFY_STEPS, REJECT_BELOW, out, omega)
        for i in np.flatnonzero(np.isinf(out) & (out > 0)):  # undecided: the exact test
            out[i] = lp.depth(self.nodes, omega[i])
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


# --- the per-cell tests (Numba) ----------------------------------------------------------------------
@njit(**SERIAL)
def _cholesky_solve(h, r, d):
    """d ← H⁻¹ r, H (symmetric) overwritten by its Cholesky factor L in the lower triangle; False if H is not
    numerically positive definite. Right-looking factorisation and column-oriented substitutions: the
    inner loops run down columns of L without a reduction."""
    n = h.shape[0]
    for k in range(n):
        if not h[k, k] > 1e-300:
            return False
        h[k, k] = np.sqrt(h[k, k])
        for i in range(k + 1, n):
            h[i, k] /= h[k, k]
        for j in range(k + 1, n):
            for i in range(j, n):
                h[i, j] -= h[i, k] * h[j, k]
    d[:] = r
    for k in range(n):  # L y = r
        d[k] /= h[k, k]
        for i in range(k + 1, n):
            d[i] -= h[i, k] * d[k]
    for k in range(n - 1, -1, -1):  # Lᵀ d = y
        d[k] /= h[k, k]
        for i in range(k):
            d[i] -= h[k, i] * d[k]
    return True


@njit(**SERIAL)
def _ansatz(a, nodes_t, wn, z, e):
    """z ← q·a and e ← ŵ e^z at every node; returns Σ e (inf on overflow). Loops without reductions over
    the nodes, and the vectorised exp of the flux kernels: these run for every uncertified cell."""
    n, Q = nodes_t.shape
    z[:] = 0.0
    for j in range(n):
        aj = a[j]
        for q in range(Q):
            z[q] += aj * nodes_t[j, q]
    e[:] = z
    exp_row(e, np.empty(Q))
    total = 0.0
    for q in range(Q):
        e[q] *= wn[q]
        total += e[q]
    return total


@njit(**SERIAL)
def _newton_system(omega, nodes, nodes_t, e, weighted, h, r):
    """r ← ω' − Σ e q and H ← Σ e q qᵀ (BLAS: these products are most of the certificate search's work)."""
    n, Q = nodes_t.shape
    for j in range(n):
        for q in range(Q):
            weighted[j, q] = e[q] * nodes_t[j, q]
    h[:, :] = np.dot(weighted, nodes)
    r[:] = omega - np.dot(nodes_t, e)


@njit(**SERIAL)
def _certify(omega, nodes, nodes_t, wn, steps):
    """A lower bound on the depth from the densities ŵ e^{a·q}(1 + d·q) (module docstring); −inf if none of
    the tries is non-negative at every node."""
    n, Q = nodes_t.shape
    # a = 0: the P_N density p = ω'·q, no factorisation needed (decides most cells of a run)
    p = np.zeros(Q)
    for j in range(n):
        for q in range(Q):
            p[q] += omega[j] * nodes_t[j, q]
    lo, top = np.inf, -np.inf
    for q in range(Q):
        lo, top = min(lo, p[q]), max(top, p[q])
    if lo > 0.0 or steps == 0:
        return lo if lo > 0.0 else -np.inf
    # start from the projection of log p (p floored at 1e−3 of its peak): half the cells a run leaves here
    # are certified at once, the rest within a few steps (fewer than from a = 0)
    a = np.zeros(n)
    for q in range(Q):
        lp = np.log(max(p[q], _FLOOR * top)) * wn[q]
        for j in range(n):
            a[j] += lp * nodes_t[j, q]
    d, r, trial = np.empty(n), np.empty(n), np.empty(n)
    z, e, h, weighted = np.empty(Q), np.empty(Q), np.empty((n, n)), np.empty((n, Q))
    phi = _ansatz(a, nodes_t, wn, z, e) - np.dot(a, omega)
    for _ in range(steps):
        # the correction d = H⁻¹(ω' − ⟨q e^{a·q}⟩) at a: a certificate if 1 + d·q ≥ 0 at every node
        _newton_system(omega, nodes, nodes_t, e, weighted, h, r)
        if not (np.isfinite(phi) and _cholesky_solve(h, r, d)):
            return -np.inf
        corr = np.ones(Q)
        for j in range(n):
            for q in range(Q):
                corr[q] += d[j] * nodes_t[j, q]
        lo = np.inf
        for q in range(Q):
            lo = min(lo, e[q] / wn[q] * corr[q])
        if lo > 0.0:
            return lo
        # otherwise d is the Newton direction of the entropy dual φ(a) = Σ ŵ e^{a·q} − a·ω': a damped step
        slope = -np.dot(d, r)
        s = 1.0
        while True:
            for j in range(n):
                trial[j] = a[j] + s * d[j]
            new = _ansatz(trial, nodes_t, wn, z, e) - np.dot(trial, omega)
            if new <= phi + _ARMIJO * s * slope or s < _MIN_STEP:
                break
            s *= 0.5
        a[:] = trial
        phi = new
    return -np.inf


@njit(**SERIAL)
def _upper_bound(omega, tests, sizes):
    """min over the necessary-condition matrices of λ_min(L(ω')) (inf if there are none)."""
    n = omega.shape[0]
    hi = np.inf
    off = 0
    for k in sizes:
        mat = np.zeros((k, k))
        for i in range(k):
            for j in range(k):
                s = 0.0
                base = off + (i * k + j) * n
                for l in range(n):
                    s += tests[base + l] * omega[l]
                mat[i, j] = s
        hi = min(hi, np.linalg.eigvalsh(mat)[0])
        off += k * k * n
    return hi


@njit(**PARALLEL)
def _decide(u, to_orth_t, nodes, nodes_t, wn, tests, sizes, reach, steps, reject_below, out, omega):
    """Per cell: ω' into ``omega``; the depth bound into ``out`` (+inf: undecided, for the exact test)."""
    ncells, n = u.shape
    for i in prange(ncells):
        u0 = u[i, 0]
        finite = True
        for j in range(n):
            finite = finite and np.isfinite(u[i, j])
        if not finite:
            out[i] = np.nan
            continue
        if not u0 > 0.0:
            out[i] = -np.inf
            continue
        for j in range(n):
            s = 0.0
            for l in range(n):
                s += u[i, l] * to_orth_t[l, j]
            omega[i, j] = s / u0
            finite = finite and np.isfinite(omega[i, j])
        if not finite:  # moments too large to normalise
            out[i] = np.nan
            continue
        spread = 0.0
        for j in range(1, n):
            spread += omega[i, j] * omega[i, j]
        lo = 1.0 - reach * np.sqrt(spread)
        if lo > 0.0:  # nearly isotropic: the P_N density is positive at every node
            out[i] = lo
            continue
        lo = _certify(omega[i], nodes, nodes_t, wn, steps)
        if lo > 0.0:
            out[i] = lo
            continue
        hi = _upper_bound(omega[i], tests, sizes)
        out[i] = hi if hi < reject_below else np.inf
