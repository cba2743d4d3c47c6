"""The M_N closure by Newton's method on the Maxwell–Boltzmann dual problem ("newton").

For every cell, minimise (SCIENCE.md §2)

    φ(α) = ⟨exp(α·m)⟩ − α·u,     ∇φ = ⟨m e^{α·m}⟩ − u,     ∇²φ = ⟨m mᵀ e^{α·m}⟩,

with ⟨·⟩ the closure's quadrature. The solver matches the moments of the *discrete* measure: a moment
vector outside the convex hull of the basis values at the nodes has no solution even if it is realizable
for the exact integral (1D M2 with 30 Gauss–Legendre nodes: u2/u0 > μ_max² ≈ 0.9937, or just above the
parabola between two nodes; about 1 % of moments drawn uniformly from the realizable set). Such cells are
caught by isotropic regularisation and reported in the stats, never returned silently.

Algorithm, and where each part lives
------------------------------------
1. **Normalise** (:mod:`.closure`): solve for ω = u/u0 (ω0 = 1), then α0 += log u0.
2. **Damped Newton** (:mod:`.cell`): Cholesky, Armijo backtracking on φ, stopping test ‖∇φ‖₂ ≤ tol on
   the normalised problem, safe arithmetic (no inf or NaN reaches the caller), failure detection.
3. **Fast path** (:mod:`.lanes`): many cells iterate together, one SIMD lane per cell.
4. **Robust path** (:mod:`.cell`): one cell at a time, with the adaptive change of basis of Alldredge,
   Hauck, O'Leary & Tits (2014) for the cells the fast path hands over.
5. **Isotropic regularisation and parallelism** (:mod:`.batch`): failed cells are retried for
   (1 − r) ω + r ω_iso, r by r; each attempt runs ``prange`` over chunks of cells.

:mod:`.data` packs a basis and quadrature into the tuple the kernels take; :mod:`.constants` holds the
iteration parameters and status codes; the fast math (exp, FMA, dot products) is :mod:`hpcclose.kernels`.

Kernels for other code
----------------------
Numba code can call :func:`newton_cell` (one normalised cell, scratch from :func:`make_workspace`) or
:func:`solve_chunk` (one attempt for a range of cells; :func:`~.batch.attempt` is the same with the
caller's scratch, which is how the CUDA kernels of :mod:`hpcclose.gpu.newton` run it, one cell a
thread); :func:`newton_batch` is the Python-level
parallel driver with regularisation that :class:`NewtonClosure` uses; :func:`kernel_data` builds their
``data`` argument.
"""

from .batch import newton_batch, solve_chunk
from .cell import make_workspace, newton_cell
from .closure import CHANGE_BASIS, DEFAULT_REGULARISATION, NewtonClosure
from .constants import (
    CHOLESKY,
    CONVERGED,
    ILLCONDITIONED,
    LINESEARCH,
    MAX_ITER,
    NONFINITE,
    NOT_STARTED,
    STATUS_NAMES,
    UNBOUNDED,
)
from .data import kernel_data
from .lanes import newton_lanes

__all__ = [
    "CHANGE_BASIS",
    "CHOLESKY",
    "CONVERGED",
    "DEFAULT_REGULARISATION",
    "ILLCONDITIONED",
    "LINESEARCH",
    "MAX_ITER",
    "NONFINITE",
    "NOT_STARTED",
    "STATUS_NAMES",
    "UNBOUNDED",
    "NewtonClosure",
    "kernel_data",
    "make_workspace",
    "newton_batch",
    "newton_cell",
    "newton_lanes",
    "solve_chunk",
]
