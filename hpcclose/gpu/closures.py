"""Device versions of the closures: :func:`to_device` builds one from a CPU closure object.

The device closure keeps the CPU closure's basis, quadrature, options and model weights; its batched
call works on numba-cuda device arrays (:class:`~.base.DeviceClosure`) and gives the CPU closure's
statistics. Kernels: :mod:`.newton`, :mod:`.networks`, :mod:`.hybrid`.
"""

from __future__ import annotations

from ..closures.base import Closure
from ..closures.newton import NewtonClosure
from ..errors import InputError
from .base import DeviceClosure
from .newton import DeviceNewton

__all__ = ["DeviceClosure", "to_device"]


def to_device(closure: Closure) -> DeviceClosure:
    """The device version of ``closure``; an :class:`InputError` naming it if it has none."""
    if isinstance(closure, NewtonClosure):
        return DeviceNewton(closure)
    raise InputError(f"closure {closure.name!r} has no GPU version (parallel.device = \"gpu\" needs one of: "
                     "newton)")
