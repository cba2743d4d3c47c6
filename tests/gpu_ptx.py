"""Compile every device-closure kernel and the GPU step's kernels to PTX for a GPU (sm_90) without one:
numba-cuda's compiler and NVVM run here, no driver is needed. Exit status 0: all compiled; 3: the CUDA
toolkit's NVVM or libdevice is missing (the last line says why); anything else: a kernel does not compile.

Each kernel is compiled for the argument types its device closure actually launches it with: the device
closure is built with host arrays standing in for device arrays, and its kernel launch is captured.
Without a driver two lookups are pointed at fixed answers: the current device's compute capability
(asked for when a kernel calls a Numba @jit function) and the NVRTC library (only located, not used,
for PTX); NUMBA_FORCE_CUDA_CC is set before numba is imported.
"""

from __future__ import annotations

import os
import sys

os.environ["NUMBA_FORCE_CUDA_CC"] = "9.0"
os.environ.pop("NUMBA_ENABLE_CUDASIM", None)

import numba  # noqa: E402
import numpy as np  # noqa: E402
from numba import cuda  # noqa: E402

CC = (9, 0)


class _Device:
    compute_capability = CC


def _no_gpu_setup() -> str | None:
    """Point the driver-dependent lookups at fixed answers; the reason if NVVM/libdevice are absent."""
    import numba.cuda.cuda_paths as paths
    import numba.cuda.dispatcher as dispatcher

    dispatcher.get_current_device = lambda: _Device()
    paths._get_nvrtc_path = lambda: ("absent", None)
    try:
        found = paths.get_cuda_paths()
    except Exception as exc:  # the pathfinder raises its own error types
        return f"CUDA toolkit not found: {exc}".splitlines()[0]
    for lib in ("nvvm", "libdevice"):
        if not (found.get(lib) and found[lib].info):
            return f"CUDA toolkit without {lib} (numba-cuda looked in CUDA_HOME and the usual places)"
    return None


class _Capture:
    """Stands in for a CUDA kernel: records the arguments of its launches."""

    def __init__(self, kernel):
        self.kernel, self.launches = kernel, []

    def __getitem__(self, config):
        return lambda *args: self.launches.append(args)


class _HostArray(np.ndarray):
    """A host array standing in for a device array."""

    def copy_to_host(self):
        return np.array(self)


def _host_arrays():
    """cuda.to_device / device_array give host arrays (kernels are captured, never run)."""
    cuda.to_device = lambda a, *args, **kw: np.array(a).view(_HostArray)
    cuda.device_array = lambda shape, dtype=float, *args, **kw: np.zeros(shape, dtype).view(_HostArray)


def _type(a):
    return numba.typeof(np.asarray(a) if isinstance(a, np.ndarray) else a)


def _closures():
    from hpcclose.closures import get_closure
    from hpcclose.velocity import gauss_legendre, make_basis

    m2 = make_basis("monomial", 1, 2), gauss_legendre(30)
    yield "newton 1D M2", get_closure("newton", *m2)
    yield "icnn 1D M2", get_closure("icnn", *m2, model="ICNN15x7_M2_1D")
    yield "monotone 1D M2", get_closure("monotone", *m2, model="MONO50x2_M2_1D")
    yield "hybrid 1D M2", get_closure("hybrid", *m2, model="ICNN15x7_M2_1D")
    yield "pn 1D P2", get_closure("pn", *m2)


def _kernels(dev):
    """(owner, attribute, kernel) of a device closure and the device closures it holds: every attribute
    that is a CUDA kernel."""
    from hpcclose.gpu.base import DeviceClosure

    for k, v in vars(dev).items():
        if hasattr(v, "py_func") and hasattr(v, "configure"):
            yield dev, k, v
        elif isinstance(v, DeviceClosure):
            yield from _kernels(v)


def _step_kernels():
    """(label, kernel, argument types) of the GPU step's kernels, for the array types the step passes them."""
    from hpcclose.gpu import arrays, flux, step

    f8, i8, b1 = numba.float64, numba.int64, numba.boolean
    v1, v2, v3, m1 = f8[::1], f8[:, ::1], f8[:, :, ::1], b1[::1]
    yield "step: _combine", arrays._combine, (v1, f8, v1, f8, v1, f8, v1)
    yield "step: _copy_box", arrays._copy_box, (v3, i8, i8, v3, i8, i8, i8, i8)
    yield "step: _faces", flux._faces, (v2, i8, i8, i8, i8, v2, b1, i8, i8, v3, v3, m1, v2, i8, f8, v3)
    yield "step: _divergence", flux._divergence, (v3, v3, f8, f8, v3)
    yield "step: _wall_sums", flux._wall_sums, (v3, m1, v1)
    yield "step: _sources", step._sources, (v2, v2, v1, v1, v1, v1, f8)
    yield "step: _source_rate", step._source_rate, (v2, v1, v1, v1, v1, f8, v1)
    yield "step: _moments", step._moments, (v2, v2, v1, b1, v2)
    yield "step: _entropy", step._entropy, (v2, v2, v2, v1, i8, v1)


def _compile(label: str, pyfunc, argtypes) -> None:
    ptx, _ = cuda.compile_ptx(pyfunc, numba.void(*argtypes), cc=CC)
    print(f"ok {label} ({len(ptx)} bytes of PTX)")


def main() -> int:
    reason = _no_gpu_setup()
    if reason:
        print(reason)
        return 3
    _host_arrays()
    from hpcclose.gpu import base, hybrid
    from hpcclose.gpu.closures import to_device

    # the statistics kernels, for the array types DeviceStats passes them
    i1, f2 = numba.int64[::1], numba.float64[:, ::1]
    _compile("statistics: _count", base._count.py_func, (i1,) * 7)
    _compile("statistics: _gather", base._gather.py_func, (f2, i1, f2))
    for label, kernel, argtypes in _step_kernels():
        _compile(label, kernel.py_func, argtypes)
    _compile("hybrid statistics: _count_resolved", hybrid._count_resolved.py_func,
             (i1, numba.float64[::1], i1, numba.float64[::1], i1))
    # nothing ran: nothing to reduce (the hybrid closure's own counters are compiled above)
    base.DeviceStats.reduce = lambda self, *args, **kw: None
    hybrid._count_resolved = _Capture(hybrid._count_resolved)
    for label, closure in _closures():
        dev = to_device(closure)
        captured = []
        for owner, attr, kernel in list(_kernels(dev)):
            cap = _Capture(kernel)
            setattr(owner, attr, cap)
            captured.append((attr, cap))
        u = closure.basis.isotropic(np.linspace(1.0, 2.0, 4), closure.quad)
        dev.multipliers(u, np.zeros_like(u))
        for attr, cap in captured:
            for args in cap.launches[:1]:
                _compile(f"{label}: {attr}", cap.kernel.py_func, [_type(a) for a in args])
    return 0


if __name__ == "__main__":
    sys.exit(main())
