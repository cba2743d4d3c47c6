"""Convex C² rational cubic spline closure for slab M1 ("spline"), [A 3.2.1].

The restricted entropy h̃(ω̃) = h((1, ω̃)) of the M1 closure is interpolated on its sampled range by the
shape-preserving rational cubic of Delbourgo & Gregory (1985, "Shape preserving piecewise rational
interpolation", SIAM J. Sci. Stat. Comput. 6). On [x_i, x_{i+1}], with width h, chord slope
Δ = (f_{i+1} − f_i)/h, end slopes d_i, d_{i+1}, a = d_{i+1} − Δ, b = Δ − d_i, θ = (x − x_i)/h:

    s(x) = f_i (1 − θ) + f_{i+1} θ − h θ(1 − θ) (a θ + b (1 − θ)) / (1 + (r − 3) θ(1 − θ))

(D&G's P/Q form with its linear interpolant split off, which keeps the derivatives free of cancellation).
s interpolates f and d at both ends for every r > −1; r = 3 is cubic Hermite.

* **Convexity**: for convex data (b, a > 0) D&G's shape parameter r = 1 + a/b + b/a makes s″ > 0 on the
  whole interval; then s″(x_i+) = 2 b²/(h a) and s″(x_{i+1}−) = 2 a²/(h b).
* **C²**: equal s″ from both sides at each interior knot gives, after a square root, d_i as a convex
  combination of the neighbouring chord slopes (so the data stay convex through the iteration):
      d_i = (A Δ_i + B Δ_{i−1}) / (A + B),  A = √(h_{i−1}(Δ_{i−1} − d_{i−1})),  B = √(h_i (d_{i+1} − Δ_i)),
  solved by Gauss–Seidel sweeps until every change is below tol (1e−12) relative to |d_i| + (Δ_i − Δ_{i−1})
  (≈ 15 sweeps for 30 … 1000 nodes).
* **Ends**: d at the first and last node are the exact multipliers α̃ there [A eq. 40].

Nodes ([A 4.1.1]): S + 2 multipliers α̃ uniform in [−α_max, α_max] (α_max = 65, S = ``size``): [A]'s S_P has
P interpolation points between the two end nodes, where the exact derivative is imposed as well. With this
count our training errors (at the nodes) equal [A] Tables 1–2's to three digits at every size from S30 to
S1000; with S nodes in all they do not (S130: e_α 3.50e−6 against [A]'s 3.29e−6 — the error of S128). The
nodes are mapped through the sampler (hpcclose.data.sampling, under the closure's quadrature) to (ω̃, h̃, α̃);
the spline lives on [ω̃(−α_max), ω̃(α_max)] ≈ [−1 + 1/α_max, 1 − 1/α_max] (exact integral; the same under a
Gauss–Legendre rule that resolves e^{65μ}). The data are those of the Newton closure under the same
quadrature, so the spline approximates that closure.

Multipliers: α̃1 = s′(ω̃), ω̃ = u1/u0, and α0 by ``alpha0`` (SCIENCE.md §3):
  "gradient" (default, [A eq. 37]): α0 = s(ω̃) − ω̃ α̃1 + 1 + log u0 — the exact gradient of the extension
      h_a(u) = u0 s(u1/u0) + u0 log u0, so the closure is the gradient of a convex C² entropy; the "+1" holds
      for any weight normalisation because h = α·u − u0 (checked against Newton in the tests).
  "normalisation" ([B eq. 44, 47]): α0 = −log⟨exp(α̃1 μ)⟩ + log u0, so ⟨G⟩ = u0 exactly.
Outside the built range (|ω̃| beyond ω̃(±α_max), next to ∂R) no spline data exist; there the exact
closure under the quadrature is used instead: α̃1 solves ⟨μ e^{α̃1 μ}⟩/⟨e^{α̃1 μ}⟩ = ω̃ (safeguarded Newton,
one scalar per cell) and α0 is the normalisation value (both conventions agree for exact data). α̃1 is
continuous across the range ends (the spline's end slopes are exact). Moments the quadrature cannot
represent (|ω̃| ≥ what α̃1 = ±1e4 reaches, i.e. beyond the extreme node) get α̃1 = ±1e4 and are reported
as regularised towards the isotropic moments, with the r that this amounts to.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from pydantic import Field

from ..errors import InputError
from ..kernels.moments import cellwise_product
from ..velocity import Basis, Quadrature
from .base import Closure, ClosureOptions, ClosureStats

SIZE_RANGE = (30, 1000)
ALPHA_MAX = 65.0
# |α̃1| cap outside the spline range: ω̃ = L_Q(1e4) equals the extreme node to rounding for any rule.
ALPHA_CAP = 1e4
ALPHA0_CONVENTIONS = ("gradient", "normalisation")
# Cells per batched exp pass over the nodes.
CHUNK = 4096


class ConvexRationalSpline:
    """C² convex rational cubic interpolant of strictly convex data (x, f) with end slopes d0, dn.

    Attributes: x, f, d (slopes at the nodes), r (shape parameter per interval), sweeps (Gauss–Seidel).
    """

    def __init__(self, x: np.ndarray, f: np.ndarray, d0: float, dn: float, tol: float = 1e-12,
                 max_sweeps: int = 100_000):
        self.x = np.asarray(x, dtype=float)
        self.f = np.asarray(f, dtype=float)
        h = np.diff(self.x)
        with np.errstate(divide="ignore", invalid="ignore"):  # coincident nodes are rejected just below
            delta = np.diff(self.f) / h
        if self.x.size < 3 or not np.all(h > 0) or not np.all(np.diff(delta) > 0) \
                or not d0 < delta[0] or not delta[-1] < dn:
            raise ValueError("convex spline: need ≥ 3 increasing nodes and strictly convex data "
                             "(increasing chord slopes, d0 < first chord, last chord < dn)")
        d = np.empty_like(self.x)
        d[0], d[-1] = d0, dn
        # start from the 3-point slope estimate: a convex combination of the chords, like every iterate
        d[1:-1] = (h[1:] * delta[:-1] + h[:-1] * delta[1:]) / (h[:-1] + h[1:])
        self.sweeps = _gauss_seidel(d, h.tolist(), delta.tolist(), tol, max_sweeps)
        self.d, self.h, self.delta = d, h, delta
        a, b = d[1:] - delta, delta - d[:-1]
        self.r = 1.0 + a / b + b / a

    @property
    def domain(self) -> tuple[float, float]:
        return float(self.x[0]), float(self.x[-1])

    def __call__(self, xq: np.ndarray, nu: int = 0) -> np.ndarray:
        """Value (nu=0), first (1) or second (2) derivative at xq (clipped to the domain)."""
        return self.evaluate(xq, nu)[nu]

    def evaluate(self, xq: np.ndarray, nu: int = 1) -> tuple[np.ndarray, ...]:
        """(s, s′[, s″]) at xq up to derivative order ``nu`` (xq is clipped to the domain)."""
        xq = np.clip(np.asarray(xq, dtype=float), self.x[0], self.x[-1])
        i = np.clip(np.searchsorted(self.x, xq, side="right") - 1, 0, self.x.size - 2)
        h, dl = self.h[i], self.delta[i]
        a, b, c = self.d[i + 1] - dl, dl - self.d[i], self.r[i] - 3.0
        t = (xq - self.x[i]) / h
        s = 1.0 - t
        # s(x) = linear − h·N/Q with N = t s (a t + b s), Q = 1 + c t s; derivatives in t, then 1/h each
        N = t * s * (a * t + b * s)
        Q = 1.0 + c * t * s
        out = [self.f[i] * s + self.f[i + 1] * t - h * N / Q]
        if nu >= 1:
            N1 = a * t * (2.0 * s - t) + b * s * (s - 2.0 * t)
            Q1 = c * (s - t)
            out.append(dl - (N1 * Q - N * Q1) / (Q * Q))
        if nu >= 2:
            N2 = a * (2.0 * s - 4.0 * t) + b * (2.0 * t - 4.0 * s)
            out.append(-((N2 * Q + 2.0 * c * N) * Q - 2.0 * Q1 * (N1 * Q - N * Q1)) / (h * Q**3))
        return tuple(out)


def _gauss_seidel(d: np.ndarray, h: list, delta: list, tol: float, max_sweeps: int) -> int:
    """Solve the C² conditions for the interior slopes d[1:-1] in place; returns the sweeps used."""
    n = d.size
    dl = d.tolist()
    for sweep in range(1, max_sweeps + 1):
        worst = 0.0
        for i in range(1, n - 1):
            A = math.sqrt(h[i - 1] * (delta[i - 1] - dl[i - 1]))
            B = math.sqrt(h[i] * (dl[i + 1] - delta[i]))
            new = (A * delta[i] + B * delta[i - 1]) / (A + B)
            worst = max(worst, abs(new - dl[i]) / (abs(new) + delta[i] - delta[i - 1]))
            dl[i] = new
        if worst <= tol:
            d[:] = dl
            return sweep
    raise RuntimeError(f"convex spline: Gauss–Seidel did not reach {tol:g} in {max_sweeps} sweeps")


class SplineClosure(Closure):
    """Slab M1 closure from a convex C² rational spline of h̃ (see the module docstring).

    Options: ``size`` (interpolation points between the two end nodes, 30 … 1000, default 130 = [A]'s S130),
    ``alpha0`` ("gradient" or "normalisation"), ``alpha_max`` (the node multipliers span [−alpha_max,
    alpha_max], default 65).
    """

    name = "spline"

    class Options(ClosureOptions):
        """``[closure.spline]``: see the class docstring."""

        size: int = Field(130, ge=SIZE_RANGE[0], le=SIZE_RANGE[1])
        alpha0: Literal[ALPHA0_CONVENTIONS] = "gradient"
        alpha_max: float = Field(ALPHA_MAX, gt=0.0, le=500.0)

    def __init__(self, basis: Basis, quad: Quadrature, **options):
        o = self.parse_options(options)
        if basis.dim != 1 or basis.N != 1:
            raise InputError(f"closure 'spline' is the slab M1 closure (1D, N=1); got the "
                             f"{basis.describe()}: use closure 'newton' instead")
        if quad.dim != 1:
            raise InputError(f"closure 'spline' needs a 1D quadrature, got {quad.name}")
        super().__init__(basis, quad)
        from ..velocity.ansatz import multiplier_grid  # the ansatz on the α̃ grid, as [A 3.3]'s data

        self.size, self.alpha0, self.alpha_max = o.size, o.alpha0, o.alpha_max
        ds = multiplier_grid(basis, quad, self.size + 2, (-self.alpha_max, self.alpha_max))
        u0 = ds.u[:, 0]
        try:
            self.spline = ConvexRationalSpline(ds.u[:, 1] / u0, ds.h / u0 - np.log(u0),
                                               ds.alpha[0, 1], ds.alpha[-1, 1])
        except ValueError as exc:  # rounding: nodes closer than the rule can resolve near its extreme node
            raise InputError(f"closure 'spline': {exc} — the {self.size + 2} nodes up to |α̃| = "
                             f"{self.alpha_max:g} are not resolved by {quad.name}; "
                             "lower alpha_max or size") from None
        self.mu = self.m[:, 1]
        self.logw = np.log(self.w)
        self._w_col, self._mu_col = self.w[:, None].copy(), self.mu[:, None].copy()  # (Q, 1) for the products
        self.omega_iso = float(np.dot(self.w, self.mu) / self.w.sum())

    # --- the batched call -------------------------------------------------------------------------
    def multipliers(self, u: np.ndarray, alpha0: np.ndarray | None = None) -> tuple[np.ndarray, ClosureStats]:
        """α (ncells, 2) from the spline; ``alpha0`` (warm start) is ignored."""
        u, shape = self.as_cells(u, "spline closure")
        u0, u1 = u[:, 0], u[:, 1]
        # slab M1 realizability is |u1| < u0 (cheap); the base class builds the message for offenders
        if not np.all(np.abs(u1) < u0):
            self.check_realizable(u, where="spline closure input")
        omega = u1 / u0
        lo, hi = self.spline.domain
        inside = (omega >= lo) & (omega <= hi)
        ins, out = np.flatnonzero(inside), np.flatnonzero(~inside)
        alpha = np.empty_like(u)
        # inside the sampled range: α̃ from the spline, α0 by the chosen convention
        if self.alpha0 == "gradient":
            h, a1 = self.spline.evaluate(omega[ins], nu=1)
            alpha[ins, 0] = h - omega[ins] * a1 + 1.0
        else:
            a1 = self.spline(omega[ins], nu=1)
            alpha[ins, 0] = self._log_norm(a1)
        alpha[ins, 1] = a1
        # outside: the exact M1 multipliers under the quadrature (next to ∂R, rare)
        alpha[out, 1], reached = self._invert_langevin(omega[out])
        alpha[out, 0] = self._log_norm(alpha[out, 1])
        alpha[:, 0] += np.log(u0)
        # unreachable under the quadrature: what was solved is (1 − r)ω̃ + r ω̃_iso for this r
        cut = reached != omega[out]
        clipped = out[cut]
        r = (omega[clipped] - reached[cut]) / (omega[clipped] - self.omega_iso)
        stats = ClosureStats(ncells=u.shape[0], regularised=clipped, reg_r=r)
        return alpha.reshape(shape), stats

    def entropy(self, u: np.ndarray, alpha: np.ndarray | None = None) -> np.ndarray:
        """h_a(u) = u0 s(u1/u0) + u0 log u0 [A eq. 33] inside the spline range with the "gradient"
        convention (the convex entropy whose gradient the multipliers are, so the one the scheme
        dissipates); elsewhere the base class's α·u − ⟨G_α⟩."""
        u = np.asarray(u, dtype=float).reshape(-1, 2)
        out = super().entropy(u, alpha)
        if self.alpha0 == "gradient":
            omega = u[:, 1] / u[:, 0]
            lo, hi = self.spline.domain
            ins = np.flatnonzero((omega >= lo) & (omega <= hi))
            out[ins] = u[ins, 0] * (self.spline(omega[ins]) + np.log(u[ins, 0]))
        return out

    def _log_norm(self, a1: np.ndarray) -> np.ndarray:
        """−log⟨exp(α̃1 μ)⟩ per cell, shifted by max_q α̃1 μ_q so that nothing overflows for any α̃1."""
        zmax = np.maximum(a1 * self.mu.max(), a1 * self.mu.min())
        s = np.empty_like(zmax)
        for c in range(0, a1.size, CHUNK):  # chunks keep the (cells, nodes) temporary in cache
            z = np.multiply.outer(a1[c:c + CHUNK], self.mu) - zmax[c:c + CHUNK, None]
            s[c:c + CHUNK] = cellwise_product(np.exp(z), self._w_col)[:, 0]  # whatever the batch
        return -(zmax + np.log(s))

    def _langevin(self, a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """L_Q(a) = ⟨μ e^{aμ}⟩/⟨e^{aμ}⟩ and L_Q′(a) (the tilted variance), per entry."""
        z = np.multiply.outer(a, self.mu) + self.logw
        p = np.exp(z - z.max(axis=-1, keepdims=True))
        p /= p.sum(axis=-1, keepdims=True)
        mean = cellwise_product(p.reshape(-1, self.mu.size), self._mu_col).reshape(p.shape[:-1])
        return mean, (p * (self.mu - mean[..., None]) ** 2).sum(axis=-1)

    def _invert_langevin(self, omega: np.ndarray, tol: float = 1e-14, maxiter: int = 200):
        """α̃1 with L_Q(α̃1) = ω̃ for ω̃ outside the spline range (safeguarded Newton in a bracket).

        Returns (α̃1, ω̃ reached): unreachable ω̃ (beyond L_Q(±ALPHA_CAP)) give ±ALPHA_CAP and the ω̃ it reaches.
        """
        sign = np.where(omega > 0, 1.0, -1.0)
        lo = np.full(omega.shape, self.alpha_max)  # L_Q(sign·lo) is on the near side of ω̃
        hi = np.full(omega.shape, ALPHA_CAP)
        target = sign * omega
        reached = sign * self._langevin(sign * hi)[0]
        ok = reached > target  # ω̃ is bracketed
        a = lo.copy()
        for _ in range(maxiter):
            act = np.flatnonzero(ok & (hi - lo > tol * hi))
            if act.size == 0:
                break
            L, dL = self._langevin(sign[act] * a[act])
            g = sign[act] * L - target[act]  # increasing in a
            lo[act] = np.where(g < 0, a[act], lo[act])
            hi[act] = np.where(g > 0, a[act], hi[act])
            with np.errstate(divide="ignore", invalid="ignore"):
                step = a[act] - g / dL
            new = np.where((step > lo[act]) & (step < hi[act]), step, 0.5 * (lo[act] + hi[act]))
            # an exact root stays put (its bracket is not narrowed, so the bisection fallback would move it)
            new = np.where(g == 0, a[act], new)
            done = (g == 0) | (np.abs(new - a[act]) <= tol * new)
            a[act] = new
            lo[act[done]] = hi[act[done]] = a[act[done]]
        return sign * np.where(ok, a, ALPHA_CAP), np.where(ok, omega, sign * reached)
