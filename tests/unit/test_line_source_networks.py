"""The shipped rotation-invariant 2D M2 networks (docs/closures.md, "2D M2"): they commute with rotations to
round-off on the rule a run uses, and in short line-source runs the hybrid closure's residuals are all under
its tolerance and the network's total entropy never increases."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from mpi4py import MPI

from hpcclose import config
from hpcclose.closures import get_closure
from hpcclose.closures.neural import export
from hpcclose.closures.neural.rotation import rotation
from hpcclose.solver import Simulation
from hpcclose.velocity import rules
from hpcclose.velocity.ansatz import complete

ROOT = Path(__file__).resolve().parents[2]

ICNN = "ICNN20x7_M2_2D_rot"
# 40 × 40 cells to t = 0.2 (the pulse spreads over a quarter of the grid), the networks' 10 × 40 rule
SHORT = ["mesh.cells=[40,40]", "velocity.quadrature=[10,40]", "scheme.t_final=0.2", "output.dir='runs/test_ls'"]


MONO = "MONO50x2_M2_2D_rot"
# the shipped 2D M2 networks
MODELS = [("icnn", ICNN), ("monotone", MONO)]


@pytest.mark.parametrize("arch, model", MODELS)
def test_shipped_network_commutes_with_rotations(arch, model):
    """On the hemisphere fold of the 10 × 40 rule (what a run builds from it): closing turned moments D(θ) u
    gives D(θ)⁻ᵀ α(u) — α̃ to round-off for any angle, α0 too for a turn of the rule's own symmetry (2π/40
    steps; α0 by normalisation sums over the rule) — and the ICNN's entropy is unchanged."""
    net = export.load(model)
    basis, _ = net.velocity()
    quad = rules.build(2, 2, (10, 40))
    closure = get_closure(arch, basis, quad, model=model)
    rot = rotation(basis)
    rng = np.random.default_rng(20)
    # densities of the networks' training ball (‖α̃‖ < 15) at several u0
    at = rng.normal(size=(200, basis.n - 1))
    at *= rng.uniform(0.0, 12.0, (200, 1)) / np.linalg.norm(at, axis=1, keepdims=True)
    u = complete(at, basis, quad).u * rng.uniform(0.01, 5.0, (200, 1))
    alpha, stats = closure.multipliers(u)
    assert stats.failed.size == 0
    scale = np.abs(alpha).max()
    for theta in (0.4, -2.5, 2 * np.pi * 7 / 40):
        turned, expected = rot.turn(theta, u, alpha)
        got, _ = closure.multipliers(turned)
        np.testing.assert_allclose(got[:, 1:], expected[:, 1:], rtol=0, atol=1e-12 * scale)
        if theta == 2 * np.pi * 7 / 40:
            np.testing.assert_allclose(got[:, 0], expected[:, 0], rtol=0, atol=1e-12 * scale)
        if arch == "icnn":
            h = closure.entropy(u)
            np.testing.assert_allclose(closure.entropy(turned), h, rtol=0, atol=1e-12 * np.abs(h).max())


def short_run(closure: list[str]) -> Simulation:
    sim = Simulation(config.load(ROOT / "inputs" / "line_source_m2.toml", [*SHORT, *closure]), comm=MPI.COMM_SELF)
    while not sim.done():
        sim.step()
    return sim


@pytest.mark.parametrize("network, model", MODELS)
def test_hybrid_residuals_are_under_its_tolerance(network, model):
    """Every cell closure of the run succeeded; closing the final state, every cell's moment residual is
    under the tolerance — the network's where it was accepted, Newton's (far under) where it was not. The
    tolerance is 1e−2: the shipped ICNN closes the isotropic floor to 0.5–0.7 % and anisotropic cells to a few
    per cent, so at the default 1e−3 Newton re-solves every cell (docs/closures.md) and the network is never
    used; at 1e−2 both branches are."""
    tol = 1e-2
    sim = short_run(["closure.name='hybrid'", f"closure.hybrid.network='{network}'", f"closure.hybrid.model='{model}'",
                     f"closure.hybrid.tol={tol}"])
    assert all(r.failed == 0 for r in sim.history.records)
    closure = sim.closure
    u = sim.u.reshape(-1, sim.n)
    alpha, stats = closure.multipliers(u, sim.alpha)
    r = closure.residuals(u, alpha)
    assert stats.failed.size == 0 and r.max() <= tol
    assert 0 < closure.resolved_total < closure.cells_total  # the network is accepted in some cells, not all


def test_network_entropy_never_increases():
    """The total network entropy Σ h_a(u) of the pure ICNN run never increases from step to step."""
    sim = short_run(["closure.name='icnn'", f"closure.icnn.model='{ICNN}'"])
    entropy = np.array([r.entropy for r in sim.history.records])
    assert entropy.size > 5 and np.all(np.diff(entropy) <= 1e-12 * np.abs(entropy[:-1]))
    assert export.load(ICNN).rotation == "first_moment"
