"""Sampling uniform in the slab's moments (hpcclose.data.moment_sampling) and `sample --sampler moments`."""

from __future__ import annotations

import argparse

import numpy as np
import pytest
from scipy.integrate import quad as integrate

from hpcclose.data import datasets
from hpcclose.data.moment_sampling import realizable_with_margin, sample_moments
from hpcclose.errors import InputError
from hpcclose.velocity import make_basis
from hpcclose.velocity.quadrature import gauss_legendre

GL30 = gauss_legendre(30)


@pytest.mark.parametrize("N, eps", [(1, 0.01), (2, 0.06), (2, 0.02)])
def test_moments_inside_margin_exact_and_newton_consistent(N, eps):
    basis = make_basis("monomial", 1, N)
    ds = sample_moments(basis, GL30, 2000, eps, seed=1)
    assert ds.count == 2000 and ds.attrs["sampler"] == "moments" and ds.attrs["eps"] == eps
    np.testing.assert_allclose(ds.u[:, 0], 1.0, rtol=1e-13)
    # the completed moments are the drawn ones to the Newton tolerance: still ε inside (to 1e−9)
    assert np.all(realizable_with_margin(ds.u[:, 1:], eps - 1e-9))
    # (α, u, h) by a direct quadrature of exp(α·m), independent of the sampler's log-sum-exp path
    m = basis.evaluate(GL30)
    G = np.exp(ds.alpha @ m.T)
    np.testing.assert_allclose((G * GL30.weights) @ m, ds.u, rtol=0, atol=1e-12)
    np.testing.assert_allclose((G * np.log(G) - G) @ GL30.weights, ds.h, rtol=0, atol=1e-11)


def test_moments_are_uniform_in_the_shrunk_set():
    """The marginal of ω1 has density ∝ (1 − ε) − (ω1² + ε) on |ω1| < √(1 − 2ε): its second and fourth
    moments by scipy's quadrature against the sample's."""
    eps = 0.06
    ds = sample_moments(make_basis("monomial", 1, 2), GL30, 4096, eps, seed=2)
    a = np.sqrt(1 - 2 * eps)
    density = lambda x: 1 - 2 * eps - x * x  # noqa: E731
    norm = integrate(density, -a, a)[0]
    for k in (2, 4):
        expected = integrate(lambda x, k=k: x**k * density(x), -a, a)[0] / norm
        assert abs(np.mean(ds.u[:, 1] ** k) - expected) < 1e-2 * expected  # a uniform ω1 is 66 % off
    # the area above the parabola is uniform too: the mean of ω2 is the centroid's
    expected_w2 = integrate(lambda x: 0.5 * ((1 - eps) ** 2 - (x * x + eps) ** 2), -a, a)[0] / norm
    assert abs(ds.u[:, 2].mean() - expected_w2) < 2e-3


def test_eps_006_gives_the_multiplier_range_of_b_m2_data():
    """[B]'s shipped M2 1D monotone network records its training data's α̃ range as [−8.33, 17.22]
    (scaling_data/min_max_scaler.csv); uniform moments 0.06 inside the realizable set reproduce it."""
    ds = sample_moments(make_basis("monomial", 1, 2), GL30, 20000, 0.06, seed=0)
    lo, hi = ds.alpha[:, 1:].min(), ds.alpha[:, 1:].max()
    assert abs(lo - (-8.33)) < 0.1 and abs(hi - 17.22) < 0.1


def test_moments_reproducible_and_refusals():
    basis = make_basis("monomial", 1, 2)
    a = sample_moments(basis, GL30, 300, 0.05, seed=4)
    b = sample_moments(basis, GL30, 300, 0.05, seed=4)
    c = sample_moments(basis, GL30, 300, 0.05, seed=5)
    np.testing.assert_array_equal(a.alpha, b.alpha)
    assert not np.allclose(a.u, c.u)
    for bad, message in [(make_basis("legendre", 1, 2), "slab monomial basis"),
                         (make_basis("monomial", 1, 3), "slab monomial basis"),
                         (make_basis("monomial", 2, 1), "slab monomial basis")]:
        with pytest.raises(InputError, match=message):
            sample_moments(bad, GL30, 10, 0.05)
    with pytest.raises(InputError, match=r"eps .* must be in \(0, 0.5\)"):
        sample_moments(basis, GL30, 10, 0.5)


def test_cli_moments(tmp_path, capsys):
    from hpcclose.cli import sample

    parser = argparse.ArgumentParser()
    sample.add_arguments(parser)
    out = tmp_path / "m.h5"
    assert sample.main(parser.parse_args(["--order", "2", "--sampler", "moments", "--eps", "0.1", "--count",
                                          "200", "-o", str(out)])) == 0
    assert "200 samples (moments: ũ/u0 at least 0.1 inside the realizable set" in capsys.readouterr().out
    ds = datasets.load(out, make_basis("monomial", 1, 2))
    assert ds.attrs["eps"] == 0.1 and ds.attrs["sampler"] == "moments"


def test_training_config_reads_the_moment_sampler():
    """`sampler = "moments"` in a training input gives the same data as the function (seed included)."""
    from hpcclose.training import config
    from hpcclose.training.samples import load_data, velocity

    text = ('[model]\nkind = "icnn"\nwidth = 4\ndepth = 2\n\n[velocity]\nbasis = "monomial"\ndim = 1\n'
            'order = 2\nquadrature = 30\n\n[data]\nsampler = "moments"\ncount = 100\neps = 0.06\nseed = 3\n\n'
            '[output]\nmodel = "m.h5"\n')
    cfg = config.parse(text, "t.toml")
    basis, quad = velocity(cfg)
    ds = load_data(cfg, basis, quad)
    np.testing.assert_array_equal(ds.alpha, sample_moments(basis, quad, 100, 0.06, seed=3).alpha)
    assert ds.attrs["sampler"] == "moments" and ds.attrs["eps"] == 0.06
