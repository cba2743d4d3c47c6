"""The device closures (hpcclose.gpu) against the CPU closures on the same inputs, under numba-cuda's
simulator: α and the moments it reproduces to 1e−12 (relative), and the same statistics.

NUMBA_ENABLE_CUDASIM must be set before numba.cuda is first imported and would turn every CUDA use of a
process into the simulator, so the normal suite runs this file's device tests in a pytest process of its
own (:func:`test_device_closures_under_the_simulator`); with the variable set, pytest collects them
directly. Batches are tiny: the simulator runs every thread in Python.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hpcclose.closures import get_closure
from hpcclose.velocity import gauss_legendre, make_basis, sphere_product

SIM = os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"
RTOL = 1e-12
SEED = 20261206

if not SIM:
    @pytest.mark.slow
    def test_device_closures_under_the_simulator():
        """This file's device tests, in a pytest process with NUMBA_ENABLE_CUDASIM=1."""
        env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "1", "NUMBA_NUM_THREADS": "1"}
        r = subprocess.run([sys.executable, "-m", "pytest", __file__, "-q", "-p", "no:cacheprovider"],
                           capture_output=True, text=True, timeout=900, env=env, cwd=Path(__file__).parents[2])
        assert r.returncode == 0, r.stdout[-6000:] + r.stderr[-3000:]
        assert " passed" in r.stdout and "skipped" not in r.stdout, r.stdout[-3000:]

else:
    from numba import cuda

    from hpcclose.closures.newton import CONVERGED
    from hpcclose.errors import InputError, RealizabilityError
    from hpcclose.gpu.closures import to_device

    def random_moments(basis, quad, ncells: int, rng, scale: float) -> np.ndarray:
        """Moments of random multipliers (α̃ uniform in ±scale/N) under the closure's quadrature, u0 in
        [1e−3, 10]."""
        m, w = basis.evaluate(quad), quad.weights
        alpha = np.zeros((ncells, basis.n))
        alpha[:, 1:] = rng.uniform(-scale / basis.N, scale / basis.N, (ncells, basis.n - 1))
        alpha[:, 0] = np.log(rng.uniform(1e-3, 10.0, ncells))
        return (np.exp(alpha @ m.T) * w) @ m

    def edge_moments(basis, quad, rng) -> np.ndarray:
        """Cells that need the robust path or regularisation: a node's own basis values pulled slightly
        towards the isotropic moments (just inside, or outside, the discrete realizable set), and |u1| > u0
        (not realizable at all)."""
        m = basis.evaluate(quad)
        iso = basis.isotropic(1.0, quad)
        q = np.argmax(m[:, 1])
        rows = [(1 - t) * m[q] + t * iso for t in (1e-3, 1e-5, 1e-9)]
        far = iso.copy()
        far[1] = 1.3 * np.abs(m[:, 1]).max()
        rows.append(far)
        return np.array(rows) * rng.uniform(0.5, 2.0, (len(rows), 1))

    def compare(closure, u: np.ndarray, warm: np.ndarray | None):
        """CPU and device α and statistics for the same moments and warm start (None: cold)."""
        a_cpu, s_cpu = closure.multipliers(u, warm)
        dev = to_device(closure)
        da = cuda.to_device(np.full_like(u, np.nan) if warm is None else warm)
        s_dev = dev.multipliers(cuda.to_device(u), da)
        a_dev = da.copy_to_host()
        scale = np.abs(a_cpu).max(axis=1, keepdims=True)
        np.testing.assert_allclose(a_dev, a_cpu, rtol=RTOL, atol=0.0)
        mc, md = closure.moments(a_cpu), closure.moments(a_dev)
        assert np.all(np.abs(md - mc) <= RTOL * np.abs(mc).max(axis=1, keepdims=True)), scale.ravel()
        return s_cpu, s_dev

    def same_stats(s_cpu, s_dev):
        assert s_dev.ncells == s_cpu.ncells
        assert s_dev.iterations_max == s_cpu.iterations_max
        assert s_dev.iterations_mean == pytest.approx(s_cpu.iterations_mean, rel=1e-15)
        np.testing.assert_array_equal(s_dev.regularised, s_cpu.regularised)
        np.testing.assert_array_equal(s_dev.reg_r, s_cpu.reg_r)
        np.testing.assert_array_equal(s_dev.failed, s_cpu.failed)
        np.testing.assert_array_equal(s_dev.failed_moments, s_cpu.failed_moments)

    NEWTON_CASES = ([("legendre", 1, N) for N in (1, 2, 4)] + [("monomial", 2, N) for N in (1, 2, 3)]
                    + [("spherical_harmonics", 2, N) for N in (1, 2, 3)])

    @pytest.mark.parametrize("case", NEWTON_CASES, ids=lambda c: f"{c[0]}-{c[1]}D-N{c[2]}")
    def test_newton_device_equals_cpu(case):
        """Random cells (warm starts: near, perturbed, non-finite = cold) and edge cells; same α, moments,
        iterations, regularised and failed cells as the CPU closure."""
        kind, dim, N = case
        rng = np.random.default_rng(SEED + 10 * dim + N)
        basis = make_basis(kind, dim, N)
        quad = gauss_legendre(30) if dim == 1 else sphere_product(6, 12)
        closure = get_closure("newton", basis, quad, check=False)
        u = np.concatenate([random_moments(basis, quad, 8, rng, 8.0 if dim == 1 else 3.0),
                            edge_moments(basis, quad, rng)])
        exact, _ = closure.multipliers(u)
        warm = exact * (1 + 1e-3 * rng.standard_normal(exact.shape))
        warm[::3] = np.nan
        s_cpu, s_dev = compare(closure, u, warm)
        same_stats(s_cpu, s_dev)
        assert s_cpu.regularised.size > 0  # the edge cells exercise regularisation …
        assert np.any(closure.last_status != CONVERGED)  # … and the hand-over from the fast path

    def test_newton_change_of_basis_and_failures():
        """change_basis = "always" (every cell on the robust path) and a regularisation list too short to
        save a cell (a failed cell with its moments), cold starts."""
        basis, quad = make_basis("legendre", 1, 4), gauss_legendre(30)
        rng = np.random.default_rng(SEED)
        u = np.concatenate([random_moments(basis, quad, 6, rng, 8.0), edge_moments(basis, quad, rng)])
        s_cpu, s_dev = compare(get_closure("newton", basis, quad, check=False, change_basis="always"), u, None)
        same_stats(s_cpu, s_dev)
        s_cpu, s_dev = compare(get_closure("newton", basis, quad, check=False, regularisation=[1e-8]), u, None)
        same_stats(s_cpu, s_dev)
        assert s_cpu.failed.size > 0

    def test_newton_unclosable_input_names_the_cells():
        basis, quad = make_basis("legendre", 1, 2), gauss_legendre(30)
        dev = to_device(get_closure("newton", basis, quad))
        u = np.tile([1.0, 0.1, 0.4], (5, 1))
        u[3] = [-1.0, 0.0, 0.3]
        with pytest.raises(RealizabilityError, match="cell 3") as exc:
            dev.multipliers(cuda.to_device(u), cuda.to_device(np.zeros_like(u)))
        assert list(exc.value.cells) == [3]

    def test_no_device_version_is_one_line_input_error():
        basis, quad = make_basis("legendre", 1, 1), gauss_legendre(30)
        with pytest.raises(InputError, match="'m1_exact'") as exc:
            to_device(get_closure("m1_exact", basis, quad))
        assert "\n" not in str(exc.value)


@pytest.mark.slow
def test_kernels_compile_for_a_gpu():
    """PTX for sm_90 from every device kernel, the step's included (numba-cuda's compiler and NVVM, no GPU
    needed; its own process, out of the simulator); skipped with the reason where NVVM or libdevice is not
    installed."""
    script = Path(__file__).parents[1] / "gpu_ptx.py"
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=900,
                       cwd=Path(__file__).parents[2])
    if r.returncode == 3:
        pytest.skip(r.stdout.strip().splitlines()[-1])
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "ok step: _faces" in r.stdout
