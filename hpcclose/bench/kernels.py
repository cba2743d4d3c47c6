"""``hpcclose bench kernels``: achieved GFLOP/s of the Newton closure and of the fused flux, against the peak
this core reaches with FMA code compiled by Numba.

The floating-point work is counted from the algorithms, not from hardware counters (what a cell needs,
not what the tiling repeats), with exp counted as :data:`EXP_FLOPS` (range reduction, degree-13
polynomial, scaling: the :mod:`hpcclose.kernels.fastmath` exps):

* Newton, per cell: (iterations + 1) evaluations of the ansatz, 2nQ + (EXP_FLOPS + 2)Q; as many gradients,
  2 nb Q (the moments of the nb distinct basis products) + 2 nnz(Cg); iterations Hessians and steps,
  2 nnz(C) + n³/3 + 2n². Backtracking trials are not counted (a lower bound).
* Flux, per cell and stage: the ansatz (2n + EXP_FLOPS) Q, and per space dimension one face: the
  minmod reconstruction (24 Q for second order), the n weighted sums 2nQ and the difference 3n.

The peak is measured, not taken from a data sheet: 8 dependent FMAs per element over a row in L1, so the
loop is vectorised across the row and bound by FMA throughput (about 57 GFLOP/s on the AVX-512 core this
was written on, 2.6 GHz).
"""

from __future__ import annotations

import time

import numpy as np
from numba import njit

from ..closures import get_closure
from ..kernels.fastmath import fma
from ..scheme.boundary import BoundaryCondition, apply_boundaries
from ..scheme.divergence import FluxDivergence
from ..scheme.flux import flux_divergence_1d, flux_divergence_2d, nodal_values
from ..velocity import gauss_legendre, make_basis, sphere_product

EXP_FLOPS = 36  # flops of one exp (see the module docstring)


@njit(cache=True)
def _fma_rows(a, reps):
    """8 dependent FMAs per element and pass, vectorised across the row: FMA-throughput bound."""
    for _ in range(reps):
        for j in range(a.shape[0]):
            v = a[j]
            v = fma(v, 0.999, 1e-3)
            v = fma(v, 0.999, 1e-3)
            v = fma(v, 0.999, 1e-3)
            v = fma(v, 0.999, 1e-3)
            v = fma(v, 0.999, 1e-3)
            v = fma(v, 0.999, 1e-3)
            v = fma(v, 0.999, 1e-3)
            v = fma(v, 0.999, 1e-3)
            a[j] = v
    return a


def _best(fn, repeat: int) -> float:
    """Best CPU time of ``repeat`` calls (CPU time, not wall: the neighbours' load on a shared machine
    does not count, their cache and memory traffic still does)."""
    best = np.inf
    for _ in range(repeat):
        t0 = time.process_time()
        fn()
        best = min(best, time.process_time() - t0)
    return best


def peak_gflops(repeat: int = 5) -> float:
    """GFLOP/s of :func:`_fma_rows` on one core."""
    a = np.full(256, 0.5)
    reps = 10**5
    _fma_rows(a, 2)
    return 16 * a.size * reps / _best(lambda: _fma_rows(a, reps), repeat) / 1e9


def _setup(dim: int, kind: str, N: int, quadrature):
    quad = gauss_legendre(quadrature) if dim == 1 else sphere_product(*quadrature)
    return make_basis(kind, dim, N), quad


def newton_flops(closure, iterations: float) -> float:
    """Flops of one cell-solve taking ``iterations`` Newton steps (the module docstring's count)."""
    mT, w, wbT = closure.data[:3]
    n, nq, nb = mT.shape[0], int(np.count_nonzero(w)), wbT.shape[0]
    nnz_h, nnz_g = closure.data[9].size, closure.data[12].size
    evaluation = 2 * n * nq + (EXP_FLOPS + 2) * nq
    gradient = 2 * nb * nq + 2 * nnz_g
    step = 2 * nnz_h + n**3 / 3 + 2 * n**2
    return (iterations + 1) * (evaluation + gradient) + iterations * step


def flux_flops(n: int, Q: int, dim: int, order: int) -> float:
    """Flops of the flux divergence of one cell in one stage."""
    face = (24 * Q if order == 2 else 0) + 2 * n * Q + 3 * n
    return (2 * n + EXP_FLOPS) * Q + dim * face


def closure_row(dim: int, kind: str, N: int, quadrature, cells: int, repeat: int, peak: float, seed: int = 0) -> dict:
    """A warm-started batch (α of random multipliers perturbed by 1e−3: a time step's situation)."""
    basis, quad = _setup(dim, kind, N, quadrature)
    c = get_closure("newton", basis, quad, check=False)
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(cells, basis.n)) * 0.5 / np.arange(1, basis.n + 1)
    alpha, _ = c.multipliers(c.moments(a))
    u = c.moments(alpha + 1e-3 * rng.normal(size=alpha.shape) * np.abs(alpha).max(axis=1, keepdims=True))
    _, stats = c.multipliers(u, alpha)
    seconds = _best(lambda: c.multipliers(u, alpha), repeat)
    flops = newton_flops(c, stats.iterations_mean) * cells
    return {"kernel": "newton (warm)", "dim": dim, "basis": kind, "N": N, "n": basis.n, "Q": quad.size,
            "cells": cells, "iterations": stats.iterations_mean, "ns_per_cell": 1e9 * seconds / cells,
            "gflops": flops / seconds / 1e9, "peak_fraction": flops / seconds / 1e9 / peak}


def _stored_path(m, quad, conds, walls, spacing, order, dim):
    """The flux as the step computed it before the fused kernel: nodal values of every owned and ghost
    cell stored (Q a cell), walls written into them, then the face fluxes (for the before/after)."""
    def run(alpha, f, out):
        nodal_values(alpha, m, False, out=f)
        apply_boundaries(f, conds, walls)
        if dim == 1:
            return flux_divergence_1d(f, quad.velocity[:, 0], quad.weights, m, spacing, order, 2.0, out)
        return flux_divergence_2d(f, quad.velocity[:, 0], quad.velocity[:, 1], quad.weights, m, spacing, spacing,
                                  order, 2.0, out)
    return run


def flux_row(dim: int, kind: str, N: int, quadrature, cells: int, repeat: int, peak: float, order: int = 2) -> dict:
    """The fused flux of a block of ``cells`` (1D) or ``cells``² (2D) with floor walls, random α; and the
    stored-array path on the same data (time and bytes of nodal values per cell) for comparison."""
    basis, quad = _setup(dim, kind, N, quadrature)
    m = basis.evaluate(quad)
    shape = (cells,) if dim == 1 else (cells, cells)
    floor = BoundaryCondition.constant(1e-8, quad.size)
    conds, walls = [(floor, floor)] * dim, [(True, True)] * dim
    div = FluxDivergence(m, quad.weights, quad.velocity, (0.01,) * dim, order, 2.0, False, conds, walls, shape)
    alpha = np.random.default_rng(1).normal(size=tuple(s + 4 for s in shape) + (basis.n,)) * 0.1
    out = np.empty(shape + (basis.n,))
    stored, f = _stored_path(m, quad, conds, walls, 0.01, order, dim), np.empty(alpha.shape[:-1] + (quad.size,))
    div(alpha, out)
    stored(alpha, f, out)
    seconds = _best(lambda: div(alpha, out), repeat)
    seconds_stored = _best(lambda: stored(alpha, f, out), repeat)
    ncells = int(np.prod(shape))
    flops = flux_flops(basis.n, quad.size, dim, order) * ncells
    return {"kernel": f"flux (order {order})", "dim": dim, "basis": kind, "N": N, "n": basis.n, "Q": quad.size,
            "cells": ncells, "iterations": None, "ns_per_cell": 1e9 * seconds / ncells,
            "gflops": flops / seconds / 1e9, "peak_fraction": flops / seconds / 1e9 / peak,
            "stored_ns_per_cell": 1e9 * seconds_stored / ncells, "stored_bytes_per_cell": f.nbytes / ncells,
            "tile_bytes_per_thread": div.tile_bytes}


def run(orders_1d, quadrature_1d: int, orders_2d, quadrature_2d, cells_1d: int, cells_2d: int, repeat: int,
        log=print) -> tuple[float, list[dict]]:
    """Peak, then the closure and the flux for every 1D (Legendre) and 2D (monomial) order."""
    peak = peak_gflops(repeat)
    log(f"peak of this core (FMA rows, Numba): {peak:.1f} GFLOP/s")
    log(f"{'kernel':<15} {'dim':>3} {'N':>2} {'n':>3} {'Q':>4} {'iter':>5} {'ns/cell':>9} {'GFLOP/s':>8} "
        f"{'of peak':>8}")
    rows = []
    cases = [(1, "legendre", N, quadrature_1d, cells_1d) for N in orders_1d]
    cases += [(2, "monomial", N, quadrature_2d, cells_2d) for N in orders_2d]
    for dim, kind, N, quad, cells in cases:
        for row in (closure_row(dim, kind, N, quad, cells if dim == 1 else cells**2, repeat, peak),
                    flux_row(dim, kind, N, quad, cells, repeat, peak)):
            rows.append(row)
            it = "" if row["iterations"] is None else f"{row['iterations']:.2f}"
            stored = (f"   (stored nodal values: {row['stored_ns_per_cell']:.1f} ns/cell, "
                      f"{row['stored_bytes_per_cell']:.0f} B/cell)" if "stored_ns_per_cell" in row else "")
            log(f"{row['kernel']:<15} {dim:>3} {N:>2} {row['n']:>3} {row['Q']:>4} {it:>5} {row['ns_per_cell']:9.1f} "
                f"{row['gflops']:8.2f} {100 * row['peak_fraction']:7.1f}%{stored}")
    return peak, rows
