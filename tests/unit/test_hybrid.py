"""The hybrid closure: network α where its moments match u to tol, warm-started Newton elsewhere."""

from __future__ import annotations

import numpy as np
import pytest

from hpcclose.closures import get_closure
from hpcclose.closures.hybrid import HybridClosure, HybridStats
from hpcclose.closures.neural import export
from hpcclose.closures.neural.layout import random_network
from hpcclose.closures.newton import NewtonClosure
from hpcclose.errors import InputError
from hpcclose.velocity import gauss_legendre, make_basis

BASIS = make_basis("monomial", 1, 2)
QUAD = gauss_legendre(30)


def moments(count: int, seed: int = 0, spread: float = 0.95) -> np.ndarray:
    """Realizable M2 moments that the 30-point rule can represent (u2/u0 < 0.98 < μ_max²)."""
    rng = np.random.default_rng(seed)
    w1 = rng.uniform(-spread, spread, count)
    w2 = w1**2 + (0.98 - w1**2) * rng.uniform(0.03, 0.97, count)
    u0 = rng.uniform(0.1, 5.0, count)
    return np.stack([u0, u0 * w1, u0 * w2], axis=1)


def residuals(alpha: np.ndarray, u: np.ndarray) -> np.ndarray:
    """‖⟨m exp(α·m)⟩ − u‖₂ / u0, in plain numpy."""
    m = BASIS.evaluate(QUAD)
    w = (np.exp(alpha @ m.T) * QUAD.weights) @ m
    return np.linalg.norm(w - u, axis=1) / u[:, 0]


@pytest.fixture(scope="module")
def icnn_file(tmp_path_factory):
    net = random_network("icnn", BASIS, 10, 3, seed=5, quadrature=QUAD.name)
    return str(export.save(tmp_path_factory.mktemp("h") / "icnn.h5", net))


def test_residual_kernel_matches_numpy(icnn_file):
    hyb = HybridClosure(BASIS, QUAD, model=icnn_file)
    u = moments(500)
    alpha, _ = hyb.network.multipliers(u)
    assert np.allclose(hyb.residuals(u, alpha), residuals(alpha, u), rtol=1e-12, atol=1e-15)
    # a wildly wrong or non-finite α gives a huge or infinite residual, never NaN
    wild = alpha.copy()
    wild[:3, 2] = 1e4
    wild[3, 1] = np.nan
    r = hyb.residuals(u, wild)
    assert not np.any(np.isnan(r)) and np.all(r[:4] > 1e6) and np.all(np.isfinite(r[4:]))


@pytest.mark.parametrize("tol", [1e-3, 1e-6])
def test_all_residuals_under_tolerance(icnn_file, tol):
    """A random (untrained) network is far off almost everywhere: Newton must fix every cell."""
    hyb = get_closure("hybrid", BASIS, QUAD, model=icnn_file, tol=tol)
    u = moments(2000, seed=1)
    alpha, stats = hyb.multipliers(u)
    assert isinstance(stats, HybridStats) and stats.ok and stats.regularised.size == 0
    assert stats.resolved.size > 0 and stats.residual_max > tol
    r = residuals(alpha, u)
    assert r.max() <= tol, r.max()
    assert hyb.resolved_total == stats.resolved.size and hyb.cells_total == 2000
    assert "re-solved by Newton" in stats.summary()


def test_good_cells_keep_the_network_answer(icnn_file, monkeypatch):
    """Cells whose network α is accurate are untouched; the others are re-solved, warm-started."""
    hyb = HybridClosure(BASIS, QUAD, model=icnn_file, tol=1e-4, newton={"tol": 1e-12})
    u = moments(600, seed=2)
    exact, _ = NewtonClosure(BASIS, QUAD, tol=1e-13).multipliers(u)
    fake = exact.copy()
    rng = np.random.default_rng(0)
    off = np.arange(1, 600, 3)
    fake[off, 1:] += rng.uniform(0.05, 0.5, (off.size, 2)) * rng.choice([-1, 1], (off.size, 2))
    monkeypatch.setattr(hyb.network, "network_multipliers", lambda uu: (fake.copy(), np.zeros(len(uu))))
    alpha, stats = hyb.multipliers(u)
    assert np.array_equal(np.sort(stats.resolved), off)
    keep = np.setdiff1d(np.arange(600), off)
    assert np.array_equal(alpha[keep], fake[keep])
    assert residuals(alpha, u).max() <= 1e-4
    assert np.allclose(alpha[off], exact[off], rtol=0, atol=1e-8)
    # warm starts from a nearby α converge in a few Newton iterations (mean over all cells)
    assert 0 < stats.iterations_mean < 10 and stats.iterations_max < 20


def test_newton_starts_from_the_callers_alpha_where_it_is_better(icnn_file, monkeypatch):
    """Where the network is poor and the caller's warm start (the solver's previous α) reproduces u
    better, Newton starts from the latter: same answer, far fewer iterations."""
    hyb = HybridClosure(BASIS, QUAD, model=icnn_file, tol=1e-6, newton={"tol": 1e-12})
    u = moments(500, seed=6)
    exact, _ = NewtonClosure(BASIS, QUAD, tol=1e-13).multipliers(u)
    poor = exact.copy()
    poor[:, 1:] += np.random.default_rng(2).uniform(1.0, 3.0, (500, 2))
    monkeypatch.setattr(hyb.network, "network_multipliers", lambda uu: (poor.copy(), np.zeros(len(uu))))
    _, from_network = hyb.multipliers(u)
    close = exact + 1e-7 * np.random.default_rng(3).standard_normal(exact.shape)
    alpha, from_caller = hyb.multipliers(u, close)
    assert from_caller.resolved.size == 500 and from_caller.ok
    assert np.allclose(alpha, exact, rtol=0, atol=1e-8)
    assert from_caller.iterations_mean < 0.5 * from_network.iterations_mean
    # a caller's start worse than the network's is not used: the answer is the same either way
    alpha_worse, _ = hyb.multipliers(u, exact + 50.0)
    assert np.allclose(alpha_worse, exact, rtol=0, atol=1e-8)


def test_far_off_warm_start_is_retried_cold(icnn_file, monkeypatch):
    """A network α far from the answer can make the warm-started Newton attempt fail; such cells are
    solved from the cold start instead of being regularised."""
    hyb = HybridClosure(BASIS, QUAD, model=icnn_file)
    u = moments(400, seed=4)
    exact, _ = NewtonClosure(BASIS, QUAD).multipliers(u)
    wild = exact.copy()
    wild[:, 1:] += np.random.default_rng(1).uniform(-150, 150, (400, 2))
    monkeypatch.setattr(hyb.network, "network_multipliers", lambda uu: (wild.copy(), np.zeros(len(uu))))
    alpha, stats = hyb.multipliers(u)
    assert stats.resolved.size == 400 and stats.ok and stats.regularised.size == 0
    assert residuals(alpha, u).max() <= 1e-3


def test_non_realizable_cells_are_regularised_not_raised(icnn_file):
    hyb = HybridClosure(BASIS, QUAD, model=icnn_file)
    u = moments(50, seed=3)
    u[7] = [1.0, 0.5, 0.2]      # u2 < u1²: outside the realizable set
    alpha, stats = hyb.multipliers(u)
    assert np.all(np.isfinite(alpha))
    assert 7 in stats.regularised or 7 in stats.failed
    good = np.setdiff1d(np.arange(50), [7])
    assert residuals(alpha[good], u[good]).max() <= 1e-3


def test_options_are_validated(icnn_file):
    with pytest.raises(InputError, match="closure.hybrid.tol: Input should be greater than 0"):
        HybridClosure(BASIS, QUAD, model=icnn_file, tol=0.0)
    with pytest.raises(InputError, match="closure.hybrid.network: Input should be 'icnn', 'mlp' or 'monotone'"):
        HybridClosure(BASIS, QUAD, model=icnn_file, network="cnn")
    with pytest.raises(InputError, match="is a 'icnn' network"):
        HybridClosure(BASIS, QUAD, model=icnn_file, network="mlp")
    with pytest.raises(InputError, match="closure.hybrid.newton.tol: Input should be greater than 0"):
        HybridClosure(BASIS, QUAD, model=icnn_file, newton={"tol": -1})
    with pytest.raises(InputError, match="closure.hybrid.newton: the fallback never raises"):
        HybridClosure(BASIS, QUAD, model=icnn_file, newton={"check": True})
    with pytest.raises(InputError, match="closure.hybrid.model: required key is missing"):
        HybridClosure(BASIS, QUAD)
    h = HybridClosure(BASIS, QUAD, model=icnn_file, newton={"tol": 1e-11, "max_iter": 80})
    assert h.newton.tol == 1e-11 and h.newton.max_iter == 80 and not h.newton.check
    assert "hybrid" in h.describe()


def test_hybrid_simulation_tracks_newton(icnn_file):
    # an untrained network: the residual check sends (nearly) every cell to Newton, so a whole run with
    # the hybrid closure must reproduce the Newton run to the solver tolerance
    from pathlib import Path

    from mpi4py import MPI

    from hpcclose import config
    from hpcclose.solver import Simulation

    path = Path(__file__).resolve().parents[2] / "inputs" / "periodic_1d_m2.toml"
    common = ["mesh.cells=40", "scheme.max_steps=10", "velocity.quadrature=30"]
    runs = {}
    for name, extra in (("newton", []), ("hybrid", [f"closure.hybrid.model='{icnn_file}'"])):
        sim = Simulation(config.load(path, [*common, f"closure.name='{name}'", *extra]), comm=MPI.COMM_SELF)
        while not sim.done():
            sim.step()
        runs[name] = sim.u.copy()
    np.testing.assert_allclose(runs["hybrid"], runs["newton"], rtol=0, atol=1e-7)
