"""Rotations about Ωz on 2D moments (closures/neural/rotation.py) and the rotation-invariant network closures:
the representation, the reduced frame, α_y from the invariance, and closures that commute with rotations."""

from __future__ import annotations

import numpy as np
import pytest

from hpcclose.closures import get_closure
from hpcclose.closures.neural import export
from hpcclose.closures.neural.layout import random_network
from hpcclose.closures.neural.rotation import distinct_nodes, representation, rotated_rule, rotation
from hpcclose.closures.newton import NewtonClosure
from hpcclose.velocity import make_basis, sphere_product
from hpcclose.velocity.ansatz import complete

BASES = [(kind, N) for kind in ("monomial", "spherical_harmonics") for N in (1, 2, 3, 4)]


@pytest.mark.parametrize("kind, N", BASES)
def test_representation_is_the_basis_turned(kind, N):
    """m(R_θ Ω) = D(θ) m(Ω) at nodes the fit never saw; D(a) D(b) = D(a + b); the Fourier form equals the fit;
    the harmonics' D is orthogonal, block-diagonal by degree, m0 fixed."""
    basis = make_basis(kind, 2, N)
    rot = rotation(basis)
    quad = sphere_product(7, 11)
    for a, b in ((0.3, 1.9), (-2.2, 0.05)):
        D = representation(basis, a)
        np.testing.assert_allclose(basis.evaluate(rotated_rule(quad, a)), basis.evaluate(quad) @ D.T, atol=1e-13)
        np.testing.assert_allclose(D @ representation(basis, b), representation(basis, a + b), atol=1e-13)
        np.testing.assert_allclose(rot.matrices(np.cos(a), np.sin(a))[0], D[1:, 1:], atol=1e-13)
        assert abs(D[0, 0] - 1.0) < 1e-14 and not D[0, 1:].any() and not D[1:, 0].any()
        if kind == "spherical_harmonics":
            np.testing.assert_allclose(D @ D.T, np.eye(basis.n), atol=1e-13)


@pytest.mark.parametrize("kind, N", BASES)
def test_reduced_frame_is_rotation_invariant(kind, N):
    """v = D̃(−θ) ω̃ has v_y = 0 and v_x ≥ 0, and the same v comes out of every turned copy of ω̃."""
    basis = make_basis(kind, 2, N)
    rot = rotation(basis)
    rng = np.random.default_rng(N)
    u = complete(rng.normal(size=(50, basis.n - 1)), basis, sphere_product(8, 16)).u
    _, _, v = rot.reduce(u[:, 1:])
    assert np.all(v[:, rot.y] == 0.0) and np.all(v[:, rot.x] * rot.scale[0] >= 0)
    for theta in (0.7, -2.9, np.pi):
        _, _, vt = rot.reduce(rot.turn(theta, u)[:, 1:])
        np.testing.assert_allclose(vt, v, atol=1e-14)
    np.testing.assert_array_equal(rot.expand(v[:, rot.keep]), v)


@pytest.mark.parametrize("kind, N", [("monomial", 2), ("monomial", 3), ("spherical_harmonics", 2)])
def test_alpha_y_of_the_exact_entropy_follows_from_invariance(kind, N):
    """The exact closure under a rule fine in φ (invariant to round-off): α_y in the reduced frame is what
    ∇h·G v = 0 gives from the other components, and turning back gives the closure of the original moments."""
    basis = make_basis(kind, 2, N)
    rot = rotation(basis)
    quad = sphere_product(12, 64)
    at = np.random.default_rng(5).normal(size=(20, basis.n - 1))
    data = complete(at, basis, quad)
    c, s, v = rot.reduce(data.u[:, 1:])
    newton = NewtonClosure(basis, quad, tol=1e-13, check=False)
    alpha_v, _ = newton.multipliers(np.concatenate([np.ones((20, 1)), v], axis=1))
    completed = rot.complete_alpha(v, np.delete(alpha_v[:, 1:], rot.y, axis=1))
    np.testing.assert_allclose(completed, alpha_v[:, 1:], atol=1e-9)
    np.testing.assert_allclose(rot.to_frame(c, s, completed), at, atol=1e-9)


def test_distinct_nodes_merge_the_mirrored_half():
    basis = make_basis("monomial", 2, 2)
    quad = sphere_product(10, 40)
    m, w = distinct_nodes(basis.evaluate(quad), quad.weights)
    assert m.shape == (200, 6) and abs(w.sum() - 4 * np.pi) < 1e-12
    g = np.random.default_rng(0).normal(size=6)
    assert abs(np.exp(m @ g) @ w - np.exp(basis.evaluate(quad) @ g) @ quad.weights) < 1e-12


def _rotation_closure(arch: str, basis, quad, tmp_path, alpha0: str, symmetric: bool = True):
    net = random_network(arch, basis, 12, 2, seed=3, symmetric=symmetric, rotation=True, quadrature=quad.name)
    path = export.save(tmp_path / f"{arch}.h5", net)
    assert export.load(path).rotation == "first_moment" and export.load(path).n == basis.n
    return get_closure(arch, basis, quad, model=str(path), alpha0=alpha0)


@pytest.mark.parametrize("arch, alpha0", [("icnn", "gradient"), ("icnn", "normalisation"), ("mlp", "gradient"),
                                          ("monotone", "normalisation")])
@pytest.mark.parametrize("kind", ["monomial", "spherical_harmonics"])
def test_rotation_network_closure_commutes_with_rotations(arch, alpha0, kind, tmp_path):
    """α(D u) = D⁻ᵀ α(u) and h(D u) = h(u) to round-off: α̃ and the network entropy for any angle; α0 by
    normalisation (and the monotone network's entropy, which follows from it) for the turns of the rule's
    own symmetry, since the rule is invariant under those only."""
    basis = make_basis(kind, 2, 2)
    quad = sphere_product(6, 16)
    rot = rotation(basis)
    closure = _rotation_closure(arch, basis, quad, tmp_path, alpha0)
    rng = np.random.default_rng(11)
    u = complete(rng.normal(size=(300, basis.n - 1)), basis, quad).u * rng.uniform(0.01, 5.0, (300, 1))
    alpha, _ = closure.multipliers(u)
    h = closure.entropy(u)
    for theta in (0.4, -2.5, 2 * np.pi * 3 / 16):
        turned, expected = rot.turn(theta, u, alpha)
        got, _ = closure.multipliers(turned)
        scale = np.abs(alpha).max()
        np.testing.assert_allclose(got[:, 1:], expected[:, 1:], rtol=0, atol=1e-12 * scale)
        exact = alpha0 == "gradient" or theta == 2 * np.pi * 3 / 16
        if exact:
            np.testing.assert_allclose(got[:, 0], expected[:, 0], rtol=0, atol=1e-12 * scale)
        if exact or arch != "monotone":
            np.testing.assert_allclose(closure.entropy(turned), h, rtol=0, atol=1e-12 * np.abs(h).max())


def test_reflection_y_network_gives_no_alpha_y_to_states_symmetric_about_their_first_moment(tmp_path):
    """symmetric = "y" (the monotone network's: Ωy → −Ωy only, which keeps v_x ≥ 0): the network averages two
    sign patterns, still commutes with rotations, and for densities symmetric about their first moment's axis
    (the line source's) gives α_xy = 0 in the reduced frame, so the completed α_y is 0 (to the round-off of
    the states' symmetry over the first moment) — where the unsymmetrised network's α_y is its own α_xy over
    the first moment, which grows without bound as the first moment vanishes."""
    from hpcclose.closures.neural.rotation import reduced_signs
    from hpcclose.training import config

    basis = make_basis("monomial", 2, 2)
    quad = sphere_product(6, 16)
    rot = rotation(basis)
    odd_y = basis.flips[1, 1:] < 0  # components of ω̃ odd in Ωy: y and xy
    np.testing.assert_array_equal(reduced_signs(basis, "y"), [np.ones(4), np.where(odd_y[rot.keep], -1.0, 1.0)])
    # states symmetric in Ωy in the reduced frame (α_y = α_xy = 0), first moments from 0.3 down to ~1e-9
    rng = np.random.default_rng(5)
    at = np.zeros((40, basis.n - 1))
    at[:, ~odd_y] = rng.normal(0.0, 1.0, (40, np.count_nonzero(~odd_y)))
    at[:, rot.x] = np.logspace(-0.5, -9, 40)
    u = complete(at, basis, quad).u
    alpha_y, turned_y = {}, {}
    odd = 1 + np.flatnonzero(odd_y)
    for sym in ("y", False):
        closure = _rotation_closure("monotone", basis, quad, tmp_path, "normalisation", symmetric=sym)
        ref, _ = closure.multipliers(u)
        alpha_y[sym] = np.abs(ref[:, odd]).max(axis=1)
        theta = 0.7  # turned away from the reduced frame, and back: the same multipliers
        got, _ = closure.multipliers(rot.turn(theta, u))
        _, back = rot.turn(-theta, rot.turn(theta, u), got)
        turned_y[sym] = np.abs(back[:, odd]).max(axis=1)
        big = at[:, rot.x] > 1e-3  # below, the turned state's α_y is v_xy's round-off over v_x: it grows
        np.testing.assert_allclose(back[big, 1:], ref[big, 1:], rtol=0, atol=1e-12 * np.abs(ref).max())
    # the symmetrised network's α_y is the round-off of the states' symmetry (u_xy, u_y ~ 1e−17) over v_x,
    # the other's its own α_xy over v_x
    for got in (alpha_y, turned_y):
        assert got["y"][big].max() < 1e-9 and got[False][-1] > 1e3 and np.all(got["y"] < 1e-4 * got[False])
    with pytest.raises(Exception, match="symmetric = 'y'.*needs rotation = true"):
        config.parse('[model]\nkind = "monotone"\nwidth = 4\ndepth = 1\nsymmetric = "y"\n[velocity]\ndim = 2\n'
                     'order = 2\nquadrature = [4, 8]\n[data]\nsampler = "sobol"\ncount = 10\nmax_norm = 3.0\n'
                     'tau = 1e-6\n[output]\nmodel = "m.h5"\n')


def test_rotation_network_alpha_is_the_gradient_of_its_entropy(tmp_path):
    """α (gradient convention) is ∇h_a of the rotation-invariant extension in every direction, the y one
    (α_y from the invariance) included: central differences of closure.entropy."""
    basis = make_basis("monomial", 2, 2)
    quad = sphere_product(6, 16)
    closure = _rotation_closure("icnn", basis, quad, tmp_path, "gradient")
    u = complete(np.random.default_rng(2).normal(size=(20, basis.n - 1)), basis, quad).u
    alpha, _ = closure.multipliers(u)
    eps = 1e-6
    for k in range(basis.n):
        e = np.zeros(basis.n)
        e[k] = eps
        fd = (closure.entropy(u + e) - closure.entropy(u - e)) / (2 * eps)
        np.testing.assert_allclose(fd, alpha[:, k], rtol=0, atol=2e-7 * max(1.0, np.abs(alpha).max()))


def test_rotation_network_backends_agree(tmp_path):
    """The TensorFlow backend turns the same way (reduced network on TF, α0 by the shared kernel)."""
    pytest.importorskip("tensorflow")
    basis = make_basis("monomial", 2, 2)
    quad = sphere_product(6, 16)
    net = random_network("icnn", basis, 12, 2, seed=3, symmetric=True, rotation=True, quadrature=quad.name)
    path = export.save(tmp_path / "icnn.h5", net)
    u = complete(np.random.default_rng(4).normal(size=(64, basis.n - 1)), basis, quad).u
    for alpha0 in ("gradient", "normalisation"):
        a_cpu, _ = get_closure("icnn", basis, quad, model=str(path), alpha0=alpha0).multipliers(u)
        a_tf, _ = get_closure("icnn", basis, quad, model=str(path), alpha0=alpha0, backend="gpu").multipliers(u)
        np.testing.assert_allclose(a_tf, a_cpu, rtol=0, atol=1e-12)


def test_rotation_network_refused_for_another_basis(tmp_path):
    basis = make_basis("monomial", 2, 2)
    path = export.save(tmp_path / "icnn.h5", random_network("icnn", basis, 8, 1, rotation=True))
    with pytest.raises(Exception, match="moment order N"):
        get_closure("icnn", make_basis("monomial", 2, 1), sphere_product(6, 16), model=str(path))
