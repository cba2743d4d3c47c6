"""Network closures: Numba vs TensorFlow backends, exact gradients, convexity, model files, registry.

Random weights are enough for everything here (training is tested in test_neural_training.py).
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from hpcclose.closures.neural import export
from hpcclose.closures.neural.closure import ICNNClosure, MLPClosure, MonotoneClosure
from hpcclose.closures.neural.cpu import CpuNetwork
from hpcclose.closures.neural.layout import plan, random_network
from hpcclose.errors import InputError, RealizabilityError
from hpcclose.kernels.fastmath import log1p_unit, safe_exp, softplus_sigmoid
from hpcclose.training.convexity import dense_test_set, derivatives, report
from hpcclose.velocity import gauss_legendre, make_basis, sphere_product

HAVE_TF = importlib.util.find_spec("tensorflow") is not None
needs_tf = pytest.mark.skipif(not HAVE_TF, reason="TensorFlow not installed")

M2 = (make_basis("monomial", 1, 2), gauss_legendre(30))
P2 = (make_basis("legendre", 1, 2), gauss_legendre(10))
S2D = (make_basis("monomial", 2, 1), sphere_product(8, 16))


def moments_1d_m2(count: int, seed: int = 0, kind: str = "monomial") -> np.ndarray:
    """Realizable 1D M2 moments with u0 in [0.1, 5] (monomial or Legendre components)."""
    rng = np.random.default_rng(seed)
    w1 = rng.uniform(-0.95, 0.95, count)
    w2 = w1**2 + (1 - w1**2) * rng.uniform(0.02, 0.98, count)
    u0 = rng.uniform(0.1, 5.0, count)
    if kind == "legendre":
        w2 = 1.5 * w2 - 0.5
    return np.stack([u0, u0 * w1, u0 * w2], axis=1)


def moments_2d_m1(count: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    r = 0.95 * np.sqrt(rng.uniform(0, 1, count))
    phi = rng.uniform(0, 2 * np.pi, count)
    u0 = rng.uniform(0.1, 5.0, count)
    return np.stack([u0, u0 * r * np.cos(phi), u0 * r * np.sin(phi)], axis=1)


def rel(a, b):
    return np.max(np.abs(a - b) / np.maximum(1.0, np.abs(b)))


@pytest.fixture(scope="module")
def model_files(tmp_path_factory):
    """Random-weight model files: (arch, symmetric, basis/quad) → path."""
    d = tmp_path_factory.mktemp("models")
    files = {}
    for arch, sym, (basis, quad), w, dep in (("icnn", False, M2, 15, 7), ("mlp", True, P2, 12, 3),
                                            ("monotone", False, M2, 12, 2), ("icnn", False, S2D, 10, 3),
                                            ("mlp", True, S2D, 10, 2)):
        net = random_network(arch, basis, w, dep, seed=3, symmetric=sym, quadrature=quad.name)
        files[(arch, basis.kind, basis.dim)] = export.save(d / f"{arch}_{basis.kind}_{basis.dim}d.h5", net)
    return files


# --- scalar building blocks ----------------------------------------------------------------------------
def test_softplus_sigmoid_accuracy():
    a = np.concatenate([np.linspace(-750, 750, 30001), np.linspace(-3, 3, 20001), [0.0, -0.0, 1e-300]])
    pairs = np.array([softplus_sigmoid(x, safe_exp(-abs(x))) for x in a])
    sp, sg = pairs[:, 0], pairs[:, 1]
    ref_sp = np.logaddexp(0.0, a)
    ref_sg = 0.5 * (1.0 + np.tanh(0.5 * a))
    assert np.max(np.abs(sp - ref_sp) / np.maximum(1.0, ref_sp)) < 4e-16
    assert np.max(np.abs(sg - ref_sg)) < 4e-16
    e = np.linspace(0.0, 1.0, 100001)
    assert np.max(np.abs(np.array([log1p_unit(x) for x in e]) - np.log1p(e))) < 3e-16


# --- layouts ---------------------------------------------------------------------------------------------
def test_mlp_parameter_count_matches_paper():
    """[A] 3.2.2: D W² + (n + D + 1) W + 1 parameters."""
    basis = make_basis("legendre", 1, 2)
    for D, W in ((4, 45), (5, 30), (2, 10)):
        net = random_network("mlp", basis, W, D)
        assert net.parameter_count() == D * W**2 + (basis.n + D + 1) * W + 1
        assert net.name == f"NN{D}x{W}_2"
    layers = plan("icnn", 2, 15, 7)
    assert [u for u, *_ in layers] == [15] * 8 + [8, 1]
    assert all(nonneg for *_, nonneg in layers[1:]) and not layers[0][4]


# --- the Numba backend against an independent numpy evaluation ---------------------------------------------
@pytest.mark.parametrize("arch,sym,bq", [("icnn", False, M2), ("mlp", True, P2), ("mlp", False, S2D),
                                         ("icnn", True, S2D)])
def test_cpu_gradient_is_exact(arch, sym, bq):
    basis, quad = bq
    net = random_network(arch, basis, 9, 3, seed=1, symmetric=sym)
    u = moments_2d_m1(300) if basis.dim == 2 else moments_1d_m2(300, kind=basis.kind)
    omega = u[:, 1:] / u[:, :1]
    alpha, h = CpuNetwork(net, basis, quad).evaluate(u, "gradient")
    h_ref, g_ref, H = derivatives(net, omega)
    assert rel(h, h_ref) < 1e-13 and rel(alpha[:, 1:], g_ref) < 1e-13
    # gradient and Hessian against central differences of the numpy forward pass
    eps = 1e-6
    for j in range(basis.n - 1):
        e = np.zeros(basis.n - 1)
        e[j] = eps
        hp, gp, _ = derivatives(net, omega + e, hessian=False)
        hm, gm, _ = derivatives(net, omega - e, hessian=False)
        assert rel((hp - hm) / (2 * eps), g_ref[:, j]) < 1e-7
        assert rel((gp - gm) / (2 * eps), H[:, j, :]) < 1e-6
    # α0 conventions (SCIENCE.md §3)
    u0 = u[:, 0]
    assert rel(alpha[:, 0], h - np.sum(omega * alpha[:, 1:], axis=1) + 1 + np.log(u0)) < 1e-13
    alpha_n, _ = CpuNetwork(net, basis, quad).evaluate(u, "normalisation")
    m = basis.evaluate(quad)
    G = np.exp(alpha_n @ m.T) @ quad.weights
    assert np.max(np.abs(G / u0 - 1.0)) < 1e-13
    assert np.array_equal(alpha_n[:, 1:], alpha[:, 1:])


def test_cpu_monotone_matches_numpy():
    basis, quad = M2
    net = random_network("monotone", basis, 12, 2, seed=4, symmetric=True)
    u = moments_1d_m2(500)
    alpha, h = CpuNetwork(net, basis, quad).evaluate(u, "normalisation")
    _, at, _ = derivatives(net, u[:, 1:] / u[:, :1], hessian=False)
    assert rel(alpha[:, 1:], at) < 1e-13


def test_cpu_batch_sizes_and_chunk_edges():
    """Results do not depend on how the cells fall into chunks (sizes around multiples of CHUNK)."""
    basis, quad = M2
    net = random_network("icnn", basis, 7, 2, seed=2)
    cpu = CpuNetwork(net, basis, quad)
    u = moments_1d_m2(300)
    full, _ = cpu.evaluate(u, "normalisation")
    for n in (0, 1, 63, 64, 65, 129):
        a, h = cpu.evaluate(u[:n], "normalisation")
        assert a.shape == (n, 3) and h.shape == (n,)
        assert np.array_equal(a, full[:n])


# --- TensorFlow backend agrees with Numba to 1e−12 (float64) ----------------------------------------------
@pytest.mark.slow
@needs_tf
@pytest.mark.parametrize("key", [("icnn", "monomial", 1), ("mlp", "legendre", 1), ("monotone", "monomial", 1),
                                 ("icnn", "monomial", 2), ("mlp", "monomial", 2)])
def test_cpu_and_gpu_backends_agree(model_files, key):
    arch, kind, dim = key
    basis, quad = {("monomial", 1): M2, ("legendre", 1): P2, ("monomial", 2): S2D}[(kind, dim)]
    cls = {"icnn": ICNNClosure, "mlp": MLPClosure, "monotone": MonotoneClosure}[arch]
    u = moments_2d_m1(700, seed=5) if dim == 2 else moments_1d_m2(700, seed=5, kind=kind)
    modes = ("gradient", "normalisation") if arch != "monotone" else ("normalisation",)
    for mode in modes:
        a_cpu, _ = cls(basis, quad, model=str(model_files[key]), backend="cpu", alpha0=mode).multipliers(u)
        a_gpu, _ = cls(basis, quad, model=str(model_files[key]), backend="gpu", alpha0=mode).multipliers(u)
        assert rel(a_gpu, a_cpu) < 1e-12, (arch, mode, rel(a_gpu, a_cpu))


# --- convexity ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("bq,seed", [(M2, 0), (M2, 1), (S2D, 2)])
def test_icnn_is_convex_by_construction(bq, seed):
    basis, quad = bq
    net = random_network("icnn", basis, 15, 7, seed=seed, input_scale=3.0)
    rng = np.random.default_rng(seed)
    omega = rng.uniform(-3.0, 3.0, (4000, basis.n - 1))  # far outside the realizable set too
    _, _, H = derivatives(net, omega)
    ev = np.linalg.eigvalsh(H)
    assert ev.min() >= -1e-10 * max(1.0, ev.max())
    # an MLP with random weights is not convex: the check must be able to say so
    mlp = random_network("mlp", basis, 15, 3, seed=seed)
    _, _, Hm = derivatives(mlp, omega)
    assert np.linalg.eigvalsh(Hm)[:, 0].min() < -1e-6


@needs_tf
def test_icnn_hessian_matches_autodiff():
    from hpcclose.closures.neural import models

    tf = models.tf
    basis, quad = M2
    net = random_network("icnn", basis, 8, 3, seed=7)
    model = models.from_network(net)
    omega = tf.constant(np.random.default_rng(0).uniform(-0.5, 0.5, (50, 2)) + [0.0, 0.5])
    with tf.GradientTape() as t2:
        t2.watch(omega)
        with tf.GradientTape() as t1:
            t1.watch(omega)
            h = model(omega)
        g = t1.gradient(h, omega)
    H_tf = t2.batch_jacobian(g, omega).numpy()
    _, g_np, H_np = derivatives(net, omega.numpy())
    assert rel(g.numpy(), g_np) < 1e-13 and rel(H_tf, H_np) < 1e-12


def test_convexity_report_on_dense_grid():
    basis, quad = M2
    net = random_network("icnn", basis, 10, 3, seed=1)
    rng = np.random.default_rng(0)
    w1 = rng.uniform(-0.9, 0.9, 500)
    train = np.stack([w1, w1**2 + (1 - w1**2) * rng.uniform(0.05, 0.95, 500)], axis=1)
    pts = dense_test_set(basis, train, max_points=5000)
    assert 500 < pts.shape[0] <= 5000
    assert np.all(basis.realizability_margin(np.concatenate([np.ones((len(pts), 1)), pts], 1)) > 0)
    rep = report(net, pts)
    assert rep["convex"] and rep["points"] == pts.shape[0] and rep["min_eigenvalue"] >= -1e-10


def test_dense_set_in_many_dimensions_lies_between_training_points():
    """2D M3 in the reduced frame has 8 inputs: a grid of its data's box would hold no realizable point,
    so the dense set is drawn on segments between training points (realizable: the set is convex)."""
    from hpcclose.closures.neural.rotation import rotation
    from hpcclose.data.reduced_sampling import sample_sobol_reduced

    basis, quad = make_basis("monomial", 2, 3), sphere_product(8, 24)
    frame = rotation(basis)
    u = sample_sobol_reduced(basis, quad, 300, 6.0, 1e-5, seed=1).u  # already in the reduced frame
    train = (u[:, 1:] / u[:, :1])[:, list(frame.keep)]
    pts = dense_test_set(basis, train, max_points=2000, frame=frame)
    assert pts.shape[1] == 8 and 500 < pts.shape[0] <= 2000
    full = np.concatenate([np.ones((len(pts), 1)), frame.expand(pts)], axis=1)
    assert np.all(basis.realizability_margin(full) > 1e-3)
    # every point is in the data's hull: on a segment between two of them (so inside their bounding box)
    assert np.all(pts >= train.min(axis=0) - 1e-12) and np.all(pts <= train.max(axis=0) + 1e-12)


# --- model files --------------------------------------------------------------------------------
@pytest.mark.parametrize("arch", ["icnn", "mlp", "monotone"])
def test_export_load_round_trip_gives_identical_alpha(tmp_path, arch):
    basis, quad = M2
    net = random_network(arch, basis, 11, 2, seed=9, symmetric=arch == "mlp", quadrature=quad.name)
    net.meta = {"training": {"data": {"sampler": "sobol", "count": 10}, "epochs_run": 3},
                "test_errors": {"validation": {"mse_h": 1e-5}}, "convexity": {"convex": True}}
    path = export.save(tmp_path / "m.h5", net)
    back = export.load(path, basis=basis, quad=quad)
    u = moments_1d_m2(257)
    mode = net.alpha0
    a1, h1 = CpuNetwork(net, basis, quad).evaluate(u, mode)
    a2, h2 = CpuNetwork(back, basis, quad).evaluate(u, mode)
    assert np.array_equal(a1, a2) and np.array_equal(h1, h2)
    assert (back.architecture, back.basis_kind, back.basis_dim, back.basis_N, back.alpha0, back.name) == \
        (arch, "monomial", 1, 2, mode, net.name)
    assert back.quadrature == quad.name and back.symmetric == (arch == "mlp")
    assert back.meta["training"]["data"]["sampler"] == "sobol"
    assert back.meta["test_errors"]["validation"]["mse_h"] == 1e-5
    assert back.meta["hpcclose_version"]
    assert not list(tmp_path.glob(".*tmp*"))  # no temporary file left behind


@pytest.mark.parametrize("run_basis,words", [
    (make_basis("monomial", 1, 1), ["moment order N 2", "N=1"]),
    (make_basis("legendre", 1, 2), ["basis 'monomial'", "'legendre'"]),
    (make_basis("monomial", 2, 2), ["dimension 1", "2D"]),
])
def test_model_for_wrong_basis_is_refused(model_files, run_basis, words):
    path = str(model_files[("icnn", "monomial", 1)])
    quad = gauss_legendre(30) if run_basis.dim == 1 else sphere_product(8, 16)
    with pytest.raises(InputError) as exc:
        ICNNClosure(run_basis, quad, model=path)
    msg = str(exc.value)
    assert path in msg and "trained for" in msg
    for w in words:
        assert w in msg, msg


def test_model_file_errors(tmp_path, model_files):
    basis, quad = M2
    with pytest.raises(InputError, match="no such file and no shipped model"):
        ICNNClosure(basis, quad, model=str(tmp_path / "missing.h5"))
    with pytest.raises(InputError, match="model: required"):
        ICNNClosure(basis, quad)
    import h5py

    with h5py.File(tmp_path / "other.h5", "w") as f:
        f.attrs["format"] = "something-else"
    with pytest.raises(InputError, match="not an hpcclose network file"):
        ICNNClosure(basis, quad, model=str(tmp_path / "other.h5"))
    with pytest.raises(InputError, match="is a 'monotone' network; use closure 'monotone'"):
        ICNNClosure(basis, quad, model=str(model_files[("monotone", "monomial", 1)]))
    with pytest.raises(InputError, match="'gradient' needs an entropy network"):
        MonotoneClosure(basis, quad, model=str(model_files[("monotone", "monomial", 1)]), alpha0="gradient")
    with pytest.raises(InputError, match="closure.icnn.backend: Input should be .cpu. or .gpu."):
        ICNNClosure(basis, quad, model=str(model_files[("icnn", "monomial", 1)]), backend="tpu")


# --- the closures --------------------------------------------------------------------------------
def test_registered_and_created_by_name(model_files):
    from hpcclose.closures import get_closure
    from hpcclose.closures.base import Closure

    for name in ("icnn", "mlp", "monotone", "hybrid"):
        import hpcclose.closures.hybrid  # noqa: F401  (registers "hybrid" even before base lists it)

        assert name in Closure.registry
    basis, quad = M2
    c = get_closure("icnn", basis, quad, model=str(model_files[("icnn", "monomial", 1)]))
    assert isinstance(c, ICNNClosure) and c.alpha0 == "normalisation" and c.backend == "cpu"
    with pytest.raises(InputError, match="closure.icnn.tol: unknown key"):
        get_closure("icnn", basis, quad, model=str(model_files[("icnn", "monomial", 1)]), tol=1.0)


def test_closure_call_conventions(model_files):
    basis, quad = M2
    c = ICNNClosure(basis, quad, model=str(model_files[("icnn", "monomial", 1)]))
    u = moments_1d_m2(40)
    alpha, stats = c.multipliers(u, alpha0=np.zeros_like(u))  # warm start ignored
    assert alpha.shape == u.shape and stats.ncells == 40 and stats.ok and stats.regularised.size == 0
    a1, _ = c.multipliers(u[3])
    assert a1.shape == (3,) and np.array_equal(a1, alpha[3])
    # scale invariance of the normalisation: α̃ depends on ω̃ only, α0 shifts by log u0
    a2, _ = c.multipliers(2.0 * u)
    assert np.allclose(a2[:, 1:], alpha[:, 1:], rtol=0, atol=1e-14)
    assert np.allclose(a2[:, 0], alpha[:, 0] + np.log(2.0), rtol=0, atol=1e-13)
    # entropy: h_a(u) = u0 h̃(ω̃) + u0 log u0 [A eq. 33], so h_a(2u) = 2 h_a(u) + 2u0 log 2
    h = c.entropy(u)
    assert np.allclose(c.entropy(2 * u), 2 * h + 2 * u[:, 0] * np.log(2.0), rtol=1e-13, atol=1e-13)
    bad = u.copy()
    bad[5, 0] = -1.0
    bad[7, 1] = np.nan
    with pytest.raises(RealizabilityError, match="2 moment vector"):
        c.multipliers(bad)
