"""Device versions of the closures: :func:`to_device` builds one from a CPU closure object.

The device closure keeps the CPU closure's basis, quadrature, options and model weights; its batched
call works on numba-cuda device arrays (:class:`~.base.DeviceClosure`) and gives the CPU closure's
statistics. Kernels: :mod:`.newton`, :mod:`.networks`, :mod:`.hybrid`, :mod:`.pn`; m1_exact and spline have
no device version (an input error names them).
"""

from __future__ import annotations

from ..closures.base import Closure
from ..closures.hybrid import HybridClosure
from ..closures.neural.closure import NetworkClosure
from ..closures.newton import NewtonClosure
from ..closures.pn import PNClosure
from ..errors import InputError
from .base import DeviceClosure
from .hybrid import DeviceHybrid
from .networks import DeviceNetwork
from .newton import DeviceNewton
from .pn import DevicePN

__all__ = ["DeviceClosure", "to_device"]


def to_device(closure: Closure) -> DeviceClosure:
    """The device version of ``closure``; an :class:`InputError` naming it if it has none."""
    network = closure.network if isinstance(closure, HybridClosure) else closure
    if isinstance(network, NetworkClosure) and network.net.rotation:
        raise InputError(f"closure {closure.name!r}: the rotation-invariant network {network.net.name!r} has no GPU "
                         "version yet (its reduced-frame turn runs on the host); use parallel.device = \"cpu\"")
    if isinstance(closure, NewtonClosure):
        return DeviceNewton(closure)
    if isinstance(closure, NetworkClosure):
        return DeviceNetwork(closure)
    if isinstance(closure, HybridClosure):
        return DeviceHybrid(closure)
    if isinstance(closure, PNClosure):
        return DevicePN(closure)
    raise InputError(f"closure {closure.name!r} has no GPU version (parallel.device = \"gpu\" needs one of: "
                     "newton, icnn, mlp, monotone, hybrid, pn)")
