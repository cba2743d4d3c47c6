"""The GPU step's kernels compile for a real GPU (sm_90, an H100) with NVVM, where the CUDA toolkit's libnvvm
is installed: the simulator runs the kernels as Python and would not notice what numba-cuda cannot compile
(allocation, exceptions, unsupported calls in the CPU functions they share). No GPU is needed: only the
arch lookup (NVRTC) and the current device's compute capability are supplied to numba-cuda."""

from __future__ import annotations

import glob
import os
import subprocess
import sys

import pytest
from conftest import ROOT

pytestmark = pytest.mark.slow

CUDA_HOME = os.environ.get("CUDA_HOME") or next(
    (p for p in sorted(glob.glob("/usr/local/cuda*")) if glob.glob(f"{p}/lib*/libnvvm.so*")), None)

SCRIPT = r"""
import types
import numba.cuda.cuda_paths as paths
import numba.cuda.dispatcher as dispatcher
paths._get_nvrtc_path = lambda: ("none", None)  # NVRTC would only pick the arch: NUMBA_FORCE_CUDA_CC gives it
dispatcher.get_current_device = lambda: types.SimpleNamespace(compute_capability=(9, 0))
from numba import cuda, types as t
from hpcclose.gpu import arrays, flux, step
f8, i8, b1 = t.float64, t.int64, t.boolean
v1, v2, v3, m1 = f8[::1], f8[:, ::1], f8[:, :, ::1], b1[::1]
kernels = {
    "combine": (arrays._combine, (v1, f8, v1, f8, v1, f8, v1)),
    "copy_box": (arrays._copy_box, (v3, i8, i8, v3, i8, i8, i8, i8)),
    "faces": (flux._faces, (v2, i8, i8, i8, i8, v2, b1, i8, i8, v3, v3, m1, v2, i8, f8, v3)),
    "divergence": (flux._divergence, (v3, v3, f8, f8, v3)),
    "wall_sums": (flux._wall_sums, (v3, m1, v1)),
    "sources": (step._sources, (v2, v2, v1, v1, v1, v1, f8)),
    "moments": (step._moments, (v2, v2, v1, b1, v2)),
}
for name, (kernel, sig) in kernels.items():
    ptx, _ = cuda.compile_ptx(kernel.py_func, sig, cc=(9, 0))
    assert ".entry" in ptx, name
    print(name, "ok")
"""


@pytest.mark.skipif(CUDA_HOME is None, reason="no CUDA toolkit with libnvvm here")
def test_step_kernels_compile_to_ptx_for_sm90():
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "0", "CUDA_HOME": CUDA_HOME, "NUMBA_FORCE_CUDA_CC": "9.0",
           "PYTHONPATH": str(ROOT)}
    res = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    assert res.stdout.split() == [w for k in ("combine", "copy_box", "faces", "divergence", "wall_sums", "sources",
                                              "moments") for w in (k, "ok")]
