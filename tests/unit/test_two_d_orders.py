"""Issue 22: 2D M_N beyond N = 2 — the Newton closure at N = 1…5 in both bases, the hemisphere form of every
rule against the full sphere (closure results and short runs, to round-off), the shipped 2D network on it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from mpi4py import MPI

from hpcclose import config
from hpcclose.closures import get_closure
from hpcclose.solver import Simulation
from hpcclose.velocity import make_basis, rules
from hpcclose.velocity.hemisphere import hemisphere

INPUTS = Path(__file__).resolve().parents[2] / "inputs"
BASES = ("monomial", "spherical_harmonics")
RNG_SEED = 20250222


def _multipliers(basis, quad, count: int, rng, spread: float = 1.5) -> np.ndarray:
    """Normalised multipliers of anisotropic densities (each component scaled to its basis function's range)."""
    m = basis.evaluate(quad)
    alpha = rng.normal(0, spread, (count, basis.n)) / np.abs(m).max(axis=0)
    alpha[:, 0] -= np.log((np.exp(alpha @ m.T) * quad.weights).sum(axis=1))  # u0 = 1
    return alpha


@pytest.mark.parametrize("kind", BASES)
@pytest.mark.parametrize("N", range(1, 6))
def test_newton_recovers_generating_multipliers_2d(kind, N):
    rng = np.random.default_rng(RNG_SEED + N)
    quad = rules.default(2, N)
    basis = make_basis(kind, 2, N).on(quad)
    closure = get_closure("newton", basis, quad, tol=1e-12)
    alpha = _multipliers(basis, quad, 40, rng)
    u = closure.moments(alpha) * rng.uniform(0.1, 10.0, (40, 1))  # any density scale
    got, stats = closure.multipliers(u)
    assert stats.failed.size == 0 and stats.regularised.size == 0
    np.testing.assert_allclose(got[:, 1:], alpha[:, 1:], rtol=0, atol=1e-8 * np.abs(alpha[:, 1:]).max())
    np.testing.assert_allclose(closure.moments(got), u, rtol=0, atol=1e-11 * u[:, :1].max())


@pytest.mark.parametrize("kind", BASES)
@pytest.mark.parametrize("N", range(0, 6))
@pytest.mark.parametrize("rule", ["lebedev", "product"])
def test_hemisphere_closure_results_match_the_full_sphere(kind, N, rule):
    """Same multipliers → the same moments, Hessians, entropies and fluxes ⟨v m G⟩ to 1e−12."""
    full = rules.build(2, N, rule, hemisphere=False)
    half = hemisphere(full)
    rng = np.random.default_rng(RNG_SEED + 3 * N)
    basis = make_basis(kind, 2, N)
    alpha = _multipliers(basis, full, 20, rng)
    results = []
    for quad in (full, half):
        m = basis.evaluate(quad)
        g = np.exp(alpha @ m.T) * quad.weights
        results.append({"moments": g @ m, "hessian": np.einsum("cq,qi,qj->cij", g, m, m),
                        "flux": np.einsum("cq,qd,qi->cdi", g, quad.velocity, m),
                        "entropy": get_closure("newton", basis.on(quad), quad).entropy(g @ m, alpha)})
    scale = np.abs(results[0]["moments"]).max()  # the fluxes vanish for N = 0: measure them against u
    for key, value in results[0].items():
        atol = 1e-12 * max(np.abs(value).max(), scale if key == "flux" else 0.0)
        np.testing.assert_allclose(results[1][key], value, rtol=0, atol=atol, err_msg=key)


@pytest.mark.parametrize("kind", BASES)
@pytest.mark.parametrize("N", range(0, 6))
def test_short_runs_on_the_hemisphere_match_the_full_sphere(kind, N):
    """A few line-source steps: states and right-hand sides to 1e−12 (α, ill-conditioned at N = 5 in
    monomials, to 1e−10)."""
    out = []
    for hemi in ("true", "false"):
        cfg = config.load(INPUTS / "line_source_m2.toml", [
            f"velocity.order={N}", f'velocity.basis="{kind}"', 'velocity.quadrature="lebedev"',
            f"velocity.hemisphere={hemi}", "mesh.cells=[10,10]", "scheme.max_steps=4"])
        sim = Simulation(cfg, comm=MPI.COMM_SELF)
        while not sim.done():
            sim.step()
        out.append((sim.u.copy(), sim.du.copy(), sim.alpha.copy(), sim.quad.size))
    (u1, du1, a1, q1), (u2, du2, a2, q2) = out
    assert q1 < q2
    np.testing.assert_allclose(u1, u2, rtol=0, atol=1e-12 * np.abs(u2).max())
    np.testing.assert_allclose(du1, du2, rtol=0, atol=1e-12 * np.abs(du2).max())
    np.testing.assert_allclose(a1, a2, rtol=0, atol=1e-10 * np.abs(a2).max())


def test_shipped_inputs_on_the_hemisphere_change_by_round_off_only():
    """The 2D inputs give [n_mu, n_phi] and are folded now; their results stay those of the full rule."""
    for path, cells in (("periodic_2d_m1.toml", 14), ("checkerboard_m1.toml", 70), ("line_source_m2.toml", 14)):
        out = []
        for hemi in ("true", "false"):
            cfg = config.load(INPUTS / path, [f"mesh.cells=[{cells},{cells}]", "scheme.max_steps=3",
                                             f"velocity.hemisphere={hemi}"])
            sim = Simulation(cfg, comm=MPI.COMM_SELF)
            while not sim.done():
                sim.step()
            out.append(sim.u.copy())
        np.testing.assert_allclose(out[0], out[1], rtol=0, atol=1e-13 * np.abs(out[1]).max(), err_msg=path)


def test_the_shipped_2d_network_runs_on_the_hemisphere(caplog):
    """ICNN18x8_M1_2D records sphere_product(20x20): it loads, fits a run on the folded rule without a
    quadrature warning, and closes as on the full sphere."""
    u = {}
    for hemi in ("true", "false"):
        cfg = config.load(INPUTS / "periodic_2d_m1.toml", [
            "mesh.cells=[8,8]", "scheme.max_steps=3", 'closure.name="icnn"',
            "closure.icnn.model='ICNN18x8_M1_2D'", f"velocity.hemisphere={hemi}"])
        with caplog.at_level("WARNING"):
            sim = Simulation(cfg, comm=MPI.COMM_SELF)
        assert "trained with" not in caplog.text
        while not sim.done():
            sim.step()
        u[hemi] = sim.u.copy()
    np.testing.assert_allclose(u["true"], u["false"], rtol=0, atol=1e-12 * np.abs(u["false"]).max())
