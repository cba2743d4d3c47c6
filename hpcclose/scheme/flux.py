"""Kinetic upwind fluxes on the ansatz at the velocity nodes (the hot path of every time step).

The moment flux through a face is the quadrature of the upwinded kinetic flux,

    F_k = Σ_q w_q v_q m_qk f_q^face,    f_q^face = left state if v_q > 0 else right state,

with the left/right states of the nodal values f_q = exp(α·m_q) (or α·m_q for linear closures)
reconstructed to first order (cell value) or second order (minmod(θ)-limited slopes, θ ∈ [1, 2]).

Arrays are "extended": NG = 2 ghost layers per side, 1D [ix, q] with shape (nx + 4, Q), 2D
[iy, ix, q] with shape (ny + 4, nx + 4, Q); owned cells are [2:-2]. Corner ghosts are never read.

This module is the stored-array path: the nodal values of every owned and ghost cell in one array, then
the face fluxes. The time step uses the fused, tiled path (:mod:`.divergence`), which forms nodal values
per tile only and equals this path bit for bit; this one stays as its reference and for callers that
have nodal values rather than multipliers (the positivity tests). Both call the per-face kernels of
:mod:`.faces`: a face flux needs each node's value on a 4-cell stencil; with the nodes innermost and
contiguous the per-face work is two vectorisable loops over q (reconstruct + upwind into a buffer, then
n dot products with the precomputed w·v·m). Threads own contiguous chunks of cells (1D) or blocks of
rows (2D) and sweep them carrying the previous face's flux along, so every face is computed once,
except one face per chunk boundary.

Stability (positivity of the nodal values, hence realizability of the moments, [A] §4.4): see
:func:`cfl_limit` and :func:`max_stable_dt`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numba import njit, prange

from ..grid import NG  # ghost layers per side per axis
from .faces import EXP_BLOCK, FM, ansatz_run, face_flux, flux_weights

# Work units per kernel call (chunks of cells in 1D, blocks of rows in 2D). Fixed rather than read
# from numba.get_num_threads() inside the kernel, which would defeat on-disk caching; 32 balances
# up to 16 threads while recomputing only one face per unit.
NCHUNK = 32


# --- flux divergence --------------------------------------------------------------------------------
@njit(parallel=True, fastmath=FM, cache=True)
def _flux_divergence_1d(f_ext, v, w, m, dx, order, theta, out):
    nx, n = out.shape
    Q = f_ext.shape[1]
    wvm, pos = flux_weights(v, w, m)
    inv = 1.0 / dx
    nchunk = min(nx, max(NCHUNK, nx // 4096))
    for c in prange(nchunk):
        lo = c * nx // nchunk
        hi = (c + 1) * nx // nchunk
        buf = np.empty(Q)
        Fl = np.empty(n)
        Fr = np.empty(n)
        # owned cell i is extended row i + 2; its left face lies between rows i + 1 and i + 2
        face_flux(f_ext[lo], f_ext[lo + 1], f_ext[lo + 2], f_ext[lo + 3], pos, wvm, order, theta, buf, Fl)
        for i in range(lo, hi):
            face_flux(f_ext[i + 1], f_ext[i + 2], f_ext[i + 3], f_ext[i + 4], pos, wvm, order, theta,
                       buf, Fr)
            for k in range(n):
                out[i, k] = (Fl[k] - Fr[k]) * inv
            Fl, Fr = Fr, Fl
    return out


@njit(parallel=True, fastmath=FM, cache=True)
def _flux_divergence_2d(f_ext, vx, vy, w, m, dx, dy, order, theta, out):
    ny, nx, n = out.shape
    Q = f_ext.shape[2]
    wx, px = flux_weights(vx, w, m)
    wy, py = flux_weights(vy, w, m)
    idx = 1.0 / dx
    idy = 1.0 / dy
    nblk = min(ny, NCHUNK)
    for b in prange(nblk):
        ylo = b * ny // nblk
        yhi = (b + 1) * ny // nblk
        buf = np.empty(Q)
        Fl = np.empty(n)
        Fr = np.empty(n)
        Fyb = np.empty((nx, n))  # y-fluxes through the bottom faces of the current row
        Fyt = np.empty((nx, n))  # ... and through its top faces
        for i in range(nx):
            c = i + NG
            face_flux(f_ext[ylo, c], f_ext[ylo + 1, c], f_ext[ylo + 2, c], f_ext[ylo + 3, c],
                       py, wy, order, theta, buf, Fyb[i])
        for j in range(ylo, yhi):
            r = j + NG
            row = f_ext[r]
            # x-sweep along the row, carrying the left face's flux
            face_flux(row[0], row[1], row[2], row[3], px, wx, order, theta, buf, Fl)
            for i in range(nx):
                face_flux(row[i + 1], row[i + 2], row[i + 3], row[i + 4], px, wx, order, theta, buf, Fr)
                for k in range(n):
                    out[j, i, k] = (Fl[k] - Fr[k]) * idx
                Fl, Fr = Fr, Fl
            # y-direction: top faces of row j (bottom faces of row j + 1)
            for i in range(nx):
                c = i + NG
                face_flux(f_ext[r - 1, c], f_ext[r, c], f_ext[r + 1, c], f_ext[r + 2, c],
                           py, wy, order, theta, buf, Fyt[i])
                for k in range(n):
                    out[j, i, k] += (Fyb[i, k] - Fyt[i, k]) * idy
            Fyb, Fyt = Fyt, Fyb
    return out


# --- public entry points: validate, normalise types (one compiled specialisation), call the kernel ---
def _vec(a, Q: int, name: str) -> np.ndarray:
    a = np.ascontiguousarray(a, dtype=np.float64)
    if a.shape != (Q,):
        raise ValueError(f"{name} must have shape ({Q},), got {a.shape}")
    return a


def _check_common(f_ext, m, out, order, theta, shape_out):
    if not (isinstance(f_ext, np.ndarray) and f_ext.dtype == np.float64 and f_ext.flags.c_contiguous):
        raise ValueError("f_ext must be a C-contiguous float64 array")
    if not (isinstance(out, np.ndarray) and out.dtype == np.float64 and out.flags.c_contiguous
            and out.flags.writeable):
        raise ValueError("out must be a writeable C-contiguous float64 array")
    Q = f_ext.shape[-1]
    m = np.ascontiguousarray(m, dtype=np.float64)
    if m.ndim != 2 or m.shape[0] != Q:
        raise ValueError(f"m must have shape ({Q}, n), got {m.shape}")
    if out.shape != shape_out + (m.shape[1],):
        raise ValueError(f"out must have shape {shape_out + (m.shape[1],)}, got {out.shape}")
    if order not in (1, 2):
        raise ValueError(f"spatial order must be 1 or 2, got {order}")
    if order == 2 and not 1.0 <= theta <= 2.0:
        raise ValueError(f"minmod theta must lie in [1, 2], got {theta}")
    return m, Q


def flux_divergence_1d(f_ext: np.ndarray, v: np.ndarray, w: np.ndarray, m: np.ndarray, dx: float, order: int,
                       theta: float, out: np.ndarray) -> np.ndarray:
    """out (nx, n) = −(F_{i+½} − F_{i−½})/Δx from nodal values ``f_ext`` (nx + 4, Q); returns out.

    Parameters
    ----------
    f_ext : (nx + 4, Q) C-contiguous nodal values on owned cells and both ghost layers.
    v, w : (Q,) node velocities μ_q and weights.  m : (Q, n) basis at the nodes.
    dx : cell width.  order : 1 (upwind) or 2 (minmod(θ) slopes).  theta : θ ∈ [1, 2].
    out : (nx, n) C-contiguous, written (not accumulated).
    """
    if f_ext.ndim != 2 or f_ext.shape[0] < 2 * NG + 1:
        raise ValueError(f"f_ext must be (nx + {2 * NG}, Q) with nx ≥ 1, got {np.shape(f_ext)}")
    m, Q = _check_common(f_ext, m, out, order, theta, (f_ext.shape[0] - 2 * NG,))
    return _flux_divergence_1d(f_ext, _vec(v, Q, "v"), _vec(w, Q, "w"), m, float(dx), int(order),
                               float(theta), out)


def flux_divergence_2d(f_ext: np.ndarray, vx: np.ndarray, vy: np.ndarray, w: np.ndarray, m: np.ndarray,
                       dx: float, dy: float, order: int, theta: float, out: np.ndarray) -> np.ndarray:
    """out (ny, nx, n) = −(F^x_{i+½} − F^x_{i−½})/Δx − (F^y_{j+½} − F^y_{j−½})/Δy; returns out.

    ``f_ext`` is (ny + 4, nx + 4, Q) with axis 0 = y; corner ghosts are not read. Dimension-wise
    (unsplit) reconstruction and upwinding; otherwise as :func:`flux_divergence_1d`.
    """
    if f_ext.ndim != 3 or min(f_ext.shape[:2]) < 2 * NG + 1:
        raise ValueError(f"f_ext must be (ny + {2 * NG}, nx + {2 * NG}, Q), got {np.shape(f_ext)}")
    shape = (f_ext.shape[0] - 2 * NG, f_ext.shape[1] - 2 * NG)
    m, Q = _check_common(f_ext, m, out, order, theta, shape)
    return _flux_divergence_2d(f_ext, _vec(vx, Q, "vx"), _vec(vy, Q, "vy"), _vec(w, Q, "w"), m, float(dx),
                               float(dy), int(order), float(theta), out)


#: which cells ``nodal_values`` fills: everything, the owned cells only, or the ghosts only (the
#: latter two let the owned cells be evaluated while the halo exchange is in flight)
PARTS = {"all": 0, "owned": 1, "ghosts": 2}


@njit(parallel=True, fastmath=FM, cache=True)
def _nodal_values_1d(alpha_ext, mT, linear, out, part):
    nr = alpha_ext.shape[0]
    if part == 2:  # the two ghost layers on each side
        scratch = np.empty(max(EXP_BLOCK, mT.shape[1]))
        ansatz_run(alpha_ext, mT, linear, out, 0, NG, scratch)
        ansatz_run(alpha_ext, mT, linear, out, nr - NG, nr, scratch)
        return out
    lo, hi = (NG, nr - NG) if part == 1 else (0, nr)
    nchunk = min(hi - lo, NCHUNK)
    for c in prange(nchunk):
        scratch = np.empty(max(EXP_BLOCK, mT.shape[1]))
        ansatz_run(alpha_ext, mT, linear, out, lo + c * (hi - lo) // nchunk, lo + (c + 1) * (hi - lo) // nchunk,
                    scratch)
    return out


@njit(parallel=True, fastmath=FM, cache=True)
def _nodal_values_2d(alpha_ext, mT, linear, out, part):
    nyx, nxx = alpha_ext.shape[0], alpha_ext.shape[1]
    for r in prange(nyx):
        scratch = np.empty(max(EXP_BLOCK, mT.shape[1]))
        ghost_row = r < NG or r >= nyx - NG
        if ghost_row:
            if part != 1:  # ghost rows hold ghosts only; their corner cells are never read
                out[r, :NG, :] = 0.0
                out[r, nxx - NG:, :] = 0.0
                ansatz_run(alpha_ext[r], mT, linear, out[r], NG, nxx - NG, scratch)
        elif part == 0:
            ansatz_run(alpha_ext[r], mT, linear, out[r], 0, nxx, scratch)
        elif part == 1:
            ansatz_run(alpha_ext[r], mT, linear, out[r], NG, nxx - NG, scratch)
        else:  # the x-ghost cells of an owned row
            ansatz_run(alpha_ext[r], mT, linear, out[r], 0, NG, scratch)
            ansatz_run(alpha_ext[r], mT, linear, out[r], nxx - NG, nxx, scratch)
    return out


def nodal_values(alpha_ext: np.ndarray, m: np.ndarray, linear: bool,
                 out: np.ndarray | None = None, part: str = "all") -> np.ndarray:
    """Ansatz at the nodes, f_q = exp(α·m_q) (or α·m_q if ``linear``), on an extended array.

    ``alpha_ext`` is (nx + 4, n) or (ny + 4, nx + 4, n); returns (…, Q) (``out`` if given, which
    must be C-contiguous float64). 2D corner ghosts are set to 0 (they are unused). ``part`` is
    "all", "owned" or "ghosts" (see :data:`PARTS`); the values do not depend on how they are split.
    """
    mT = np.ascontiguousarray(np.asarray(m, dtype=np.float64).T)
    alpha_ext = np.ascontiguousarray(alpha_ext, dtype=np.float64)
    if alpha_ext.shape[-1] != mT.shape[0]:
        raise ValueError(f"nodal_values: alpha has {alpha_ext.shape[-1]} components, the basis {mT.shape[0]}")
    shape = alpha_ext.shape[:-1] + (mT.shape[1],)
    if out is None:
        out = np.empty(shape)
    elif out.shape != shape or out.dtype != np.float64 or not out.flags.c_contiguous:
        raise ValueError(f"nodal_values: out must be C-contiguous float64 of shape {shape}, got {out.shape}")
    if part not in PARTS:
        raise ValueError(f"nodal_values: part must be one of {', '.join(PARTS)}, got {part!r}")
    if alpha_ext.ndim == 2:
        return _nodal_values_1d(alpha_ext, mT, bool(linear), out, PARTS[part])
    if alpha_ext.ndim == 3:
        return _nodal_values_2d(alpha_ext, mT, bool(linear), out, PARTS[part])
    raise ValueError(f"nodal_values: alpha_ext must be 2D or 3D, got shape {alpha_ext.shape}")


# --- time-step restriction --------------------------------------------------------------------------
def cfl_limit(order: int, theta: float = 2.0, dim: int = 1) -> float:
    """Largest admissible ``cfl`` in Δt = cfl / Σ_d (max|v_d| / Δx_d) for a positive forward-Euler step.

    Order 1: the update f_i − λ(f_i − f_{i−1}) is a convex combination for λ = |v|Δt/Δx ≤ 1 → 1.
    Order 2 with minmod(θ) slopes: in incremental form f_i^new = (1 − λC) f_i + λC f_{i−1} with
    0 ≤ C ≤ 1 + θ/2, so positivity needs λ ≤ 2/(2 + θ) ([A] §4.4; ½ for θ = 2).
    In 2D the dimension-wise update is a sum of such terms: Σ_d λ_d C_d ≤ 1 gives the same limit for
    Δt·(max|vx|/Δx + max|vy|/Δy). SSP-RK2/RK3 (SSP coefficient 1) inherit it. Independent of ``dim``.
    """
    if order not in (1, 2):
        raise ValueError(f"spatial order must be 1 or 2, got {order}")
    if dim not in (1, 2):
        raise ValueError(f"dimension must be 1 or 2, got {dim}")
    if order == 1:
        return 1.0
    if not 1.0 <= theta <= 2.0:
        raise ValueError(f"minmod theta must lie in [1, 2], got {theta}")
    return 2.0 / (2.0 + theta)


def max_stable_dt(spacing: float | Sequence[float], vmax: float | Sequence[float], order: int = 1,
                  theta: float = 2.0, cfl: float | None = None) -> float:
    """Time step Δt = cfl / Σ_d (vmax_d / spacing_d) that keeps the nodal values positive.

    ``spacing`` is Δx (1D) or (Δx, Δy); ``vmax`` the matching max|v_d| over the nodes. ``cfl=None``
    takes 0.95 · :func:`cfl_limit` (the plane-source choice of [A]: 0.95 · 2/(2+θ)); a ``cfl`` above
    the limit raises ValueError. First order in 1D: Δt = cfl·Δx/max|μ| with cfl ≤ 1.
    """
    dx = np.atleast_1d(np.asarray(spacing, dtype=float))
    vm = np.abs(np.atleast_1d(np.asarray(vmax, dtype=float)))
    if dx.shape != vm.shape:
        raise ValueError(f"spacing {dx.tolist()} and vmax {vm.tolist()} must have one entry per axis")
    if np.any(dx <= 0):
        raise ValueError(f"cell sizes must be positive, got {dx.tolist()}")
    limit = cfl_limit(order, theta, dx.size)
    if cfl is None:
        cfl = 0.95 * limit
    if not 0.0 < cfl <= limit * (1.0 + 1e-12):
        raise ValueError(f"cfl {cfl} outside (0, {limit:.6g}] for order {order}, theta {theta}")
    rate = float(np.sum(vm / dx))
    return np.inf if rate == 0.0 else cfl / rate


def time_step(scheme, spacing: Sequence[float], velocity: np.ndarray, source: str = "<input>") -> float:
    """A run's Δt: ``scheme.cfl`` × the realizability-preserving step of its order on a grid of ``spacing``
    (per array axis) for nodes of ``velocity`` (Q, dim); cfl > 1 is an :class:`InputError`. The one place
    the solver and the work estimate (:mod:`hpcclose.resources`) take Δt from."""
    from ..errors import InputError

    limit = cfl_limit(scheme.order, scheme.theta, len(spacing))
    if scheme.cfl > 1.0:
        raise InputError(f"{source}: scheme.cfl: {scheme.cfl} is beyond stability (cfl ≤ 1 is the fraction of the "
                         f"positivity-preserving step {limit:.3g}·Δx/max|v| for order {scheme.order})")
    vmax = np.abs(np.asarray(velocity)).max(axis=0)
    return max_stable_dt(tuple(spacing)[::-1], vmax, scheme.order, scheme.theta, cfl=scheme.cfl * limit)
