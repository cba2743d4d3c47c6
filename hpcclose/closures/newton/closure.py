"""The "newton" closure: options, normalisation, statistics, around the batch driver of :mod:`.batch`.

Normalisation
-------------
The kernels solve for ω = u/u0 (ω0 = 1), then α0 += log u0 (exact because m0 ≡ 1). A warm start is
converted the other way (α0 −= log u0); the cold start is the isotropic density α = (−log Σw, 0, …),
whose moments are ``basis.isotropic(1, quad)`` exactly.

Cost of the input check
-----------------------
``check=True`` (default) calls :meth:`Closure.check_realizable`, a batched numpy eigenvalue test of the
Hankel matrices: 0.15–0.2 µs a cell for 1D M2 on one core (2e4 cells; measured), i.e. 15–25 % of a
warm-started solve (≈ 0.8 µs) and ≈ 10 % of a cold one. A simulation that already guarantees realizable
states can pass ``check=False``: then only finiteness and u0 > 0 are checked (a few ns a cell) and
non-realizable cells are regularised and reported in the stats instead of raising.
"""

from __future__ import annotations

import logging
from typing import Annotated, Literal

import numba
import numpy as np
from pydantic import AfterValidator, Field, model_validator

from ...validation import TomlArray
from ...velocity import Basis, Quadrature
from ..base import Closure, ClosureOptions, ClosureStats
from .batch import newton_batch
from .constants import CONVERGED
from .data import kernel_data
from .normalise import count_unclosable, denormalise, normalise

log = logging.getLogger(__name__)

# Switch to the adaptive change of basis when min L_jj² < ACB_SWITCH · max H_jj (condition ≳ 1e8).
ACB_SWITCH = 1e-8
CHANGE_BASIS = {"auto": ACB_SWITCH, "always": np.inf, "never": 0.0}
# Fast path: at most this many cells share the node loops (lanes), and a parallel work item holds at
# most CHUNK_LANES × lanes cells (fewer when that leaves threads idle).
MAX_LANES = 128
CHUNK_LANES = 16

DEFAULT_REGULARISATION = (1e-8, 1e-6, 1e-4, 1e-3, 1e-2, 5e-2, 0.1, 0.5, 1.0)


def _increasing(regs: tuple[float, ...]) -> tuple[float, ...]:
    if not (regs and all(0 < r <= 1 for r in regs) and all(np.diff(regs) > 0)):
        raise ValueError(f"must be increasing values in (0, 1], got {list(regs)}")
    return regs


class NewtonOptions(ClosureOptions):
    """``[closure.newton]``: see :class:`NewtonClosure`."""

    tol: float = Field(1e-9, gt=0.0, le=1.0, description="on ‖⟨m G⟩ − u‖₂ / u0")
    max_iter: int = Field(100, ge=1, description="iteration cap of each regularised attempt")
    k0: int = Field(50, ge=1, description="iterations of the unregularised attempt before regularising")
    regularisation: Annotated[tuple[float, ...], TomlArray, AfterValidator(_increasing)] = DEFAULT_REGULARISATION
    check: bool = Field(True, description="raise on non-realizable input (else regularise and report)")
    change_basis: Literal["auto", "always", "never"] = "auto"

    @model_validator(mode="after")
    def _k0_within_max_iter(self):
        if self.k0 > self.max_iter:
            raise ValueError(f"k0 ({self.k0}) must not exceed max_iter ({self.max_iter})")
        return self


class NewtonClosure(Closure):
    """Maxwell–Boltzmann M_N closure by a robust batched Newton solver (see the package docstring).

    Options (as an input file passes them)
    --------------------------------------
    tol : 1e−9, on ‖⟨m G⟩ − u‖₂ / u0.
    max_iter : 100, iteration cap of each regularised attempt.
    k0 : 50, iterations of the unregularised attempt before regularising (≤ max_iter).
    regularisation : increasing r in (0, 1], default (1e−8, 1e−6, 1e−4, 1e−3, 1e−2, 5e−2, 0.1, 0.5, 1).
    check : True: raise :class:`RealizabilityError` on non-realizable input (≈ 0.2 µs a cell in 1D M2);
        False: only finiteness and u0 > 0 are checked and non-realizable cells are regularised.
    change_basis : "auto" (default), "always" or "never" (adaptive change of basis, see :mod:`.cell`).
    """

    name = "newton"
    Options = NewtonOptions

    def __init__(self, basis: Basis, quad: Quadrature, **options):
        o = self.parse_options(options)
        super().__init__(basis, quad)
        self.tol, self.max_iter, self.k0, self.check = o.tol, o.max_iter, o.k0, o.check
        self.regularisation = np.asarray(o.regularisation, dtype=float)
        self.change_basis = o.change_basis
        self.acb_switch = float(CHANGE_BASIS[o.change_basis])

        self.data = kernel_data(basis, quad)
        self.omega_iso = np.ascontiguousarray(basis.isotropic(1.0, quad), dtype=float)
        self.alpha_cold = np.zeros(self.n)
        self.alpha_cold[0] = -np.log(self.w.sum())
        self.last_status = np.zeros(0, np.int64)
        self.last_iterations = np.zeros(0, np.int64)

    # --- the batched call -------------------------------------------------------------------------
    def multipliers(self, u: np.ndarray, alpha0: np.ndarray | None = None) -> tuple[np.ndarray, ClosureStats]:
        """α (ncells, n) with ⟨m e^{α·m}⟩ = u to ``tol``·u0 (or of the regularised moments, see stats)."""
        u2, shape = self.as_cells(u, "newton closure")
        u2 = np.ascontiguousarray(u2)
        if count_unclosable(u2):  # the base class's check names the offending cells
            self.as_cells(u, "newton closure", positive=True)
        if self.check:
            self.check_realizable(u2, where="newton closure input")
        logu0 = np.log(u2[:, 0])
        warm = alpha0 is not None
        if warm and np.shape(alpha0) != shape:
            raise ValueError(f"newton closure: alpha0 has shape {np.shape(alpha0)}, moments {shape}")
        # ω = u/u0 and the normalised warm start α0 − log u0, in new arrays: the caller's are not touched
        omega = np.empty_like(u2)
        a = np.empty_like(u2) if warm else None
        start = np.ascontiguousarray(alpha0, dtype=float).reshape(u2.shape) if warm else u2
        normalise(u2, logu0, start, warm, omega, omega if a is None else a)
        alpha, stats = self.solve_normalised(omega, a, moments=u2)
        unmoved = (self.last_iterations == 0) & (self.last_status == CONVERGED) & warm
        denormalise(alpha, logu0, start, unmoved)
        return alpha.reshape(shape), stats

    def entropy(self, u: np.ndarray, alpha: np.ndarray | None = None) -> np.ndarray:
        """h(u) = α·u − u0 per cell: at the dual optimum ⟨e^{α·m}⟩ = u0 (m0 ≡ 1), so no pass over the
        quadrature is needed (the difference is bounded by the stopping tolerance, tol·u0)."""
        u = np.asarray(u, dtype=float).reshape(-1, self.n)
        if alpha is None:
            alpha, _ = self.multipliers(u)
        return np.einsum("ij,ij->i", np.asarray(alpha).reshape(u.shape), u) - u[:, 0]

    def solve_normalised(self, omega: np.ndarray, alpha: np.ndarray | None = None,
                         moments: np.ndarray | None = None) -> tuple[np.ndarray, ClosureStats]:
        """Solve for normalised moments ω (ω0 = 1; not checked). ``alpha``: normalised warm starts (rows
        that are not finite start cold), updated in place when C-contiguous float64; the solution is
        returned either way. ``moments`` (default ω) is what ``stats.failed_moments`` reports.
        """
        omega = np.ascontiguousarray(omega, dtype=float)
        ncells = omega.shape[0]
        warm = alpha is not None
        alpha = np.ascontiguousarray(alpha, dtype=float) if warm else np.empty_like(omega)
        iters = np.zeros(ncells, np.int64)
        reg_index = np.zeros(ncells, np.int64)
        status = np.zeros(ncells, np.int64)
        if ncells:
            lanes, chunk = self._lanes(ncells)
            newton_batch(self.data, omega, alpha, warm, self.tol, self.k0, self.max_iter, self.acb_switch,
                         self.regularisation, self.omega_iso, self.alpha_cold, lanes, chunk, iters, reg_index,
                         status)
        self.last_status, self.last_iterations = status, iters
        regularised = np.flatnonzero(reg_index >= 0)
        failed = np.flatnonzero(reg_index == -2)
        src = omega if moments is None else moments
        stats = ClosureStats(
            ncells=ncells,
            iterations_mean=float(iters.mean()) if ncells else 0.0,
            iterations_max=int(iters.max()) if ncells else 0,
            regularised=regularised,
            reg_r=self.regularisation[reg_index[regularised]],
            failed=failed,
            failed_moments=np.array(src[failed], copy=True),
        )
        if failed.size:
            rmax = self.regularisation[-1] if self.regularisation.size else 0.0
            log.warning("newton closure: %d cell(s) not solved even with r = %g (first: cell %d, u = %s); "
                        "they get isotropic multipliers", failed.size, rmax, failed[0], src[failed[0]])
        return alpha, stats

    def _lanes(self, ncells: int) -> tuple[int, int]:
        """Lanes of the fast path (a multiple of 16, ≲ 4096 node values per array) and cells per work item
        (≥ 4 items per thread when there are enough cells)."""
        Qp = self.data[0].shape[1]
        lanes = int(np.clip((4096 // Qp) // 16 * 16, 16, MAX_LANES))
        per_item = -(-ncells // (4 * numba.get_num_threads()))
        return lanes, max(lanes, min(CHUNK_LANES * lanes, per_item))
