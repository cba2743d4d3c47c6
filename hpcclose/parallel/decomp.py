"""Block decomposition of a 1D/2D :class:`~hpcclose.grid.Grid` over a Cartesian MPI topology.

:class:`Decomposition` is the one object that owns the communicator (as Dedalus' ``Distributor``):
everything else asks it for ranks, neighbours, extents and collectives. Cartesian dimension ``d`` is
array axis ``d`` (2D: ``dims = (py, px)``). Blocks differ by at most one cell, the first
``cells % p`` blocks being the larger ones (mpi4py-fft's ``pencil`` distribution), so a rank's
extents follow from its coordinates alone and every rank can compute every other rank's block.

mpi4py is imported lazily: importing this module (e.g. for :func:`block_sizes`) does not start MPI.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable
from math import prod
from typing import Any

import numpy as np

from ..errors import InputError
from ..grid import NG, Grid


def block_sizes(n: int, p: int) -> list[int]:
    """Sizes of ``p`` contiguous blocks of ``n`` cells, differing by ≤ 1 (the first ``n % p`` larger)."""
    if p < 1 or n < 0:
        raise ValueError(f"block_sizes: need p >= 1 and n >= 0, got n={n}, p={p}")
    q, r = divmod(n, p)
    return [q + 1 if i < r else q for i in range(p)]


def block_offsets(n: int, p: int) -> list[int]:
    """Global start index of each of the ``p`` blocks of :func:`block_sizes` (length ``p``)."""
    offs = [0]
    for s in block_sizes(n, p)[:-1]:
        offs.append(offs[-1] + s)
    return offs


def choose_dims(size: int, cells: tuple[int, ...], periodic: tuple[bool, ...]) -> tuple[int, ...]:
    """Process grid for ``size`` ranks: the factorisation with the fewest cut faces.

    Among factorisations with ``dims[d] <= cells[d]``, pick the one that minimises the faces
    exchanged (a periodic axis with ``p > 1`` has ``p`` cuts, else ``p - 1``); ties go to the
    ordering ``MPI.Compute_dims`` prefers (non-increasing dims). Square grids get Compute_dims'
    answer; elongated ones are cut across their long side.
    """
    dim = len(cells)
    if dim == 1:
        cands = [(size,)]
    else:
        cands = [(py, size // py) for py in range(size, 0, -1) if size % py == 0]  # Compute_dims order
    ok = [c for c in cands if all(p <= n for p, n in zip(c, cells, strict=True))]
    if not ok:
        shape = " x ".join(map(str, cells))
        raise InputError(f"decomposition: {size} ranks cannot be laid out on a {shape} grid "
                         "with at least one cell per rank and axis")

    def cut_faces(c: tuple[int, ...]) -> int:
        total = 0
        for d, p in enumerate(c):
            cuts = p if (periodic[d] and p > 1) else p - 1
            total += cuts * prod(n for e, n in enumerate(cells) if e != d)
        return total

    # min() keeps the first of equal keys, so the Compute_dims-like order breaks ties.
    return min(ok, key=cut_faces)


class Decomposition:
    """The communicator, its Cartesian topology and this rank's block of the grid.

    Parameters
    ----------
    grid : Grid
        The global grid.
    periodic : bool or tuple of bool
        Periodicity per array axis (a single bool applies to all axes).
    comm : mpi4py.MPI.Comm, optional
        Communicator to decompose over (default ``COMM_WORLD`` via :func:`hpcclose.parallel.mpi.world`).
    dims : tuple of int, optional
        Ranks per array axis; default: :func:`choose_dims`. Must multiply to the size.
    ng : int
        Ghost layers per side of the extended arrays (default :data:`hpcclose.grid.NG`).

    Attributes
    ----------
    comm, cart : the given communicator and the Cartesian one (same rank order: no reorder).
    rank, size, coords, dims, periodic, neighbours ((lower, upper) rank per axis, ``proc_null`` at
    walls), offsets (global start per axis), local_shape (owned cells per axis), owned (slices of the
    extended array: ``ext[owned]`` is the owned block), global_slices (the block in the global array).
    """

    root = 0

    def __init__(self, grid: Grid, periodic: Any, comm=None, dims=None, ng: int = NG):
        from mpi4py import MPI

        from .mpi import world

        self.grid = grid
        self.ng = int(ng)
        self.comm = world() if comm is None else comm
        self.size = self.comm.Get_size()
        self.periodic = self._check_periodic(periodic, grid.dim)
        self.dims = self._check_dims(dims)
        # reorder=False: cart ranks equal comm ranks, so I/O and logs name the same rank.
        self.cart = self.comm.Create_cart(list(self.dims), periods=list(self.periodic), reorder=False)
        self.rank = self.cart.Get_rank()
        self.coords = tuple(self.cart.Get_coords(self.rank))
        self.neighbours = tuple(tuple(self.cart.Shift(d, 1)) for d in range(grid.dim))
        self.proc_null = MPI.PROC_NULL
        self.offsets = self._offsets_of(self.coords)
        self.local_shape = self._shape_of(self.coords)
        self.owned = tuple(slice(self.ng, self.ng + n) for n in self.local_shape)
        self.global_slices = tuple(
            slice(o, o + n) for o, n in zip(self.offsets, self.local_shape, strict=True)
        )

    # --- construction checks -------------------------------------------------------------------
    @staticmethod
    def _check_periodic(periodic: Any, dim: int) -> tuple[bool, ...]:
        if isinstance(periodic, (bool, np.bool_)):
            return (bool(periodic),) * dim
        periodic = tuple(bool(p) for p in periodic)
        if len(periodic) != dim:
            raise InputError(f"decomposition: periodic needs {dim} flag(s) (one per axis), got {periodic}")
        return periodic

    def _check_dims(self, dims) -> tuple[int, ...]:
        g = self.grid
        if dims is None:
            return choose_dims(self.size, g.cells, self.periodic)
        dims = tuple(int(p) for p in dims)
        if len(dims) != g.dim:
            raise InputError(f"decomposition: dims needs {g.dim} entries (one per axis), got {dims}")
        if any(p < 1 for p in dims) or prod(dims) != self.size:
            raise InputError(f"decomposition: dims {dims} must be positive and multiply to the "
                             f"number of ranks {self.size}")
        for name, p, n in zip(g.axis_names, dims, g.cells, strict=True):
            if p > n:
                raise InputError(f"decomposition: {p} ranks along {name} but only {n} {name} cells")
        return dims

    # --- block geometry (any rank's, from its coordinates) ----------------------------------------
    def _offsets_of(self, coords) -> tuple[int, ...]:
        axes = zip(self.grid.cells, self.dims, coords, strict=True)
        return tuple(block_offsets(n, p)[c] for n, p, c in axes)

    def _shape_of(self, coords) -> tuple[int, ...]:
        return tuple(block_sizes(n, p)[c] for n, p, c in zip(self.grid.cells, self.dims, coords, strict=True))

    def block_of(self, rank: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """``(offsets, local_shape)`` of ``rank``'s block."""
        coords = tuple(self.cart.Get_coords(rank))
        return self._offsets_of(coords), self._shape_of(coords)

    @property
    def dim(self) -> int:
        return self.grid.dim

    @property
    def is_root(self) -> bool:
        return self.rank == self.root

    @property
    def ncells_local(self) -> int:
        """Number of owned cells on this rank."""
        return prod(self.local_shape)

    def extended_shape(self, n: int | None = None) -> tuple[int, ...]:
        """Shape of the local array with ghosts: owned + 2·ng per axis, then ``(n,)`` unless ``n`` is None."""
        shape = tuple(m + 2 * self.ng for m in self.local_shape)
        return shape if n is None else shape + (int(n),)

    def empty_extended(self, n: int | None = None, fill: float = np.nan, dtype=np.float64) -> np.ndarray:
        """A new extended array filled with ``fill`` (NaN by default, so unfilled ghosts show)."""
        return np.full(self.extended_shape(n), fill, dtype=dtype)

    def is_lower_wall(self, d: int) -> bool:
        """True if this rank's lower side along axis ``d`` is a physical boundary (no neighbour)."""
        return self.neighbours[d][0] == self.proc_null

    def is_upper_wall(self, d: int) -> bool:
        """True if this rank's upper side along axis ``d`` is a physical boundary (no neighbour)."""
        return self.neighbours[d][1] == self.proc_null

    def local_centers(self, axis: int = 0) -> np.ndarray:
        """Cell centres of the owned cells along ``axis``."""
        sl = self.global_slices[axis]
        return self.grid.centers(axis, sl.start, sl.stop)

    # --- index maps ---------------------------------------------------------------------------------
    def to_global(self, local_index) -> tuple[int, ...]:
        """Global cell index of an owned-cell index (0-based within the owned block, not the ghosts)."""
        idx = np.atleast_1d(local_index)
        if idx.shape != (self.dim,):
            raise ValueError(f"to_global: need {self.dim} indices, got {local_index!r}")
        return tuple(int(i) + o for i, o in zip(idx, self.offsets, strict=True))

    def to_local(self, global_index) -> tuple[int, ...] | None:
        """Owned-cell index of a global cell index, or None if another rank owns it."""
        idx = np.atleast_1d(global_index)
        if idx.shape != (self.dim,):
            raise ValueError(f"to_local: need {self.dim} indices, got {global_index!r}")
        loc = tuple(int(i) - o for i, o in zip(idx, self.offsets, strict=True))
        if all(0 <= i < n for i, n in zip(loc, self.local_shape, strict=True)):
            return loc
        return None

    def rank_of(self, global_index) -> int:
        """The rank owning the global cell ``global_index`` (per-axis indices); no communication."""
        coords = [bisect_right(block_offsets(n, p), int(i)) - 1
                  for i, n, p in zip(global_index, self.grid.cells, self.dims, strict=True)]
        return self.cart.Get_cart_rank(coords)

    def global_cell_index(self, flat):
        """Global (per-axis) index of owned cell(s) numbered ``flat`` in C order, as closures see them.

        ``flat`` may be an int (returns a tuple) or an integer array (returns a tuple of arrays).
        """
        loc = np.unravel_index(flat, self.local_shape)
        if np.ndim(flat) == 0:
            return tuple(int(i) + o for i, o in zip(loc, self.offsets, strict=True))
        return tuple(np.asarray(i) + o for i, o in zip(loc, self.offsets, strict=True))

    # --- collectives ----------------------------------------------------------------------------------
    def _allreduce(self, x, op, keep_bool: bool):
        a = np.asarray(x)
        as_bool = a.dtype == np.bool_  # MPI's MIN/MAX/SUM are for numbers, not C bool: reduce ints
        send = np.ascontiguousarray(a.astype(np.int64) if as_bool else a)
        recv = np.empty_like(send)
        self.cart.Allreduce(send, recv, op=op)
        if as_bool and keep_bool:
            recv = recv.astype(bool)
        return recv if a.ndim else recv[()].item()

    def sum(self, x):
        """Sum of a scalar or a small array over all ranks (result on every rank; bools are counted)."""
        from mpi4py import MPI

        return self._allreduce(x, MPI.SUM, keep_bool=False)

    def min(self, x):
        """Elementwise minimum over all ranks (result on every rank)."""
        from mpi4py import MPI

        return self._allreduce(x, MPI.MIN, keep_bool=True)

    def max(self, x):
        """Elementwise maximum over all ranks (result on every rank)."""
        from mpi4py import MPI

        return self._allreduce(x, MPI.MAX, keep_bool=True)

    def bcast(self, obj, root: int = 0):
        """Broadcast a picklable object from ``root``."""
        return self.cart.bcast(obj, root=root)

    def barrier(self) -> None:
        self.cart.Barrier()

    def root_only(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` on rank 0 and hand its result, or its failure, to every rank (collective).

        Non-root ranks wait in the broadcast, so no rank is left hanging when rank 0's work fails:
        rank 0 re-raises its own exception; the others raise the same error if it is meant for the user
        (an :class:`~hpcclose.errors.HpccloseError`, so the job ends as one), else :class:`OSError` naming it.
        """
        from ..errors import HpccloseError

        result, error = None, None
        if self.is_root:
            try:
                result = fn()
            except Exception as exc:  # noqa: BLE001 - re-raised on every rank below
                error = exc
        shared = error if isinstance(error, HpccloseError) else (
            None if error is None else f"{type(error).__name__}: {error}")
        status = self.bcast((result, shared))
        if error is not None:
            raise error
        if isinstance(status[1], HpccloseError):
            raise status[1]
        if status[1] is not None:
            raise OSError(f"rank 0 failed: {status[1]}")
        return status[0]

    def _check_owned(self, a: np.ndarray, what: str) -> None:
        if a.shape[: self.dim] != self.local_shape:
            raise ValueError(f"{what}: owned array shape {a.shape} does not start with the local "
                             f"shape {self.local_shape}")

    def _blocks(self):
        """(offsets, shape) of every rank's block, in rank order."""
        return [self.block_of(r) for r in range(self.size)]

    def gather(self, owned: np.ndarray, root: int = 0) -> np.ndarray | None:
        """Assemble the global array (shape ``grid.shape + trailing``) on ``root``; None elsewhere.

        ``owned`` has shape ``local_shape + trailing`` (e.g. ``(ny_loc, nx_loc, n)``); trailing shape
        and dtype must agree on all ranks. Gatherv of contiguous blocks, placed by offsets on root.
        """
        self._check_owned(owned, "gather")
        send = np.ascontiguousarray(owned)
        trailing = send.shape[self.dim:]
        per_cell = prod(trailing)
        blocks = self._blocks()
        if self.rank != root:
            self.cart.Gatherv(send, None, root=root)
            return None
        counts = [prod(s) * per_cell for _, s in blocks]
        displs = np.concatenate(([0], np.cumsum(counts)[:-1])).tolist()
        flat = np.empty(sum(counts), dtype=send.dtype)
        self.cart.Gatherv(send, [flat, (counts, displs)], root=root)
        out = np.empty(self.grid.shape + trailing, dtype=send.dtype)
        for (offs, shape), c, dsp in zip(blocks, counts, displs, strict=True):
            sl = tuple(slice(o, o + s) for o, s in zip(offs, shape, strict=True))
            out[sl] = flat[dsp: dsp + c].reshape(shape + trailing)
        return out

    def scatter(self, global_array: np.ndarray | None, root: int = 0) -> np.ndarray:
        """Distribute a global array held on ``root`` (ignored elsewhere); returns this rank's owned block."""
        if self.rank == root:
            g = np.asarray(global_array)
            if g.shape[: self.dim] != self.grid.shape:
                raise ValueError(f"scatter: global array shape {g.shape} does not start with the "
                                 f"grid shape {self.grid.shape}")
            meta = (g.shape[self.dim:], g.dtype.str)
        meta = self.cart.bcast(meta if self.rank == root else None, root=root)
        trailing, dtype = tuple(meta[0]), np.dtype(meta[1])
        per_cell = prod(trailing)
        out = np.empty(self.local_shape + trailing, dtype=dtype)
        if self.rank != root:
            self.cart.Scatterv(None, out, root=root)
            return out
        blocks = self._blocks()
        counts = [prod(s) * per_cell for _, s in blocks]
        displs = np.concatenate(([0], np.cumsum(counts)[:-1])).tolist()
        flat = np.concatenate([
            g[tuple(slice(o, o + s) for o, s in zip(offs, shape, strict=True))].ravel()
            for offs, shape in blocks
        ]).astype(dtype, copy=False)
        self.cart.Scatterv([flat, (counts, displs)], out, root=root)
        return out

    def local_from_global(self, global_array: np.ndarray) -> np.ndarray:
        """This rank's owned block of a global array every rank already holds (a copy; no communication)."""
        g = np.asarray(global_array)
        if g.shape[: self.dim] != self.grid.shape:
            raise ValueError(f"local_from_global: array shape {g.shape} does not start with the grid "
                             f"shape {self.grid.shape}")
        return g[self.global_slices].copy()

    # --- reporting and clean-up ----------------------------------------------------------------------
    def describe(self) -> str:
        """One line: ranks, layout, periodicity and the range of block sizes per axis."""
        names = self.grid.axis_names
        lay = " x ".join(f"{p}" for p in self.dims)
        blocks = " x ".join(
            f"{min(b)}" if min(b) == max(b) else f"{min(b)}-{max(b)}"
            for b in (block_sizes(n, p) for n, p in zip(self.grid.cells, self.dims, strict=True))
        )
        per = ", ".join(
            f"{n} {'periodic' if p else 'walls'}" for n, p in zip(names, self.periodic, strict=True)
        )
        return (f"{self.size} rank(s) as {lay} ({' x '.join(names)}), {per}, blocks of {blocks} cells")

    def free(self) -> None:
        """Free the Cartesian communicator (idempotent). The given ``comm`` is not freed."""
        from mpi4py import MPI

        if self.cart is not None and self.cart != MPI.COMM_NULL:
            self.cart.Free()
        self.cart = None

    def __repr__(self) -> str:
        return f"Decomposition(rank {self.rank}: {self.describe()})"
