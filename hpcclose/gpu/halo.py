"""The halo exchange of α for the GPU step: only the ghost slabs (n numbers a ghost cell) leave the device.

The messages are :class:`~hpcclose.parallel.halo.HaloExchange`'s own (persistent requests, tags, periodic
wrap to self); only their buffers differ, by what MPI can read:

* CUDA-aware MPI: the buffers are device arrays; the owned boundary layers are packed into them on the
  device and MPI reads and writes them directly (mpi4py takes ``__cuda_array_interface__`` objects).
* otherwise (staged): the buffers are pinned host arrays; each is packed on the device into a device
  twin, copied to the host, sent; received ones go back the same way.

Which one: :func:`hpcclose.devices.cuda_aware_mpi` (the input's ``parallel.cuda_aware_mpi``, else the
``HPCCLOSE_CUDA_AWARE_MPI`` variable, else the MPI library's answer; never under the simulator).
"""

from __future__ import annotations

import numpy as np
from numba import cuda

from ..parallel.decomp import Decomposition
from ..parallel.halo import HaloExchange
from .arrays import box_of, copy_box


def _device(shape, dtype):
    return cuda.device_array(shape, dtype)


def _pinned(shape, dtype):
    return cuda.pinned_array(shape, dtype)


class DeviceHalo:
    """Fills the ghost layers of a device extended array ``decomp.extended_shape(n)`` from the neighbours."""

    def __init__(self, decomp: Decomposition, n: int, cuda_aware: bool):
        self.cuda_aware = bool(cuda_aware)
        #: the messages (its buffers: device arrays if cuda_aware, else pinned host arrays)
        self.exchange = HaloExchange(decomp, n, alloc=_device if cuda_aware else _pinned)
        dim = decomp.dim
        self._moves = []  # per side: send buffer, receive buffer, their device twins, send box, receive box
        for sbuf, rbuf, s_sl, r_sl in self.exchange.plan:
            dsend = sbuf if cuda_aware else cuda.device_array(sbuf.shape, np.float64)
            drecv = rbuf if cuda_aware else cuda.device_array(rbuf.shape, np.float64)
            self._moves.append((sbuf, rbuf, dsend, drecv, box_of(s_sl, dim), box_of(r_sl, dim)))

    @property
    def nbytes(self) -> int:
        """Bytes sent per exchange by this rank (what crosses to the host per stage when staged)."""
        return self.exchange.nbytes

    def __call__(self, ext) -> None:
        """Exchange the ghost layers of the device array ``ext`` (no overlap: the flux waits for them)."""
        for sbuf, _, dsend, _, (at, size), _ in self._moves:
            copy_box(ext, at, dsend, (0, 0), size)
            if not self.cuda_aware:
                dsend.copy_to_host(sbuf)
        if self.cuda_aware:
            cuda.synchronize()  # the packing kernels are done before MPI reads the buffers
        self.exchange.post()
        self.exchange.wait()
        for _, rbuf, _, drecv, _, (at, size) in self._moves:
            if not self.cuda_aware:
                drecv.copy_to_device(rbuf)
            copy_box(drecv, (0, 0), ext, at, size)

    def free(self) -> None:
        """Free the persistent requests (call before ``decomp.free()``)."""
        self.exchange.free()
