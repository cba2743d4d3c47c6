"""Network closure with a per-cell accuracy check and a Newton fallback ("hybrid").

For every cell the network's α is accepted if the moments it reproduces match u:

    r = ‖⟨m exp(α·m)⟩ − u‖₂ / u0 ≤ tol          (the normalised norm, i.e. ‖w_θ − ω‖₂ with ω = u/u0)

under the run's quadrature (a Numba kernel, batched). Cells over ``tol`` are re-solved by the Newton
closure ("newton", :mod:`.newton`) on that subset only, warm-started from the network's α — or from the
caller's warm start (the solver passes the previous step's α) where that reproduces u better: where the
network is poor, the previous step's α is far closer to the answer (a cell whose
warm-started attempt fails — a far-off α can exhaust Newton's first k0 iterations — is retried from the
cold start before regularisation is accepted). So the
hybrid closure is as accurate as Newton (to ``tol``) and as fast as the network wherever the network is
good enough — typically everywhere except next to the realizable boundary, where the network extrapolates.

Options
-------
model, backend, alpha0 : as for the network closures (:mod:`.neural.closure`).
network : "icnn" (default), "mlp" or "monotone" — the architecture of ``model``.
tol : 1e−3, accepted residual r (relative to u0).
newton : table of options for the Newton fallback (tol, max_iter, k0, regularisation, change_basis);
    its realizability check is off (non-realizable cells are regularised and reported, not raised).

Statistics (:class:`HybridStats`, a :class:`ClosureStats`)
----------------------------------------------------------
``resolved``: cells re-solved by Newton (indices); ``residual_max``: the largest network residual;
``iterations_mean``/``iterations_max``: Newton iterations averaged over *all* cells (0 for accepted cells);
``regularised``/``reg_r``/``failed``/``failed_moments``: Newton's, with cell indices of the full batch — the
same meaning as for "newton" (a regularised cell's α belongs to (1 − r)u + r u_iso; a failed cell's is the
isotropic α). Cumulative counts are kept on the closure (``cells_total``, ``resolved_total``); each call
logs a DEBUG line, and a WARNING when cells fail.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Annotated, ClassVar, Literal

import numpy as np
from pydantic import AfterValidator, BeforeValidator, Field

from ..velocity import Basis, Quadrature
from .base import Closure, ClosureStats
from .neural.closure import NetworkOptions
from .newton.closure import NewtonOptions
from .newton.constants import CONVERGED
from .newton.normalise import denormalise

log = logging.getLogger(__name__)

NETWORKS = ("icnn", "mlp", "monotone")


@dataclass
class HybridStats(ClosureStats):
    """ClosureStats plus the cells the Newton fallback re-solved."""

    cell_lists: ClassVar[tuple[str, ...]] = ("regularised", "failed", "resolved")
    resolved: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    residual_max: float = 0.0

    def summary(self) -> str:
        return (super().summary() + f", {self.resolved.size} re-solved by Newton"
                f" (network residual max {self.residual_max:.1e})")


def _check_off(table):
    """The fallback's options start from check = false (it regularises and reports instead of raising)."""
    return {"check": False, **table} if isinstance(table, dict) else table


def _never_raises(newton: NewtonOptions) -> NewtonOptions:
    if newton.check:
        raise ValueError("the fallback never raises on non-realizable cells (they are regularised and "
                         "reported); leave 'check' out")
    return newton


class HybridOptions(NetworkOptions):
    """``[closure.hybrid]``: the network's options, its kind, the residual tolerance, and a table
    ``[closure.hybrid.newton]`` of options for the Newton fallback."""

    network: Literal[NETWORKS] = "icnn"
    tol: float = Field(1e-3, gt=0.0, lt=1.0, description="relative moment residual the network must meet")
    newton: Annotated[NewtonOptions, BeforeValidator(_check_off), AfterValidator(_never_raises)] = \
        NewtonOptions(check=False)


class HybridClosure(Closure):
    """Network α, checked per cell; Newton (warm-started) where the moments are off by more than ``tol``."""

    name = "hybrid"
    Options = HybridOptions

    def __init__(self, basis: Basis, quad: Quadrature, **options):
        from .neural.closure import ICNNClosure, MLPClosure, MonotoneClosure
        from .newton import NewtonClosure

        o = self.parse_options(options)
        super().__init__(basis, quad)
        cls = {"icnn": ICNNClosure, "mlp": MLPClosure, "monotone": MonotoneClosure}[o.network]
        # the network closure names its own options in errors as closure.<network>.…
        self.network = cls(basis, quad, **o.model_dump(include={"model", "backend", "alpha0"}))
        self.tol = o.tol
        self.newton = NewtonClosure(basis, quad, **o.newton.model_dump())
        self.mT = np.ascontiguousarray(self.m.T)
        self.cells_total = 0
        self.resolved_total = 0
        self.last_residuals = np.zeros(0)

    def _resolve(self, u: np.ndarray, alpha: np.ndarray, bad: np.ndarray, start: np.ndarray,
                 stats: HybridStats) -> None:
        """Newton on the cells ``bad`` from the α ``start`` (one row per bad cell), written into ``alpha``;
        cells whose warm attempt fails (a far-off start can exhaust k0 iterations) are retried from the
        cold start, and the cold answer is kept where it needs no regularisation."""
        ub = u[bad]
        u0 = ub[:, 0]
        logu0 = np.log(u0)
        omega = ub / u0[:, None]
        warm = np.array(start, dtype=float)
        warm[:, 0] -= logu0
        ab, nst = self.newton.solve_normalised(omega, warm, moments=ub)
        unmoved = (self.newton.last_iterations == 0) & (self.newton.last_status == CONVERGED)
        iters = nst.iterations_mean * bad.size
        itmax = nst.iterations_max
        reg_r = np.zeros(bad.size)
        reg_r[nst.regularised] = nst.reg_r
        failed = np.zeros(bad.size, bool)
        failed[nst.failed] = True
        retry = np.union1d(nst.regularised, nst.failed)
        if retry.size:
            ac, cst = self.newton.solve_normalised(omega[retry], None, moments=ub[retry])
            iters += cst.iterations_mean * retry.size
            itmax = max(itmax, cst.iterations_max)
            ok = np.ones(retry.size, bool)
            ok[cst.regularised] = False
            ok[cst.failed] = False
            take = retry[ok]
            ab[take] = ac[ok]
            unmoved[take] = False
            reg_r[take] = 0.0
            failed[take] = False
        # a start that already was the answer comes back bitwise (see denormalise)
        denormalise(ab, logu0, np.ascontiguousarray(start, dtype=float), unmoved)
        alpha[bad] = ab
        stats.iterations_mean = iters / stats.ncells
        stats.iterations_max = int(itmax)
        reg = np.flatnonzero(reg_r > 0)
        stats.regularised = bad[reg]
        stats.reg_r = reg_r[reg]
        stats.failed = bad[np.flatnonzero(failed)]
        stats.failed_moments = np.array(u[stats.failed], copy=True)
        if stats.failed.size:
            log.warning("hybrid closure: %d of %d re-solved cell(s) failed even with regularisation "
                        "(first: cell %d, u = %s)", stats.failed.size, bad.size, stats.failed[0],
                        u[stats.failed[0]])

    def describe(self) -> str:
        return f"hybrid: {self.network.describe()}, Newton where ‖⟨m G⟩ − u‖/u0 > {self.tol:g}"

    def residuals(self, u: np.ndarray, alpha: np.ndarray) -> np.ndarray:
        """r = ‖⟨m exp(α·m)⟩ − u‖₂ / u0 per cell (Numba, parallel)."""
        from ..kernels.residuals import moment_residuals

        u = np.ascontiguousarray(u, dtype=float)
        out = np.empty(u.shape[0])
        if u.shape[0]:
            moment_residuals(np.ascontiguousarray(alpha, dtype=float), u, self.mT, self.w, out)
        return out

    def multipliers(self, u: np.ndarray, alpha0: np.ndarray | None = None) -> tuple[np.ndarray, ClosureStats]:
        """α (ncells, n): the network's where its residual ≤ tol, Newton's elsewhere, started from the
        network's α or from ``alpha0`` (the caller's warm start), whichever has the smaller residual."""
        u2, shape = self.as_cells(u, f"{self.network.name} closure", positive=True)
        alpha, _ = self.network.network_multipliers(u2)
        r = self.residuals(u2, alpha)
        self.last_residuals = r
        bad = np.flatnonzero(~(r <= self.tol))
        ncells = u2.shape[0]
        stats = HybridStats(ncells=ncells, residual_max=float(r.max()) if ncells else 0.0, resolved=bad)
        if bad.size:
            start = alpha[bad]
            if alpha0 is not None:
                prev = np.asarray(alpha0, dtype=float).reshape(u2.shape)[bad]
                better = self.residuals(u2[bad], prev) < r[bad]
                start[better] = prev[better]
            self._resolve(u2, alpha, bad, start, stats)
        self.cells_total += ncells
        self.resolved_total += bad.size
        log.debug("hybrid closure: %d of %d cells re-solved by Newton (network residual max %.2e)",
                  bad.size, ncells, stats.residual_max)
        return alpha.reshape(shape), stats
