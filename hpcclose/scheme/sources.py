"""Collision and source terms of the moment system, added cell by cell to du/dt.

    S(u) = σs (u0 ⟨m⟩/⟨1⟩ − u) − σa u + S ⟨m⟩                       [A eq. 38], [B eq. 113]

σs (scattering), σa (absorption) and the isotropic source S (a density in the kinetic equation,
per unit velocity measure) are scalars or arrays over the owned cells (space-dependent media such
as the checkerboard). ⟨m⟩/⟨1⟩ is the isotropic moment vector ``basis.isotropic(1.0, quad)``: taking
it from the closure's own quadrature makes scattering conserve u0 exactly and relax to a state the
closure represents exactly. ⟨m⟩ = ⟨1⟩ · iso with ⟨1⟩ = Σ w_q (2 in 1D, 4π in 2D).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


def _coefficient(value, ncells: int | None, name: str) -> np.ndarray:
    """A scalar or per-cell coefficient as a flat float64 array of size 1 or ncells."""
    arr = np.ascontiguousarray(np.asarray(value, dtype=np.float64).ravel())
    if arr.size == 0 or not np.all(np.isfinite(arr)):
        raise ValueError(f"source coefficient {name} must be finite and non-empty")
    if arr.size != 1 and ncells is not None and arr.size != ncells:
        raise ValueError(f"source coefficient {name} has {arr.size} values for {ncells} cells")
    return arr


@njit(inline="always", cache=True)
def source_cell(u, du, i, iso, ss, sa, src, measure):
    """du[i] += σs_i (u0_i iso − u_i) − σa_i u_i + S_i ⟨1⟩ iso for cell i of flattened (ncells, n) arrays
    (the CPU loop below and the GPU step's kernel, :mod:`hpcclose.gpu.step`, call it)."""
    s = ss[i]
    a = sa[i]
    q = src[i] * measure
    gain = s * u[i, 0] + q
    for k in range(u.shape[1]):
        du[i, k] += gain * iso[k] - (s + a) * u[i, k]


@njit(inline="always", cache=True)
def source_rate_cell(u, i, iso, ss, sa, src, measure):
    """d(u0_i)/dt from the sources: the zeroth component of :func:`source_cell`'s update, cell i's term of
    the run's mass balance (the CPU sum below and the GPU step's kernel call it)."""
    return (ss[i] * u[i, 0] + src[i] * measure) * iso[0] - (ss[i] + sa[i]) * u[i, 0]


@njit(parallel=True, cache=True)
def _rate(u, iso, ss, sa, src, measure):
    """Σ_i :func:`source_rate_cell` over the flattened (ncells, n) moments."""
    total = 0.0
    for i in prange(u.shape[0]):
        total += source_rate_cell(u, i, iso, ss, sa, src, measure)
    return total


@njit(parallel=True, cache=True)
def _apply(u, du, iso, ss, sa, src, measure):
    """:func:`source_cell` for every cell. The coefficients are full (ncells,) arrays (scalars broadcast
    once, see Sources.per_cell)."""
    for i in prange(u.shape[0]):
        source_cell(u, du, i, iso, ss, sa, src, measure)


class Sources:
    """Scattering, absorption and isotropic source; :meth:`apply` adds them to du in place.

    Parameters
    ----------
    iso_vector : (n,) ⟨m⟩/⟨1⟩, e.g. ``basis.isotropic(1.0, quad)``.
    sigma_s, sigma_a, source : scalars or arrays with one value per owned cell ((nx,) or (ny, nx)).
    measure : ⟨1⟩ = Σ_q w_q, needed only when ``source`` is non-zero (use :meth:`from_basis`).
    """

    def __init__(self, iso_vector, sigma_s=0.0, sigma_a=0.0, source=0.0, measure: float | None = None):
        self.iso = np.array(iso_vector, dtype=np.float64).ravel()  # a private, writeable C copy
        self.sigma_s = _coefficient(sigma_s, None, "sigma_s")
        self.sigma_a = _coefficient(sigma_a, None, "sigma_a")
        self.source = _coefficient(source, None, "source")
        if np.any(self.sigma_s < 0) or np.any(self.sigma_a < 0):
            raise ValueError("cross sections sigma_s, sigma_a must be non-negative")
        if measure is None and np.any(self.source != 0):
            raise ValueError("a non-zero source needs measure = ⟨1⟩ (sum of the quadrature weights)")
        self.measure = float(measure) if measure is not None else 0.0
        # nothing to add: skip the pass over the cells entirely (free streaming, periodic 2D)
        self.active = bool(np.any(self.sigma_s) or np.any(self.sigma_a) or np.any(self.source))
        self._full: dict[int, tuple[np.ndarray, ...]] = {}

    def per_cell(self, ncells: int) -> tuple[np.ndarray, ...]:
        """σs, σa, S as (ncells,) arrays, broadcast once per grid size and kept."""
        if ncells not in self._full:
            full = []
            for name, c in (("sigma_s", self.sigma_s), ("sigma_a", self.sigma_a), ("source", self.source)):
                if c.size != 1 and c.size != ncells:
                    raise ValueError(f"sources: {name} has {c.size} values for {ncells} cells")
                full.append(np.broadcast_to(c, (ncells,)).copy())  # writeable C: one kernel signature
            self._full[ncells] = tuple(full)
        return self._full[ncells]

    @classmethod
    def from_basis(cls, basis, quad, sigma_s=0.0, sigma_a=0.0, source=0.0) -> Sources:
        """Sources consistent with the closure's basis and quadrature."""
        return cls(basis.isotropic(1.0, quad), sigma_s, sigma_a, source, measure=float(quad.weights.sum()))

    def mass_rate(self, u: np.ndarray) -> float:
        """Σ over the cells of d(u0)/dt from these sources at the moments u (per unit cell volume): what
        scattering (0 up to rounding), absorption and the source add to the mass, for the run's balance."""
        if not self.active:
            return 0.0
        u2 = np.ascontiguousarray(u, dtype=np.float64).reshape(-1, self.iso.size)
        return float(_rate(u2, self.iso, *self.per_cell(u2.shape[0]), self.measure))

    def apply(self, u: np.ndarray, du: np.ndarray) -> np.ndarray:
        """du += S(u) for owned-cell moments u of shape (nx, n) or (ny, nx, n); returns du."""
        if not self.active:
            return du
        if u.shape != du.shape or u.shape[-1] != self.iso.size:
            raise ValueError(f"sources: u {u.shape} and du {du.shape} must match, with n = {self.iso.size}")
        n = u.shape[-1]
        ncells = u.size // n
        ss, sa, src = self.per_cell(ncells)
        u2 = np.ascontiguousarray(u, dtype=np.float64).reshape(ncells, n)
        if du.flags.c_contiguous and du.dtype == np.float64:
            _apply(u2, du.reshape(ncells, n), self.iso, ss, sa, src, self.measure)
        else:  # a reshape of du would copy and lose the update: accumulate separately
            tmp = np.zeros((ncells, n))
            _apply(u2, tmp, self.iso, ss, sa, src, self.measure)
            du += tmp.reshape(du.shape)
        return du
