"""Samplers in the reduced coordinates of rotation-invariant 2D closures (hpcclose/data/reduced_sampling.py) and
training in that frame."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from hpcclose.closures.neural.rotation import rotation
from hpcclose.data.reduced_sampling import moment_box, sample_moments_reduced, sample_sobol_reduced
from hpcclose.data.sampling import hessian_min_eig
from hpcclose.errors import InputError
from hpcclose.training import config
from hpcclose.training.samples import normalise
from hpcclose.velocity import make_basis, sphere_product

RULE = sphere_product(8, 32)


def _reproduces_its_moments(ds, basis, quad, atol=1e-12):
    """(α, u, h) by a direct quadrature of exp(α·m), independent of the samplers' log-sum-exp path."""
    m = basis.evaluate(quad)
    G = np.exp(ds.alpha @ m.T)
    np.testing.assert_allclose((G * quad.weights) @ m, ds.u, rtol=0, atol=atol)
    np.testing.assert_allclose((G * np.log(G) - G) @ quad.weights, ds.h, rtol=0, atol=10 * atol)
    np.testing.assert_allclose(ds.u[:, 0], 1.0, rtol=1e-13)


@pytest.mark.parametrize("kind, N", [("monomial", 2), ("spherical_harmonics", 2), ("monomial", 3)])
def test_sobol_reduced_samples_lie_in_the_reduced_frame_and_reproduce_their_moments(kind, N):
    basis = make_basis(kind, 2, N)
    rot = rotation(basis)
    ds = sample_sobol_reduced(basis, RULE, 600, 8.0, 1e-6, seed=1)
    assert ds.count == 600 and ds.attrs["sampler"] == "sobol" and ds.attrs["reduced"]
    _reproduces_its_moments(ds, basis, RULE)
    # first moment along +Ωx under the rule, to round-off
    assert np.abs(ds.u[:, 1 + rot.y]).max() < 1e-13 and np.all(ds.u[:, 1 + rot.x] * rot.scale[0] > 0)
    # the same seed draws the same points; another seed others
    again = sample_sobol_reduced(basis, RULE, 600, 8.0, 1e-6, seed=1)
    np.testing.assert_array_equal(again.alpha, ds.alpha)
    assert not np.array_equal(sample_sobol_reduced(basis, RULE, 600, 8.0, 1e-6, seed=2).alpha, ds.alpha)


def test_sobol_reduced_covers_the_orbits_of_the_full_ball():
    """Turned into the reduced frame, [B]'s B_{M,τ} in the full coordinates and its reduced sampler cover the
    same region: the reduced points' ‖α̃‖ (harmonics: D is orthogonal, so ‖α̃‖ and λ_min are invariant)
    stay in the ball and above τ (up to the rule's lack of invariance)."""
    basis = make_basis("spherical_harmonics", 2, 2)
    ds = sample_sobol_reduced(basis, sphere_product(8, 64), 800, 6.0, 1e-4, seed=3)
    assert np.linalg.norm(ds.alpha[:, 1:], axis=1).max() < 6.0 * (1 + 1e-9)
    assert hessian_min_eig(ds.alpha, basis, sphere_product(8, 64)).min() > 1e-4 * (1 - 1e-6)


@pytest.mark.parametrize("kind", ["monomial", "spherical_harmonics"])
def test_moments_reduced_are_uniform_inside_the_margin(kind):
    basis = make_basis(kind, 2, 2)
    rot = rotation(basis)
    eps = 0.05
    ds = sample_moments_reduced(basis, RULE, 1024, eps, seed=4)
    assert ds.attrs["sampler"] == "moments" and ds.attrs["eps"] == eps and ds.attrs["reduced"]
    _reproduces_its_moments(ds, basis, RULE)
    # the completed moments are the drawn ones to the Newton tolerance: still ε inside, in the frame
    assert np.all(basis.realizability_margin(ds.u) > eps - 1e-9)
    assert np.abs(ds.u[:, 1 + rot.y]).max() < 1e-9
    # uniform in the reduced region: the mean of every reduced coordinate is that of plain random points
    lo, hi = moment_box(basis)
    pts = np.random.default_rng(0).uniform(lo, hi, size=(400_000, lo.size))
    full = np.concatenate([np.ones((pts.shape[0], 1)), rot.expand(pts)], axis=1)
    inside = pts[basis.realizability_margin(full) > eps]
    reduced = ds.u[:, 1:][:, rot.keep]
    np.testing.assert_allclose(reduced.mean(axis=0), inside.mean(axis=0), rtol=0, atol=0.01 * (hi - lo).max())


def test_reduced_samplers_refuse_bad_input():
    from hpcclose.velocity import gauss_legendre

    basis = make_basis("monomial", 2, 2)
    with pytest.raises(InputError, match="2D bases"):
        sample_sobol_reduced(make_basis("monomial", 1, 2), gauss_legendre(8), 10, 5.0)
    with pytest.raises(InputError, match="does not fit"):
        sample_sobol_reduced(basis, gauss_legendre(8), 10, 5.0)
    with pytest.raises(InputError, match="eps"):
        sample_moments_reduced(basis, RULE, 10, 0.7)


def test_normalise_turns_any_frame_into_the_reduced_one():
    """Data sampled in the full coordinates, turned by the training's normalise, equal those sampled in the
    reduced frame where the rule is invariant: ω̃ the reduced coordinates, α̃ with its y component."""
    from hpcclose.data.sampling import sample_sobol

    basis = make_basis("monomial", 2, 2)
    rot = rotation(basis)
    quad = sphere_product(8, 64)
    ds = sample_sobol(basis, quad, 300, 5.0, 1e-6, seed=0)
    s = normalise(ds, rot)
    assert s.omega.shape == (300, 4) and s.alpha.shape == (300, 5) and s.w.shape == (300, 6)
    m = basis.evaluate(quad)
    z = s.alpha @ m[:, 1:].T
    G = np.exp(z - np.log(np.exp(z) @ quad.weights)[:, None])
    np.testing.assert_allclose((G * quad.weights) @ m, s.w, atol=1e-10)
    completed = rot.complete_alpha(rot.expand(s.omega), np.delete(s.alpha, rot.y, axis=1))
    np.testing.assert_allclose(completed, s.alpha, atol=1e-8)


TRAIN = """
[model]
kind = "{kind}"
width = 8
depth = 1
rotation = true
symmetric = true

[velocity]
basis = "monomial"
dim = 2
order = 2
quadrature = [6, 24]

[data]
sampler = "sobol"
reduced = true
count = 400
max_norm = 5.0
tau = 1e-6

[training]
epochs = 3
batch_size = 32
learning_rate = 1e-2
lbfgs_iterations = 5

[output]
model = "{out}"
convexity_points = 500
"""


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("tensorflow") is None, reason="TensorFlow not installed")
@pytest.mark.parametrize("kind", ["icnn", "monotone"])
def test_training_in_the_reduced_frame_writes_a_rotation_network(kind, tmp_path):
    from hpcclose.closures import get_closure
    from hpcclose.training.train import train

    res = train(config.parse(TRAIN.format(kind=kind, out=tmp_path / "m.h5"), "t.toml"), progress=False)
    net = res.network
    assert net.rotation == "first_moment" and net.d == 4 and net.n == 6 and net.signs.shape == (4, 4)
    assert net.name.endswith("_rot") and res.history["val_loss"][-1] < res.history["val_loss"][0]
    assert np.isfinite(res.test_errors["mse_u"]) and res.convexity["points"] > 50
    basis = make_basis("monomial", 2, 2)
    closure = get_closure(kind, basis, sphere_product(6, 24), model=str(res.path))
    u = sample_sobol_reduced(basis, sphere_product(6, 24), 50, 5.0, seed=9).u
    alpha, _ = closure.multipliers(rotation(basis).turn(1.0, u))
    assert np.all(np.isfinite(alpha))


def test_reduced_frame_inputs_are_validated(tmp_path):
    good = TRAIN.format(kind="icnn", out=tmp_path / "m.h5")
    config.parse(good, "t.toml")
    with pytest.raises(InputError, match="for 2D moments"):
        config.parse(good.replace("dim = 2", "dim = 1").replace("[6, 24]", "16"), "t.toml")
    with pytest.raises(InputError, match="set data.reduced = true"):
        config.parse(good.replace('sampler = "sobol"', 'sampler = "moments"\neps = 0.05')
                     .replace("reduced = true", ""), "t.toml")
    with pytest.raises(InputError, match="reduced"):
        config.parse(good.replace('sampler = "sobol"', 'sampler = "grid"\nsize = 4'), "t.toml")
