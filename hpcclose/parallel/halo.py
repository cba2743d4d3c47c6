"""Ghost-layer exchange of the multipliers α with persistent MPI requests (as PyFR's XchgMatrix).

Per axis and side with a neighbour there is one contiguous send and one receive buffer and one
persistent request each (``Send_init``/``Recv_init``), created once. :meth:`HaloExchange.start`
copies the owned boundary layers into the send buffers and starts every request;
:meth:`HaloExchange.finish` waits and copies the receive buffers into the ghost layers, so work on
the interior can run in between. The buffers are bound to the array *shape*, not to one array
(pack and unpack copy), but ``finish`` must be given the array ``start`` was given.

Tags say which way a message travels (``2·axis`` downwards, ``2·axis + 1`` upwards), so with two
periodic ranks — lower and upper neighbour the same rank — the two messages cannot be swapped; with
one periodic rank the neighbour is this rank itself and the wrap is a persistent send to self.
Walls (PROC_NULL neighbours) get no request: their ghosts are left to the physical boundary code.
Corner ghosts in 2D are never filled (the fluxes are dimension-wise).
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from .decomp import Decomposition, block_sizes

_LOWER, _UPPER = 0, 1


class HaloExchange:
    """Exchange of ``ng`` ghost layers of an extended array ``decomp.extended_shape(n_components)``.

    Parameters
    ----------
    decomp : Decomposition
    n_components : int
        Numbers per cell (the last array axis).
    ng : int, optional
        Layers to exchange (default and maximum: ``decomp.ng``); the ``ng`` ghost layers next to
        the owned cells are filled.
    dtype : numpy dtype
        Element type of the arrays (default float64).
    alloc : callable(shape, dtype) -> buffer
        Makes the send and receive buffers (default ``np.empty``). The GPU step gives pinned host arrays (its
        halo staged through the host) or device arrays (a CUDA-aware MPI reads and writes them directly);
        it packs and unpacks them itself around :meth:`post` / :meth:`wait` (:mod:`hpcclose.gpu.halo`).
    """

    def __init__(self, decomp: Decomposition, n_components: int, ng: int | None = None, dtype=np.float64,
                 alloc=np.empty):
        self.decomp = decomp
        self.n = int(n_components)
        self.ng = decomp.ng if ng is None else int(ng)
        self.dtype = np.dtype(dtype)
        self.shape = decomp.extended_shape(self.n)
        if not 1 <= self.ng <= decomp.ng:
            raise ValueError(f"HaloExchange: ng must be in [1, {decomp.ng}], got {self.ng}")
        self._check_blocks()
        self._alloc = alloc
        self._active: np.ndarray | None = None
        self._plan: list[tuple[np.ndarray, np.ndarray, tuple, tuple]] = []  # sbuf, rbuf, s-, r-slices
        self._sends = []
        self._recvs = []
        for d in range(decomp.dim):
            for side in (_LOWER, _UPPER):
                self._add(d, side)
        # Receives first in the start list: posted before the matching sends arrive.
        self._requests = self._recvs + self._sends

    def _check_blocks(self) -> None:
        # Every rank can see every block size, so all ranks raise together (no hang).
        dc = self.decomp
        for name, n, p, per in zip(dc.grid.axis_names, dc.grid.cells, dc.dims, dc.periodic, strict=True):
            thinnest = min(block_sizes(n, p))
            if (p > 1 or per) and thinnest < self.ng:
                if p == 1:
                    raise InputError(f"grid: a periodic {name} axis needs at least {self.ng} cells "
                                     f"(the ghost layers), got {n}")
                raise InputError(
                    f"decomposition: blocks of {thinnest} {name} cell(s) ({n} cells on {p} ranks) are "
                    f"thinner than the {self.ng} ghost layers: use fewer ranks along {name}"
                )

    def _slices(self, d: int, layers: slice) -> tuple:
        """Extended-array slices: ``layers`` along axis d, the owned cells along the other axes."""
        own = self.decomp.owned
        return tuple(layers if e == d else own[e] for e in range(self.decomp.dim)) + (slice(None),)

    def _add(self, d: int, side: int) -> None:
        dc = self.decomp
        nbr = dc.neighbours[d][side]
        if nbr == dc.proc_null:
            return
        g, m, k = dc.ng, dc.local_shape[d], self.ng
        if side == _LOWER:  # send my first k owned layers down, receive the lower neighbour's last k
            send, recv = slice(g, g + k), slice(g - k, g)
            stag, rtag = 2 * d, 2 * d + 1
        else:  # send my last k owned layers up, receive the upper neighbour's first k
            send, recv = slice(g + m - k, g + m), slice(g + m, g + m + k)
            stag, rtag = 2 * d + 1, 2 * d
        s_sl, r_sl = self._slices(d, send), self._slices(d, recv)
        bshape = tuple(k if e == d else dc.local_shape[e] for e in range(dc.dim)) + (self.n,)
        sbuf, rbuf = self._alloc(bshape, self.dtype), self._alloc(bshape, self.dtype)
        self._sends.append(dc.cart.Send_init(sbuf, nbr, tag=stag))
        self._recvs.append(dc.cart.Recv_init(rbuf, nbr, tag=rtag))
        self._plan.append((sbuf, rbuf, s_sl, r_sl))

    def _check(self, ext: np.ndarray) -> None:
        if ext.shape != self.shape:
            raise ValueError(f"HaloExchange: array shape {ext.shape} is not the extended shape {self.shape}")

    def start(self, ext: np.ndarray) -> None:
        """Pack the owned boundary layers of ``ext`` and start all sends and receives."""
        self._check(ext)
        if self._active is not None:
            raise RuntimeError("HaloExchange.start: the previous exchange has not been finished")
        for sbuf, _, s_sl, _ in self._plan:
            np.copyto(sbuf, ext[s_sl])
        self._active = ext
        self.post()

    def finish(self, ext: np.ndarray | None = None) -> np.ndarray:
        """Wait for the exchange begun by :meth:`start` and fill the ghost layers; returns the array.

        ``ext`` may be omitted; if given it must be the very array passed to :meth:`start`.
        """
        if self._active is None:
            raise RuntimeError("HaloExchange.finish: no exchange in progress (call start first)")
        if ext is not None and ext is not self._active:
            raise ValueError("HaloExchange.finish: not the array given to start()")
        ext, self._active = self._active, None
        self.wait()
        for _, rbuf, _, r_sl in self._plan:
            ext[r_sl] = rbuf
        return ext

    # --- the messages alone: the send buffers are packed, the receive buffers unpacked by the caller ------
    @property
    def plan(self) -> list[tuple]:
        """Per neighbour side: (send buffer, receive buffer, extended-array index of the layers sent, of the
        ghost layers received)."""
        return self._plan

    def post(self) -> None:
        """Start every persistent send and receive (the send buffers hold the layers to send)."""
        from mpi4py import MPI

        if self._requests:
            MPI.Prequest.Startall(self._requests)

    def wait(self) -> None:
        """Wait for every request posted by :meth:`post` (the receive buffers then hold the ghosts)."""
        from mpi4py import MPI

        if self._requests:
            MPI.Request.Waitall(self._requests)

    def exchange(self, ext: np.ndarray) -> np.ndarray:
        """:meth:`start` then :meth:`finish` (no overlap)."""
        self.start(ext)
        return self.finish(ext)

    @property
    def nbytes(self) -> int:
        """Bytes sent per exchange by this rank."""
        return sum(sbuf.nbytes for sbuf, _, _, _ in self._plan)

    def free(self) -> None:
        """Free the persistent requests (idempotent); call before ``decomp.free()``."""
        if self._active is not None:
            from mpi4py import MPI

            MPI.Request.Waitall(self._requests)
            self._active = None
        for r in self._requests:
            r.Free()
        self._requests, self._sends, self._recvs, self._plan = [], [], [], []
