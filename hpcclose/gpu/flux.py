"""The flux divergence on the device: nodal values fused with the kinetic upwind flux, one thread per face.

A face's thread evaluates, node by node, the ansatz of the cells of its stencil (exp(α·m_q) or α·m_q, or
a prescribed wall's nodal value), reconstructs the upwind state with the CPU's own per-node function
(:func:`~hpcclose.scheme.faces.upwind_state`, minmod(θ)) and adds w_q v_q m_q times it to the face's n
fluxes: no nodal value is ever stored. A second kernel takes the difference of each cell's faces. The
data — kinds of the sides, prescribed slabs, w·v·m and the upwind side per node, 1/h — are those of the
run's :class:`~hpcclose.scheme.divergence.FluxDivergence`, so walls, 1D/2D and orders are the CPU's.

Lines: the faces of one row (x) or one column (y) of owned cells, across the extended array flattened to
(cells, n): extended cell e of line ℓ is row ``base + ℓ·step + e·stride``. Faces f = 0 … m of a line of
m owned cells lie between extended cells f + 1 and f + 2; the wall faces are f = 0 and f = m.
"""

from __future__ import annotations

import numpy as np
from numba import cuda, njit

from ..grid import NG
from ..kernels.fastmath import exp_full, fma
from ..scheme.divergence import FluxDivergence
from ..scheme.faces import FM, upwind_state
from ..scheme.fused import PRESCRIBED, WALL
from .arrays import copy_box
from .base import THREADS, blocks, view


@njit(inline="always", fastmath=FM, cache=True)
def _value(alpha, base, stride, ne, e, q, mT, linear, kind_lo, kind_hi, slab_lo, slab_hi, along):
    """Nodal value at node q of extended cell e of a line: a prescribed wall's ghost from its slab
    ((layers, positions along the wall, Q), size-1 axes broadcast), else the ansatz of the cell's α."""
    if e < NG and kind_lo == PRESCRIBED:
        return slab_lo[min(e, slab_lo.shape[0] - 1), min(along, slab_lo.shape[1] - 1), q]
    if e >= ne - NG and kind_hi == PRESCRIBED:
        return slab_hi[min(e - (ne - NG), slab_hi.shape[0] - 1), min(along, slab_hi.shape[1] - 1), q]
    row = base + e * stride
    z = alpha[row, 0] * mT[0, q]
    for k in range(1, mT.shape[0]):
        z = fma(alpha[row, k], mT[k, q], z)
    return z if linear else exp_full(z)


@njit(fastmath=FM, cache=True)
def line_face_flux(alpha, base, stride, ne, e, mT, linear, kind_lo, kind_hi, slab_lo, slab_hi, along, pos, wvm,
                   order, theta, F):
    """F (n,) ← the flux through the face between extended cells e − 1 and e of a line (see the module).

    Per node only the cells the upwind state reads are evaluated: a node moving towards e needs e − 2 …
    e, one moving away e − 1 … e + 1; the other end enters :func:`upwind_state` as 0, in the state it does
    not select."""
    for k in range(F.shape[0]):
        F[k] = 0.0
    for q in range(mT.shape[1]):
        p = pos[q]
        b = _value(alpha, base, stride, ne, e - 1, q, mT, linear, kind_lo, kind_hi, slab_lo, slab_hi, along)
        c = _value(alpha, base, stride, ne, e, q, mT, linear, kind_lo, kind_hi, slab_lo, slab_hi, along)
        if order == 1:
            v = b if p else c
        else:
            a = _value(alpha, base, stride, ne, e - 2, q, mT, linear, kind_lo, kind_hi, slab_lo, slab_hi,
                       along) if p else 0.0
            d = 0.0 if p else _value(alpha, base, stride, ne, e + 1, q, mT, linear, kind_lo, kind_hi, slab_lo,
                                     slab_hi, along)
            v = upwind_state(a, b, c, d, p, theta)
        for k in range(F.shape[0]):
            F[k] = fma(wvm[k, q], v, F[k])


@cuda.jit
def _faces(alpha, base, step, stride, ne, mT, linear, kind_lo, kind_hi, slab_lo, slab_hi, pos, wvm, order, theta,
           F):
    """F[ℓ, f] (lines, faces, n) ← the flux through face f of line ℓ (one thread per face)."""
    t = cuda.grid(1)
    nf = F.shape[1]
    if t < F.shape[0] * nf:
        line = t // nf
        f = t % nf
        line_face_flux(view(alpha), base + line * step, stride, ne, f + NG, view(mT), linear, kind_lo, kind_hi,
                       view(slab_lo), view(slab_hi), line, view(pos), view(wvm), order, theta, view(F[line, f]))


@cuda.jit
def _divergence(Fx, Fy, idx, idy, du):
    """du[j, i] = (Fx[j, i] − Fx[j, i + 1])/h_x (+ (Fy[i, j] − Fy[i, j + 1])/h_y in 2D), du (rows, nx, n);
    1D: one row and Fy unused (size 0)."""
    t = cuda.grid(1)
    ny, nx, n = du.shape
    if t < ny * nx * n:
        k = t % n
        i = (t // n) % nx
        j = t // (n * nx)
        out = (Fx[j, i, k] - Fx[j, i + 1, k]) * idx
        if Fy.shape[0] > 0:
            out += (Fy[i, j, k] - Fy[i, j + 1, k]) * idy
        du[j, i, k] = out


@cuda.jit
def _wall_sums(F, sides, out):
    """out[s] = Σ_ℓ F[ℓ, face, 0] for side s (face 0 or the last) where sides[s] (zero otherwise)."""
    s = cuda.grid(1)
    if s < 2:
        acc = 0.0
        if sides[s]:
            f = 0 if s == 0 else F.shape[1] - 1
            for line in range(F.shape[0]):
                acc += F[line, f, 0]
        out[s] = acc


class DeviceFlux:
    """−∇·F of a stage on the device, from the set-up of the run's :class:`FluxDivergence` ``div``.

        flux(alpha_ext, du)   # alpha_ext (device, ghosts complete), du (device, owned shape) ← −∇·F
        flux.wall_flux()      # (dim, 2) host: F0 out through each wall in that call, as div.wall_flux()
    """

    def __init__(self, div: FluxDivergence):
        self.div = div
        self.dim, self.shape, n = div.dim, div.shape, div.n
        self.mT = cuda.to_device(div.mT)
        self.slabs = [cuda.to_device(np.ascontiguousarray(s)) for s in div.slabs]
        # per array axis: its lines (the other axis' owned cells) and faces (its own cells + 1)
        nx = self.shape[-1]
        if self.dim == 1:
            self.lines = [dict(base=0, step=0, stride=1, ne=nx + 2 * NG, count=1, faces=nx + 1)]
        else:
            ny = self.shape[0]
            self.lines = [dict(base=NG, step=1, stride=nx + 2 * NG, ne=ny + 2 * NG, count=nx, faces=ny + 1),
                          dict(base=NG * (nx + 2 * NG), step=nx + 2 * NG, stride=1, ne=nx + 2 * NG, count=ny,
                               faces=nx + 1)]
        self.weights = [(cuda.to_device(w), cuda.to_device(p)) for w, p in div.weights]
        self.F = [cuda.device_array((ln["count"], ln["faces"], n)) for ln in self.lines]
        self.walls = [cuda.to_device(np.array([k != 0 for k in div.kinds[a]], np.bool_)) for a in range(self.dim)]
        self.sums = cuda.device_array((self.dim, 2))
        self.no_faces = cuda.device_array((0, 1, n))

    @property
    def nbytes(self) -> int:
        """Bytes of the face fluxes held between the kernels (n numbers per face)."""
        return sum(F.nbytes for F in self.F)

    def _ghosts(self, alpha_ext) -> None:
        """Far-field walls: both ghost layers ← the nearest owned α (as copy_nearest does on the host)."""
        ext = alpha_ext if self.dim == 2 else alpha_ext.reshape(1, *alpha_ext.shape)
        rows, cols = ext.shape[0], ext.shape[1]
        for axis in range(self.dim):
            for side in (0, 1):
                if self.div.kinds[axis, side] != WALL:
                    continue
                along_x = axis == self.dim - 1  # the wall is crossed along x (columns)
                size = alpha_ext.shape[axis]
                near = NG if side == 0 else size - NG - 1
                for layer in (range(NG) if side == 0 else range(size - NG, size)):
                    if along_x:
                        r0, h = (0, 1) if self.dim == 1 else (NG, rows - 2 * NG)
                        copy_box(ext, (r0, near), ext, (r0, layer), (h, 1))
                    else:
                        copy_box(ext, (near, NG), ext, (layer, NG), (1, cols - 2 * NG))

    def __call__(self, alpha_ext, du):
        """du ← −∇·F from alpha_ext (ghosts from the halo; far-field walls' ghosts are set here)."""
        div = self.div
        self._ghosts(alpha_ext)
        flat = alpha_ext.reshape(alpha_ext.size // div.n, div.n)
        for axis, ln in enumerate(self.lines):
            F = self.F[axis]
            wvm, pos = self.weights[axis]
            lo, hi = self.slabs[2 * axis], self.slabs[2 * axis + 1]
            _faces[blocks(F.shape[0] * F.shape[1]), THREADS](
                flat, ln["base"], ln["step"], ln["stride"], ln["ne"], self.mT, div.linear, div.kinds[axis, 0],
                div.kinds[axis, 1], lo, hi, pos, wvm, div.order, div.theta, F)
        d3 = du if self.dim == 2 else du.reshape(1, *du.shape)
        Fx, Fy = self.F[-1], (self.F[0] if self.dim == 2 else self.no_faces)
        idy = div.inv[0] if self.dim == 2 else 0.0
        _divergence[blocks(d3.size), THREADS](Fx, Fy, div.inv[-1], idy, d3)
        for axis in range(self.dim):
            _wall_sums[1, 2](self.F[axis], self.walls[axis], self.sums[axis])
        return du

    def wall_flux(self) -> np.ndarray:
        """(dim, 2): the zeroth-moment flux out through each wall of the block in the last call (0 where the
        side has a neighbour), as :meth:`FluxDivergence.wall_flux`."""
        sums = self.sums.copy_to_host()
        sign = np.array([-1.0, 1.0])
        return sums * sign * np.array(self.div.face_area)[:, None]
