"""Training of network closures (TensorFlow on the CPU): tiny networks, a few epochs, losses fall."""

from __future__ import annotations

import argparse
import importlib.util
import json

import numpy as np
import pytest

from hpcclose.errors import InputError
from hpcclose.training import config

pytestmark = pytest.mark.skipif(importlib.util.find_spec("tensorflow") is None,
                                reason="TensorFlow not installed")

BASE = """
[model]
kind = "{kind}"
width = {width}
depth = {depth}
{model_extra}

[velocity]
basis = "{basis}"
dim = 1
order = 2
quadrature = 16

[data]
{data}

[training]
epochs = {epochs}
batch_size = 32
learning_rate = {lr}
checkpoint_every = 2

[output]
model = "{out}"
convexity_points = 500
"""

SOBOL = 'sampler = "sobol"\ncount = 600\nmax_norm = 8.0\ntau = 1e-6'


def cfg_text(tmp_path, kind="icnn", width=6, depth=2, basis="monomial", data=SOBOL, epochs=6, lr=1e-2,
             model_extra="", out="m.h5"):
    return BASE.format(kind=kind, width=width, depth=depth, basis=basis, data=data, epochs=epochs, lr=lr,
                       model_extra=model_extra, out=tmp_path / out)


def run_train(tmp_path, text, **kw):
    from hpcclose.training.train import train

    cfg = config.parse(text, str(tmp_path / "train.toml"))
    return train(cfg, progress=False, **kw)


@pytest.mark.slow
def test_icnn_loss_falls_and_model_file_is_usable(tmp_path):
    from hpcclose.closures.neural import export, models
    from hpcclose.training.convexity import derivatives

    res = run_train(tmp_path, cfg_text(tmp_path))
    h = res.history
    assert len(h["loss"]) == 6 and h["val_loss"][-1] < 0.5 * h["val_loss"][0]
    assert h["loss"][-1] < h["loss"][0]
    net = export.load(res.path)
    # the projection keeps the ICNN's z-weights non-negative through training
    assert all(L.Wz is None or L.Wz.min() >= 0.0 for L in net.layers[1:])
    assert res.convexity["convex"] and res.convexity["points"] > 100
    assert net.meta["training"]["status"] == "complete" and net.meta["training"]["epochs_run"] == 6
    assert net.meta["training"]["data"]["sampler"] == "sobol"
    assert net.meta["test_errors"]["validation"]["mse_u"] == pytest.approx(res.test_errors["mse_u"])
    assert (tmp_path / "m.loss.png").stat().st_size > 1000
    assert json.loads((tmp_path / "m.history.json").read_text())["history"]["epoch"] == list(range(1, 7))
    # the exported file is the Keras model: h̃ and α̃ = ∇h̃ by autodiff equal the file's evaluation
    # (the closure backends are checked against the same numpy evaluation in test_neural.py)
    tf = models.tf
    model = models.from_network(net)
    om = np.array([[0.1, 0.3], [-0.5, 0.4], [0.0, 0.9]])
    hh, g = models.entropy_and_gradient(model, tf.constant(om))
    hc, gc, _ = derivatives(net, om, hessian=False)
    assert np.max(np.abs(g.numpy() - gc)) < 1e-12 and np.max(np.abs(hh.numpy() - hc)) < 1e-12


@pytest.mark.slow
def test_symmetric_mlp_with_paper_loss_trains(tmp_path):
    """[A]: symmetric MLP on a uniform α̃ grid, Legendre basis, loss E_h² + λ E_w², α0 by the gradient."""
    data = 'sampler = "grid"\nsize = [20, 15]\nbounds = [-6.0, 6.0]'
    res = run_train(tmp_path, cfg_text(tmp_path, kind="mlp", width=10, depth=2, basis="legendre", data=data,
                                       epochs=8, lr=5e-3, model_extra="symmetric = true"))
    assert res.network.alpha0 == "gradient" and res.network.symmetric
    assert res.network.name == "symNN2x10_2"
    lw = res.network.meta["training"]["loss_weights"]
    assert lw["alpha"] == 0.0 and 0 < lw["u"] < 1  # λ = 1/mean‖w‖²
    assert res.history["val_loss"][-1] < res.history["val_loss"][0]


@pytest.mark.slow
def test_monotone_trains_with_monotonicity_loss(tmp_path):
    res = run_train(tmp_path, cfg_text(tmp_path, kind="monotone", width=8, depth=1, epochs=5, lr=5e-3))
    h = res.history
    assert h["val_loss"][-1] < h["val_loss"][0]
    assert all(np.isfinite(h["val_mono"])) and res.network.architecture == "monotone"
    assert "jacobian" in res.convexity["quantity"]
    # the validation report carries [B]'s units, with the α̃ range of the training set they need
    v = res.network.meta["test_errors"]["validation"]
    lo, hi = v["alpha_range"]
    assert -8.0 <= lo < -4.0 and 4.0 < hi <= 8.0 and v["b_mse_alpha"] > 0  # ‖α̃‖ < 8


def test_paper_units_follow_each_networks_output_scaling():
    """[B] Table 1's units: Keras means over components; an entropy network's h̃ and α̃ in units of the h̃
    range; a monotone network's α̃ scaled to [−1, 1] by the α̃ range and its h̃ unscaled."""
    from hpcclose.training.evaluation import paper_units

    dh = np.array([0.2, -0.2])
    da = np.array([[0.4, 0.0], [0.0, -0.4]])
    du = np.array([[0.1, 0.0], [0.0, 0.1]])
    icnn = paper_units(True, dh, da, du, h_range=2.0, alpha_range=None)
    assert icnn["b_mse_h"] == pytest.approx(0.01) and icnn["b_mse_alpha"] == pytest.approx(0.02)
    assert icnn["b_mse_u"] == pytest.approx(0.005) and icnn["b_mae_alpha"] == pytest.approx(0.1)
    mono = paper_units(False, dh, da, du, h_range=2.0, alpha_range=(-10.0, 10.0))
    assert mono["b_mse_h"] == pytest.approx(0.04) and mono["b_mse_alpha"] == pytest.approx(0.0008)
    assert mono["b_mae_h"] == pytest.approx(0.2) and mono["b_mse_u"] == icnn["b_mse_u"]
    assert paper_units(False, dh, da, du, h_range=2.0, alpha_range=None) == {}


@pytest.mark.slow
def test_early_stopping(tmp_path):
    # a target reached at once stops after the first epoch, and the reason is recorded
    text = cfg_text(tmp_path, epochs=50) + "\n[training.early_stopping]\ntarget = 1e9\n"
    res = run_train(tmp_path, text)
    assert res.epochs_run == 1 and "target" in res.stop_reason
    # no improvement for `patience` epochs (lr = 0: nothing changes)
    text = (cfg_text(tmp_path, epochs=50, lr=1e-30)
            + "\n[training.early_stopping]\npatience = 3\nmin_delta = 1e-3\n")
    res = run_train(tmp_path, text)
    assert res.epochs_run == 4 and "no improvement" in res.stop_reason and res.best_epoch == 1


@pytest.mark.slow
def test_lbfgs_refines_and_a_run_can_be_continued(tmp_path):
    """Full-batch L-BFGS after Adam lowers the loss and keeps the ICNN convex (bounds Wz ≥ 0); a second
    run started from the model file (epochs = 0, L-BFGS only) starts where the first ended."""
    from hpcclose.closures.neural import export

    text = cfg_text(tmp_path, epochs=3).replace("checkpoint_every = 2", "checkpoint_every = 2\nlbfgs_iterations = 30")
    res = run_train(tmp_path, text)
    h = res.history
    assert len(h["epoch"]) == 3 + 1 and h["epoch"][-1] == 3 + 30  # one L-BFGS report at the end
    assert h["val_loss"][-1] < 0.5 * h["val_loss"][2]
    net = export.load(res.path)
    assert all(L.Wz is None or L.Wz.min() >= 0.0 for L in net.layers[1:]) and res.convexity["convex"]
    assert net.meta["training"]["lbfgs"]["iterations"] == 30

    cont = (text.replace("epochs = 3", "epochs = 0").replace("lbfgs_iterations = 30", "lbfgs_iterations = 5")
            .replace(f'"{tmp_path / "m.h5"}"', f'"{tmp_path / "m2.h5"}"')
            .replace("[output]", f'initial_model = "{res.path}"\n\n[output]'))
    res2 = run_train(tmp_path, cont)
    # the continuation starts at the first run's best weights: its best validation loss is no worse
    first, second = net.meta["training"]["lbfgs"], res2.network.meta["training"]["lbfgs"]
    assert second["best"] <= first["best"] * (1 + 1e-9) and res2.network.meta["training"]["overrides"] == []
    assert "no Adam epochs" in res2.summary()
    # a model of another layout is refused, naming the key
    with pytest.raises(InputError, match="training.initial_model.*asks for icnn width 7"):
        run_train(tmp_path, cont.replace("width = 6", "width = 7"))
    with pytest.raises(InputError, match="training.initial_model: model '.*nope.h5': no such file"):
        run_train(tmp_path, cont.replace(str(res.path), str(tmp_path / "nope.h5")))
    # a file of another architecture is refused
    with pytest.raises(InputError, match="training.initial_model.*icnn.*asks for monotone"):
        run_train(tmp_path, cont.replace('kind = "icnn"', 'kind = "monotone"'))


@pytest.mark.slow
def test_monotone_run_is_continued_with_lbfgs_only(tmp_path):
    """A monotone network's file rebuilds the Keras model exactly (batch norms unfolded from their folded
    affine maps), so L-BFGS can continue it; Adam (batch statistics in the norms) is refused."""
    from hpcclose.closures.neural import export, models
    from hpcclose.training.convexity import derivatives

    text = cfg_text(tmp_path, kind="monotone", width=8, depth=1, epochs=3, lr=5e-3).replace(
        "checkpoint_every = 2", "checkpoint_every = 2\nlbfgs_iterations = 10")
    res = run_train(tmp_path, text)
    net = export.load(res.path)
    om = np.array([[0.1, 0.3], [-0.5, 0.4], [0.0, 0.9], [0.7, 0.6]])
    rebuilt = models.from_network(net)(models.tf.constant(om)).numpy()
    assert np.max(np.abs(rebuilt - derivatives(net, om, hessian=False)[1])) < 1e-12
    cont = (text.replace("epochs = 3", "epochs = 0").replace("lbfgs_iterations = 10", "lbfgs_iterations = 5")
            .replace(f'"{tmp_path / "m.h5"}"', f'"{tmp_path / "m2.h5"}"')
            .replace("[output]", f'initial_model = "{res.path}"\n\n[output]'))
    res2 = run_train(tmp_path, cont)
    first, second = net.meta["training"]["lbfgs"], res2.network.meta["training"]["lbfgs"]
    assert second["best"] <= first["best"] * (1 + 1e-9)
    with pytest.raises(InputError, match="monotone network; continue it with training.epochs = 0"):
        run_train(tmp_path, cont.replace("epochs = 0", "epochs = 2"))


@pytest.mark.slow
def test_local_monotonicity_term_is_the_symmetric_jacobians_negative_part(tmp_path):
    """[loss] jacobian: mean ReLU(−λ_min(½(J + Jᵀ))) of J = ∂α*/∂ω̃ by autodiff equals the same number from
    numpy central differences of the exported network (α* = α̃/s); training records it and keeps its weight."""
    from hpcclose.closures.neural import export, models
    from hpcclose.training import losses
    from hpcclose.training.convexity import derivatives
    from hpcclose.training.samples import velocity

    text = (cfg_text(tmp_path, kind="monotone", width=8, depth=1, epochs=3, lr=5e-2)
            .replace("checkpoint_every = 2", "checkpoint_every = 2\nlbfgs_iterations = 3")
            + "\n[loss]\njacobian = 0.5\njacobian_points = 100\njacobian_box_points = 64\n")
    res = run_train(tmp_path, text)
    assert res.network.meta["training"]["loss_weights"]["jacobian"] == 0.5
    assert all(np.isfinite(res.history["val_jacobian"]))
    net = export.load(res.path)
    basis, quad = velocity(config.parse(text))
    loss = losses.Losses(models.from_network(net), basis, quad, "normalisation",
                         losses.Weights(1.0, 1.0, 1.0, 1.0, 0.5), float(net.output_scale))
    rng = np.random.default_rng(3)
    u1 = rng.uniform(-0.9, 0.9, 400)
    om = np.stack([u1, u1**2 + rng.uniform(0.02, 0.98, 400) * (1 - u1**2)], axis=1)
    J = loss.outputs(models.tf.constant(om), jacobian=True)["jacobian"]
    term = float(loss.local_monotonicity(J))
    _, _, H = derivatives(net, om)
    lmin = np.linalg.eigvalsh(0.5 * (H + np.swapaxes(H, 1, 2)))[:, 0] / float(net.output_scale)
    assert term == pytest.approx(np.mean(np.maximum(-lmin, 0.0)), rel=1e-5, abs=1e-9)
    # with a margin m (units of ∇α̃) the term asks λ_min ≥ m/s
    loss.w = losses.Weights(1.0, 1.0, 1.0, 1.0, 0.5, jacobian_margin=0.3)
    term = float(loss.local_monotonicity(J))
    margin = 0.3 / float(net.output_scale)
    assert term == pytest.approx(np.mean(np.maximum(margin - lmin, 0.0)), rel=1e-5)
    loss.w = losses.Weights(1.0, 1.0, 1.0, 1.0, 0.5, jacobian_margin=0.3, jacobian_power=2)
    term = float(loss.local_monotonicity(J))
    assert term == pytest.approx(np.mean(np.maximum(margin - lmin, 0.0) ** 2), rel=1e-5)


@pytest.mark.slow
def test_counterexample_search_adds_the_failing_points_and_keeps_the_fewest(tmp_path):
    """[loss] jacobian_search: before L-BFGS and every jacobian_search_every iterations a grid of the training
    region is searched; λ_min there equals numpy central differences of the exported network; the points
    failing the term (λ_min < margin) join it, worst first, at most jacobian_search_add; the iterate kept is
    the searched one with the fewest negative λ_min (then the lowest validation loss)."""
    from hpcclose.closures.neural import export, models
    from hpcclose.training import counterexamples, losses
    from hpcclose.training.convexity import derivatives, realizability_margin
    from hpcclose.training.samples import prepare

    text = (cfg_text(tmp_path, kind="monotone", width=8, depth=1, epochs=3, lr=5e-2)
            .replace("checkpoint_every = 2", "checkpoint_every = 2\nlbfgs_iterations = 6")
            + "\n[loss]\njacobian = 0.5\njacobian_points = 100\njacobian_margin = 0.5\njacobian_search = 30\n"
              "jacobian_search_every = 3\njacobian_search_add = 40\n")
    res = run_train(tmp_path, text)
    info = res.network.meta["training"]["lbfgs"]
    rounds = info["search"]
    assert [r["iteration"] for r in rounds] == [0, 3, 6]
    # each failing point brings up to NEIGHBOURS random points of its grid cell
    cap = counterexamples.NEIGHBOURS + 1
    assert all(min(r["failing"], 40) <= r["added"] <= cap * min(r["failing"], 40) and r["points"] > 100
               for r in rounds)
    kept = min(rounds, key=lambda r: (r["negative"], r["monitored"]))
    assert info["best_iteration"] == kept["iteration"]
    # the search of the kept network, against numpy central differences of its file
    cfg = config.parse(text)
    prep = prepare(cfg)
    net = export.load(res.path)
    loss = losses.Losses(models.from_network(net), prep.basis, prep.quad, "normalisation",
                         losses.Weights(1.0, 1.0, 1.0, 1.0, 0.5, jacobian_margin=0.5), float(net.output_scale))
    search = counterexamples.Search.over_training_region(loss, prep.basis, prep.train.omega, 30, 40)
    assert search.candidates.shape[0] == kept["points"]
    lmin = search.smallest_eigenvalues()
    H = derivatives(net, search.candidates)[2]
    reference = np.linalg.eigvalsh(0.5 * (H + np.swapaxes(H, 1, 2)))[:, 0]
    assert np.allclose(lmin, reference, rtol=1e-5, atol=1e-6 * np.abs(reference).max())
    found, summary = search()
    tol = 1e-5 * np.abs(reference).max()
    clear = np.abs(reference - 0.5) > tol  # points the two derivatives put on the same side of the margin
    assert summary["failing"] == kept["failing"] == np.count_nonzero(lmin < 0.5)
    assert summary["negative"] == kept["negative"] == np.count_nonzero(lmin < 0.0)
    assert np.array_equal((lmin < 0.5)[clear], (reference < 0.5)[clear])
    head, near = found[:min(40, summary["failing"])], found[min(40, summary["failing"]):]
    rows = [int(np.flatnonzero((search.candidates == p).all(axis=1))[0]) for p in head]
    assert np.all(np.diff(lmin[rows]) >= 0) and lmin[rows].max() <= np.sort(lmin)[len(rows) - 1]  # worst first
    # the neighbours: in the grid cell around one of them (half a spacing), realizable with the grid's margin
    assert 0 < len(near) <= counterexamples.NEIGHBOURS * len(head)
    assert np.all(np.min(np.max(np.abs(near[:, None, :] - head[None]) / search.spacing, axis=2), axis=1) <= 0.5)
    assert np.all(realizability_margin(prep.basis, near) > counterexamples.SEARCH_MARGIN)
    # the search needs the term it feeds
    with pytest.raises(InputError, match="loss.jacobian_search adds points to the jacobian term"):
        config.parse(text.replace("jacobian = 0.5", "jacobian = 0.0"))


def test_random_realizable_points_cover_the_dense_test_region():
    from hpcclose.training.convexity import dense_test_set, random_realizable
    from hpcclose.velocity import make_basis

    basis = make_basis("monomial", 1, 2)
    u1 = np.linspace(-0.9, 0.9, 50)
    train = np.stack([u1, 0.5 * (1 + u1**2)], axis=1)
    pts = random_realizable(basis, train, 500, seed=1)
    grid = dense_test_set(basis, train)
    assert pts.shape == (500, 2)
    assert np.all(basis.realizability_margin(np.concatenate([np.ones((500, 1)), pts], axis=1)) > 5e-4)
    # the dense grid's region widened by 2 % on each side (so its edges are covered), not its points
    size = train.max(axis=0) - train.min(axis=0)
    assert np.all(pts.min(axis=0) >= train.min(axis=0) - 0.02 * size)
    assert np.all(pts.max(axis=0) <= train.max(axis=0) + 0.02 * size)
    assert np.any(pts[:, 1] > grid[:, 1].max()) and not np.isin(pts[:, 0], grid[:, 0]).any()
    assert np.allclose(pts.min(axis=0), grid.min(axis=0), atol=0.1)


@pytest.mark.slow
def test_extra_balls_add_interior_points(tmp_path):
    """[[data.extra]] adds Sobol points of smaller balls (own seeds) to the B_{M,τ} sample, records them
    in the provenance, and is refused with any sampler but sobol."""
    from hpcclose.training.samples import load_data, velocity

    text = cfg_text(tmp_path, data=SOBOL + "\n\n[[data.extra]]\nmax_norm = 1.5\ncount = 50")
    cfg = config.parse(text, "t.toml")
    basis, quad = velocity(cfg)
    ds = load_data(cfg, basis, quad)
    assert ds.count == 650 and ds.attrs["count"] == 650 and ds.attrs["extra"] == [[1.5, 50]]
    radius = np.linalg.norm(ds.alpha[:, 1:], axis=1)
    assert radius[:600].max() < 8.0 and radius[600:].max() < 1.5
    assert np.sum(radius[:600] < 1.5) < 50  # the ball holds few of the main sample's points
    # saved and trained from again (sampler "file"): the provenance, extra balls included, comes back as
    # plain values, so the model file and the history JSON record it
    saving = config.parse(text.replace("[data]", f'[data]\nsave = "{tmp_path / "d.h5"}"'), "t.toml")
    load_data(saving, basis, quad)
    res = run_train(tmp_path, cfg_text(tmp_path, data=f'sampler = "file"\nfile = "{tmp_path / "d.h5"}"', epochs=1))
    record = json.loads(res.path.with_suffix(".history.json").read_text())
    assert record["training"]["data"]["extra"] == [[1.5, 50]] and record["training"]["data"]["count"] == 650
    with pytest.raises(InputError, match="extra: balls of extra points need sampler 'sobol'"):
        config.parse(cfg_text(tmp_path, data='sampler = "grid"\nsize = 20\n\n[[data.extra]]\n'
                                             'max_norm = 1.5\ncount = 50'), "t.toml")


def test_config_is_validated(tmp_path):
    good = cfg_text(tmp_path)
    config.parse(good)
    with pytest.raises(InputError, match=r"data: sampler 'sobol' needs count"):
        config.parse(good.replace("count = 600\n", ""), "t.toml")
    with pytest.raises(InputError, match=r"data: sampler 'moments' needs eps"):
        config.parse(good.replace('sampler = "sobol"', 'sampler = "moments"'), "t.toml")
    with pytest.raises(InputError, match="model.kind"):
        config.parse(good.replace('kind = "icnn"', 'kind = "cnn"'), "t.toml")
    with pytest.raises(InputError, match="'gradient' needs an entropy network"):
        config.parse(cfg_text(tmp_path, kind="monotone", model_extra='alpha0 = "gradient"'), "t.toml")
    with pytest.raises(InputError, match=r"velocity: quadrature must be \[n_mu, n_phi\] in 2D"):
        config.parse(good.replace("dim = 1", "dim = 2"), "t.toml")
    with pytest.raises(InputError, match="training.epochs"):
        config.parse(good, "t.toml", overrides=["training.epochs=-1"])
    with pytest.raises(InputError, match="unknown key"):
        config.parse(good.replace("[output]", "[output]\nfoo = 1"), "t.toml")


@pytest.mark.slow
def test_cli_main_writes_the_model(tmp_path, capsys):
    from hpcclose.cli import train as cli

    path = tmp_path / "train.toml"
    path.write_text(cfg_text(tmp_path, out="cli.h5", epochs=3))
    p = argparse.ArgumentParser()
    cli.add_arguments(p)
    assert cli.main(p.parse_args([str(path), "--no-progress", "--epochs", "2"])) == 0
    out = capsys.readouterr().out
    assert "epochs 2" in out and "model written to" in out and (tmp_path / "cli.h5").exists()
    with pytest.raises(InputError, match="--epochs"):
        cli.main(p.parse_args([str(path), "--epochs", "0"]))


def test_shipped_inputs_are_valid():
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "inputs"
    files = sorted(root.glob("train_*.toml"))
    assert len(files) >= 4
    for f in files:
        cfg = config.load(f)
        assert cfg.output.model.endswith(".h5")
