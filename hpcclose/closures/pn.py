"""Linear P_N closure ("pn"): f ≈ α·m with α = M⁻¹u, M = ⟨m mᵀ⟩ under the closure's quadrature.

For the Legendre basis and a rule exact to degree 2N, M = diag(2/(2k+1)) and f = Σ_k (2k+1)/2 u_k P_k(μ)
(SCIENCE.md §2). Any basis and dimension works: M is computed under the closure's own quadrature, so
the ansatz α·m reproduces u *exactly* under that quadrature (round-off only) and one flux kernel serves
M_N and P_N (``linear = True``: :meth:`Closure.ansatz` returns α·m). Its entropy is ½⟨f²⟩ = ½ αᵀMα
= ½ α·u (handled by the base class). No realizability is required — P_N densities may be negative —
only finite moments.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg

from ..errors import InputError
from ..kernels.moments import cellwise_product
from ..velocity import Basis, Quadrature
from .base import Closure, ClosureStats


class PNClosure(Closure):
    """Linear spectral closure: α = M⁻¹u with the mass matrix M = ⟨m mᵀ⟩ factorised once (Cholesky)."""

    name = "pn"
    linear = True

    def __init__(self, basis: Basis, quad: Quadrature):
        super().__init__(basis, quad)
        self.mass = (self.m.T * self.w) @ self.m
        try:
            self._cho = scipy.linalg.cho_factor(self.mass, lower=True, check_finite=True)
        except np.linalg.LinAlgError:
            raise InputError(
                f"closure 'pn': the quadrature {quad.name} ({quad.size} nodes) does not resolve the "
                f"{basis.describe()} (⟨m mᵀ⟩ is singular); use a finer quadrature") from None
        # reject a numerically singular mass matrix too (the Cholesky can succeed on round-off)
        if np.linalg.cond(self.mass) > 1e12:
            raise InputError(
                f"closure 'pn': ⟨m mᵀ⟩ under {quad.name} is ill-conditioned for the {basis.describe()} "
                f"(cond {np.linalg.cond(self.mass):.1e}); use a finer quadrature")
        # the small n×n inverse (transposed), formed once from the factor: a batch then costs one
        # (ncells×n)·(n×n) product instead of a LAPACK call (which threads badly on small, frequent
        # batches); the device closure (hpcclose.gpu.pn) uses it too
        self.inv_t = np.ascontiguousarray(scipy.linalg.cho_solve(self._cho, np.eye(self.n)).T)

    def multipliers(self, u: np.ndarray, alpha0: np.ndarray | None = None) -> tuple[np.ndarray, ClosureStats]:
        """Expansion coefficients α = M⁻¹u (ncells, n); ``alpha0`` is ignored (the map is linear)."""
        u, shape = self.as_cells(u, "pn")
        self.check_realizable(u, where="pn")
        alpha = cellwise_product(np.ascontiguousarray(u), self.inv_t)  # a cell's α whatever the batch
        return alpha.reshape(shape), ClosureStats(ncells=u.shape[0])
