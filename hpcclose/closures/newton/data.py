"""The data the Newton kernels take: node arrays and the product tensor of the fast path.

:func:`kernel_data` packs a basis and quadrature into one tuple (node arrays transposed, components ×
nodes, and zero-padded to a multiple of ``PAD`` nodes with zero weights, so sums are unchanged). The fast
path forms gradient and Hessian from the moments y_l = ⟨b_l G⟩ of the distinct products b_l of basis
functions (monomials of degree ≤ 2N: 5 sums instead of 9 for 1D M2), mapped by an exact coefficient
tensor (:func:`_product_tensor`, 0/1 for monomial bases).
"""

from __future__ import annotations

import numpy as np

from ...velocity import Basis, Quadrature

# Node arrays are zero-padded to a multiple of this (vector width × unroll of the node loops).
PAD = 8


def _product_tensor(basis: Basis, m: np.ndarray, quad: Quadrature):
    """Product basis b (monomials of degree ≤ 2N) and C, Cg with m_j m_k = Σ_l C_jkl b_l, m_j = Σ_l Cg_jl b_l.

    Built from ``basis.to_monomial`` (exact 0/1 for monomial bases); verified at the nodes, and if the
    identity does not hold to rounding (it always should for polynomial bases) the distinct pair
    products themselves are used as b.
    """
    n = basis.n
    mono = Basis("monomial", basis.dim, basis.N).exponents
    prod = Basis("monomial", basis.dim, 2 * basis.N)
    index = {e: l for l, e in enumerate(prod.exponents)}
    Tm = basis.to_monomial
    if basis.kind == "monomial":
        Tm = np.eye(n)
    C = np.zeros((n, n, prod.n))
    Cg = np.zeros((n, prod.n))
    for a, ea in enumerate(mono):
        Cg[:, index[ea]] += Tm[:, a]
        for b, eb in enumerate(mono):
            e = tuple(x + y for x, y in zip(ea, eb, strict=True))
            C[:, :, index[e]] += np.outer(Tm[:, a], Tm[:, b])
    bvals = prod.evaluate(quad)  # (Q, nb)
    pairs = np.einsum("qj,qk->qjk", m, m)
    scale = np.abs(pairs).max() + 1.0
    ok = (np.abs(np.einsum("jkl,ql->qjk", C, bvals) - pairs).max() <= 1e-12 * scale
          and np.abs(bvals @ Cg.T - m).max() <= 1e-12 * scale)
    if ok:
        return bvals, C, Cg
    # generic fallback: b = the n basis functions and their n(n+1)/2 pair products
    funcs = [m[:, j] for j in range(n)] + [m[:, j] * m[:, k] for j in range(n) for k in range(j + 1)]
    bvals = np.stack(funcs, axis=1)
    nb = bvals.shape[1]
    C = np.zeros((n, n, nb))
    Cg = np.zeros((n, nb))
    Cg[np.arange(n), np.arange(n)] = 1.0
    l = n
    for j in range(n):
        for k in range(j + 1):
            C[j, k, l] = C[k, j, l] = 1.0
            l += 1
    return bvals, C, Cg


def _sparse_rows(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CSR form (row starts, column indices, values) of the non-zeros of ``rows`` (r, nb), columns in
    increasing order: the fast path sums exactly the non-zero terms, in the order the dense loop would."""
    starts = np.zeros(rows.shape[0] + 1, np.int64)
    starts[1:] = np.cumsum((rows != 0.0).sum(axis=1))
    cols = np.nonzero(rows)[1].astype(np.int64)
    return starts, cols, np.ascontiguousarray(rows[rows != 0.0])


def kernel_data(basis: Basis, quad: Quadrature) -> tuple:
    """The tuple (mT, w, wbT, C, Cg, phi_floor, mmax, *Hs, *Gs) the kernels take (flat: a parallel
    kernel cannot take nested tuples).

    mT (n, Qp): basis values, transposed and zero-padded to Qp = multiple of ``PAD`` nodes; w (Qp,):
    weights (zero on padding); wbT (nb, Qp): weights × product basis; C (n, n, nb), Cg (n, nb): see
    :func:`_product_tensor`; phi_floor: lower bound of φ for realizable normalised moments (−inf if
    m0 ≢ 1); mmax: max |m| (scales the rounding level of φ); Hs, Gs: the non-zeros of C's lower triangle
    (rows (j, p ≤ j) in that order) and of Cg, each as the three arrays of :func:`_sparse_rows`. For a monomial
    basis every Hessian entry has one term, y_{j+p} (a Hankel matrix in 1D): n(n + 1)/2 products instead
    of n(n + 1)/2 · nb.
    """
    m = np.asarray(basis.evaluate(quad), dtype=float)
    Q, n = m.shape
    Qp = -(-Q // PAD) * PAD
    mT = np.zeros((n, Qp))
    mT[:, :Q] = m.T
    w = np.zeros(Qp)
    w[:Q] = quad.weights
    bvals, C, Cg = _product_tensor(basis, m, quad)
    wbT = np.zeros((bvals.shape[1], Qp))
    wbT[:, :Q] = (bvals * quad.weights[:, None]).T
    if np.allclose(m[:, 0], 1.0, rtol=0.0, atol=1e-14):
        phi_floor = 1.0 + float(np.log(quad.weights.min())) - 1e-6
    else:
        phi_floor = -np.inf
    lower = np.array([C[j, p] for j in range(n) for p in range(j + 1)]).reshape(-1, C.shape[2])
    return (np.ascontiguousarray(mT), w, np.ascontiguousarray(wbT), np.ascontiguousarray(C),
            np.ascontiguousarray(Cg), phi_floor, float(np.abs(m).max()), *_sparse_rows(lower), *_sparse_rows(Cg))

