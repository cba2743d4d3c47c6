"""Multiplier-space samplers (hpcclose.data.sampling), HDF5 datasets and the `sample` command."""

from __future__ import annotations

import argparse

import h5py
import numpy as np
import pytest

from hpcclose.closures import get_closure
from hpcclose.data import datasets, sampling
from hpcclose.errors import InputError
from hpcclose.velocity import make_basis
from hpcclose.velocity.quadrature import gauss_legendre, sphere_product

GL30 = gauss_legendre(30)


def direct_moments(alpha, basis, quad):
    """⟨m e^{α·m}⟩ and ⟨G log G − G⟩ by plain exp (independent of the sampler's log-sum-exp path)."""
    m = basis.evaluate(quad)
    G = np.exp(alpha @ m.T)
    u = (G * quad.weights) @ m
    h = (G * np.log(G) - G) @ quad.weights
    return u, h


def check_consistent(ds, basis, quad, rtol=1e-12):
    """The stored (α, u, h) agree with a direct quadrature of exp(α·m), to rounding."""
    u, h = direct_moments(ds.alpha, basis, quad)
    scale = np.abs(ds.u).max(axis=1, keepdims=True)
    assert np.abs(u - ds.u).max() <= rtol * 10 * scale.max()
    np.testing.assert_allclose(ds.u / scale, u / scale, rtol=0, atol=rtol)
    np.testing.assert_allclose(ds.h, h, rtol=0, atol=rtol * (1 + np.abs(h).max()))


def newton_recovers(ds, basis, quad, subset=300, atol=1e-6):
    """Newton (tight tolerance) returns the sampled α from the sampled u."""
    idx = np.linspace(0, ds.count - 1, min(subset, ds.count)).astype(int)
    newton = get_closure("newton", basis, quad, tol=1e-12)
    alpha, stats = newton.multipliers(ds.u[idx])
    assert stats.ok and stats.regularised.size == 0
    np.testing.assert_allclose(alpha, ds.alpha[idx], rtol=0, atol=atol)


# --- grid sampler [A 4.1.1] ---------------------------------------------------------------------------
def test_grid_m1_matches_paper_layout_and_moments():
    basis = make_basis("legendre", 1, 1)
    ds = sampling.sample_grid(basis, GL30, 101)
    assert ds.alpha.shape == (101, 2) and ds.u.shape == (101, 2) and ds.h.shape == (101,)
    np.testing.assert_allclose(ds.alpha[:, 1], np.linspace(-65, 65, 101))
    np.testing.assert_allclose(ds.u[:, 0], 1.0, rtol=1e-14)  # normalised: u0 = 1
    # the convention of SCIENCE §4: h̃ = α·(1, ω̃) − 1
    np.testing.assert_allclose(ds.h, ds.alpha[:, 0] + ds.alpha[:, 1] * ds.u[:, 1] - 1.0, atol=1e-13)
    assert np.abs(ds.u[:, 1]).max() == pytest.approx(1 - 1 / 65, abs=1e-9)  # [A]: covers [−1+0.015, 1−0.015]
    check_consistent(ds, basis, GL30)
    newton_recovers(ds, basis, GL30)
    assert ds.attrs["sampler"] == "grid" and ds.attrs["size"] == [101]


def test_grid_m2_100x50():
    basis = make_basis("legendre", 1, 2)
    ds = sampling.sample_grid(basis, GL30, (100, 50), (-10, 10))
    assert ds.count == 5000
    assert np.unique(ds.alpha[:, 1]).size == 100 and np.unique(ds.alpha[:, 2]).size == 50
    check_consistent(ds, basis, GL30)
    newton_recovers(ds, basis, GL30)


def test_grid_rejects_bad_sizes():
    basis = make_basis("monomial", 1, 2)
    with pytest.raises(InputError, match="2 size"):
        sampling.sample_grid(basis, GL30, (10, 10, 10))
    with pytest.raises(InputError, match="lo < hi"):
        sampling.sample_grid(basis, GL30, 10, (5, -5))
    with pytest.raises(InputError, match="N = 0"):
        sampling.sample_grid(make_basis("monomial", 1, 0), GL30, 10)


# --- Sobol rejection sampler [B eq. 110] --------------------------------------------------------------
@pytest.mark.parametrize("kind, dim, N, quad, M", [
    ("monomial", 1, 2, GL30, 20.0),
    ("monomial", 1, 3, GL30, 15.0),
    ("monomial", 2, 1, sphere_product(8, 16), 10.0),
    ("monomial", 2, 2, sphere_product(8, 16), 8.0),
])
def test_sobol_constraints_moments_newton(kind, dim, N, quad, M):
    basis = make_basis(kind, dim, N)
    tau = 1e-5
    ds = sampling.sample_sobol(basis, quad, 1000, M, tau, seed=3)
    assert ds.count == 1000
    assert np.all(np.linalg.norm(ds.alpha[:, 1:], axis=1) < M)
    assert np.all(sampling.hessian_min_eig(ds.alpha, basis, quad) > tau)
    np.testing.assert_allclose(ds.u[:, 0], 1.0, rtol=1e-13)
    check_consistent(ds, basis, quad)
    newton_recovers(ds, basis, quad, subset=200)


def test_sobol_reproducible_and_seeded():
    basis = make_basis("monomial", 1, 2)
    a = sampling.sample_sobol(basis, GL30, 500, 20.0, 1e-7, seed=7)
    b = sampling.sample_sobol(basis, GL30, 500, 20.0, 1e-7, seed=7)
    c = sampling.sample_sobol(basis, GL30, 500, 20.0, 1e-7, seed=8)
    np.testing.assert_array_equal(a.alpha, b.alpha)
    np.testing.assert_array_equal(a.u, b.u)
    assert not np.allclose(a.alpha, c.alpha)
    # the eigenvalue bound removes the near-boundary multipliers: a bigger τ keeps fewer of the draws
    strict = sampling.sample_sobol(basis, GL30, 500, 20.0, 1e-3, seed=7)
    assert strict.attrs["draws"] >= a.attrs["draws"]
    assert sampling.hessian_min_eig(strict.alpha, basis, GL30).min() > 1e-3


def test_sobol_gives_up_with_clear_error():
    basis = make_basis("monomial", 1, 1)
    with pytest.raises(InputError, match="raise max_norm or lower tau"):
        sampling.sample_sobol(basis, GL30, 10, 5.0, tau=10.0, max_draws=1 << 15)


# --- test sets with varying u0 ------------------------------------------------------------------------
def test_vary_u0_scales_consistently():
    basis = make_basis("legendre", 1, 1)
    base = sampling.sample_grid(basis, GL30, 41)
    w0 = sampling.w0_grid(5)
    assert w0[0] == 1e-8 and w0[-1] == 8.0 and sampling.w0_grid().size == 160
    ds = sampling.vary_u0(base, w0)
    assert ds.count == 5 * 41
    np.testing.assert_allclose(ds.u[:, 0], np.repeat(w0, 41), rtol=1e-14)
    u, h = direct_moments(ds.alpha, basis, GL30)
    np.testing.assert_allclose(ds.u / ds.u[:, :1], u / ds.u[:, :1], rtol=0, atol=1e-13)
    np.testing.assert_allclose(ds.h, h, rtol=1e-11, atol=1e-12 * np.abs(h).max())
    h_dual = np.einsum("ij,ij->i", ds.alpha, ds.u) - ds.u[:, 0]  # h = α·u − u0
    np.testing.assert_allclose(ds.h, h_dual, rtol=1e-11, atol=1e-14)
    newton_recovers(ds, basis, GL30, subset=100)
    with pytest.raises(InputError):
        sampling.vary_u0(base, [1.0, 0.0])


# --- HDF5 datasets -------------------------------------------------------------------------------------
def test_dataset_roundtrip_and_validation(tmp_path):
    basis = make_basis("monomial", 1, 2)
    ds = sampling.sample_sobol(basis, GL30, 200, 20.0, 1e-7, seed=1)
    path = datasets.save(tmp_path / "d.h5", ds)
    back = datasets.load(path, basis)
    for name in ("alpha", "u", "h"):
        np.testing.assert_array_equal(getattr(back, name), getattr(ds, name))
    for key in ("sampler", "max_norm", "tau", "seed", "count", "basis_kind", "basis_dim", "basis_N",
                "quadrature", "quadrature_size"):
        assert back.attrs[key] == ds.attrs[key], key
    assert back.attrs["hpcclose_version"] and back.attrs["format"] == datasets.FORMAT
    assert not list(tmp_path.glob(".*tmp*"))  # the temporary name is gone
    with pytest.raises(InputError, match=r"basis_N is 2, expected 1"):
        datasets.load(path, make_basis("monomial", 1, 1))
    with pytest.raises(InputError, match=r"basis_kind is 'monomial', expected 'legendre'"):
        datasets.load(path, make_basis("legendre", 1, 2))
    with pytest.raises(InputError, match=r"basis_dim is 1, expected 2"):
        datasets.load(path, make_basis("monomial", 2, 2))
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["x"] = 1.0
    with pytest.raises(InputError, match="not an hpcclose dataset"):
        datasets.load(tmp_path / "other.h5")
    with pytest.raises(InputError, match="cannot open"):
        datasets.load(tmp_path / "missing.h5")


# --- the `sample` command ------------------------------------------------------------------------------
def run_cli(argv):
    from hpcclose.cli import sample

    parser = argparse.ArgumentParser()
    sample.add_arguments(parser)
    return sample.main(parser.parse_args(argv))


def test_cli_sobol_and_grid(tmp_path, capsys):
    out = tmp_path / "s.h5"
    assert run_cli(["--basis", "monomial", "--dim", "1", "--order", "2", "--quadrature", "30", "--sampler",
                    "sobol", "--count", "300", "--max-norm", "20", "--tau", "1e-7", "--seed", "0",
                    "-o", str(out)]) == 0
    assert f"wrote {out}: 300 samples (sobol" in capsys.readouterr().out
    ds = datasets.load(out, make_basis("monomial", 1, 2))
    assert ds.attrs["seed"] == 0 and ds.attrs["quadrature"] == "gauss_legendre(30)"
    out = tmp_path / "g.h5"
    assert run_cli(["--basis", "legendre", "--order", "2", "--sampler", "grid", "--size", "10", "5",
                    "--bounds", "-10", "10", "--vary-u0", "3", "-o", str(out)]) == 0
    assert "150 samples" in capsys.readouterr().out
    ds = datasets.load(out, make_basis("legendre", 1, 2))
    assert list(ds.attrs["bounds"]) == [-10, 10] and len(ds.attrs["w0"]) == 3


@pytest.mark.parametrize("argv, message", [
    (["--dim", "2", "--quadrature", "30"], "--quadrature needs 2"),
    (["--basis", "legendre", "--dim", "2"], "Legendre basis is 1D"),
    (["--order", "2", "--sampler", "grid", "--size", "3", "3", "3"], "--size needs 1 or 2"),
    (["--count", "0"], "count ≥ 1"),
])
def test_cli_validation(tmp_path, argv, message):
    with pytest.raises(InputError, match=message):
        run_cli([*argv, "-o", str(tmp_path / "x.h5")])
