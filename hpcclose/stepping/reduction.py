"""One allreduce per step: the sums and extrema every end-of-step observer needs, fused.

Observers add their rank-local values (:meth:`FusedReduction.sum`, :meth:`~FusedReduction.max`,
:meth:`~FusedReduction.min`) and get a :data:`Slot` back; one :meth:`~FusedReduction.reduce` combines
everything over the ranks; the global values are then read by slot. A minimum travels as the maximum
of the negated value, and sums and maxima share one buffer with a user-defined MPI operation (the
buffer's first entry says where the sums end), so a step costs one collective however many observers
there are — the latency term that dominates at thousands of ranks.
"""

from __future__ import annotations

import numpy as np

#: Where a contributed value lives: ("sum" | "max" | "min", index among values of that kind).
Slot = tuple[str, int]

_OP = None  # the MPI operation, created once per process (after MPI_Init)


def _sum_then_max(inbuf, outbuf, datatype) -> None:
    """out ← in ⊕ out for buffers [k, k sums…, maxima…]: add the sums, keep the larger maxima."""
    a = np.frombuffer(inbuf, dtype=np.float64)
    b = np.frombuffer(outbuf, dtype=np.float64)
    k = 1 + int(b[0])
    b[1:k] += a[1:k]
    np.maximum(b[k:], a[k:], out=b[k:])


def _operation():
    global _OP
    if _OP is None:
        from mpi4py import MPI

        _OP = MPI.Op.Create(_sum_then_max, commute=True)
    return _OP


class FusedReduction:
    """Rank-local contributions, reduced over all ranks in one ``Allreduce``."""

    def __init__(self) -> None:
        self._sums: list[float] = []
        self._maxima: list[float] = []
        self._result: np.ndarray | None = None

    def sum(self, value: float) -> Slot:
        """Contribute ``value`` to a global sum."""
        self._sums.append(float(value))
        return ("sum", len(self._sums) - 1)

    def max(self, value: float) -> Slot:
        """Contribute ``value`` to a global maximum."""
        self._maxima.append(float(value))
        return ("max", len(self._maxima) - 1)

    def min(self, value: float) -> Slot:
        """Contribute ``value`` to a global minimum (carried as the maximum of −value)."""
        self._maxima.append(-float(value))
        return ("min", len(self._maxima) - 1)

    def reduce(self, decomp) -> None:
        """Combine every rank's contributions (collective over ``decomp``; no MPI call on one rank)."""
        buf = np.array([len(self._sums), *self._sums, *self._maxima], dtype=np.float64)
        if decomp.size > 1:
            from mpi4py import MPI

            out = np.empty_like(buf)
            decomp.cart.Allreduce([buf, MPI.DOUBLE], [out, MPI.DOUBLE], op=_operation())
            buf = out
        self._result = buf

    def __getitem__(self, slot: Slot) -> float:
        if self._result is None:
            raise RuntimeError("FusedReduction: read a slot after reduce()")
        kind, i = slot
        if kind == "sum":
            return float(self._result[1 + i])
        value = float(self._result[1 + len(self._sums) + i])
        return -value if kind == "min" else value
