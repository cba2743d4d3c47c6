"""A cell's multipliers, and the moments of its ansatz, do not depend on the batch it is closed in.

The ranks of a run close different batches of cells (their own), so anything a closure computes with a
product over the whole batch (a BLAS ``@`` rounds a row differently with the number of rows) makes the
results change in the last bit with the number of ranks — as the realizability reconstruction and P_N did.
Every closure is evaluated on a batch of 300 cells and on slices of it of other sizes and offsets.
"""

from __future__ import annotations

import numpy as np
import pytest

from hpcclose.closures import get_closure
from hpcclose.closures.neural import export
from hpcclose.velocity import gauss_legendre, make_basis, sphere_product
from hpcclose.velocity.hemisphere import hemisphere

SLICES = [(0, 1), (1, 5), (7, 37), (3, 130), (0, 299), (64, 236)]


def _cases():
    """(label, closure factory) for every closure kind, 1D and 2D."""
    m1, m2 = make_basis("monomial", 1, 1), make_basis("monomial", 1, 2)
    gl = gauss_legendre(30)
    yield "newton 1D M2", lambda: get_closure("newton", m2, gl)
    yield "newton 2D M2", lambda: get_closure("newton", make_basis("monomial", 2, 2), hemisphere(sphere_product(8, 16)))
    yield "pn 1D P5", lambda: get_closure("pn", make_basis("legendre", 1, 5), gl)
    yield "pn 2D P2", lambda: get_closure("pn", make_basis("monomial", 2, 2), hemisphere(sphere_product(8, 16)))
    yield "m1_exact", lambda: get_closure("m1_exact", m1, gl)
    yield "spline", lambda: get_closure("spline", m1, gl, size=130)
    for name in ("ICNN15x7_M2_1D", "ICNN20x7_M2_2D_rot"):
        for kind in ("network", "hybrid"):
            yield f"{kind} {name}", lambda name=name, kind=kind: _network(name, kind)


def _network(name: str, kind: str):
    net = export.load(name)
    basis, quad = net.velocity()
    return get_closure(net.architecture if kind == "network" else "hybrid", basis, quad, model=name)


CASES = dict(_cases())


@pytest.mark.parametrize("label", list(CASES))
def test_cell_results_do_not_depend_on_the_batch(label):
    closure = CASES[label]()
    rng = np.random.default_rng(3)
    # moments of random anisotropic ansätze (and a few nearer the realizable boundary) at varied densities
    m = closure.basis.evaluate(closure.quad)
    scale = np.linspace(0.2, 6.0, 300)[:, None]
    at = rng.normal(size=(300, closure.n - 1)) * scale / np.sqrt(closure.n)
    u = (np.exp(at @ m[:, 1:].T) * closure.w) @ m
    u *= rng.uniform(1e-3, 10.0, size=(300, 1)) / u[:, :1]
    alpha, _ = closure.multipliers(u)
    moments = closure.moments(alpha)
    for start, size in SLICES:
        part = slice(start, start + size)
        a, _ = closure.multipliers(u[part].copy())
        assert np.array_equal(a, alpha[part]), f"{label}: α of cells {start}… changes with the batch"
        assert np.array_equal(closure.moments(a), moments[part]), f"{label}: the ansatz's moments change"


@pytest.mark.parametrize("linear", [False, True])
def test_chunked_moments_equal_the_per_cell_function_bitwise(linear):
    """The CPU's chunked kernel and the per-cell function the GPU step calls do the same operations."""
    from numba import njit

    from hpcclose.kernels.moments import ansatz_moments, ansatz_moments_cell

    @njit
    def per_cell(alpha, mT, w, linear):
        u = np.empty_like(alpha)
        for i in range(alpha.shape[0]):
            ansatz_moments_cell(alpha, i, mT, w, linear, u)
        return u

    closure = get_closure("newton", make_basis("monomial", 2, 3), hemisphere(sphere_product(8, 16)))
    alpha = np.random.default_rng(5).normal(size=(300, closure.n))
    mT, w = np.ascontiguousarray(closure.m.T), closure.w
    np.testing.assert_array_equal(ansatz_moments(alpha, mT, w, linear), per_cell(alpha, mT, w, linear))
