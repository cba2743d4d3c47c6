"""The shipped network closures (hpcclose/models/): they load by name, are convex, and reach the papers'
accuracy on held-out data and in the plane source ([A] Tables 1–3, 6–7; [B] Table 1)."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import numpy as np
import pytest

from hpcclose.closures import get_closure
from hpcclose.closures.neural import export

ROOT = Path(__file__).resolve().parents[2]


def _driver(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "drivers" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


SHIPPED = export.shipped_models()


def test_every_shipped_model_can_be_regenerated():
    """drivers/train_shipped_models.py knows every shipped model; the papers' key models are shipped."""
    assert set(SHIPPED) <= set(_driver("train_shipped_models").MODELS)
    assert {"symNN5x30_1", "symNN4x45_2", "ICNN10x7_M1_1D", "ICNN15x7_M2_1D", "MONO30x2_M1_1D",
            "MONO50x2_M2_1D", "ICNN18x8_M1_2D"} <= set(SHIPPED)


def test_staged_models_chain_their_files():
    """A model trained in stages: every stage after the first continues (L-BFGS only) the file the stage
    before it writes, and only the last writes the shipped name."""
    import tomllib

    for name, sources in _driver("train_shipped_models").MODELS.items():
        if isinstance(sources, str):
            continue
        cfgs = [tomllib.loads((ROOT / s).read_text()) for s in sources]
        for before, after in zip(cfgs[:-1], cfgs[1:], strict=True):
            assert after["training"]["initial_model"] == before["output"]["model"], name
            assert after["training"]["epochs"] == 0, name
        assert Path(cfgs[-1]["output"]["model"]).stem == name
        assert all(Path(c["output"]["model"]).stem != name for c in cfgs[:-1])


# Relative moment errors of isotropic and mildly anisotropic states (docs/closures.md): the M2 ICNN trained
# on B_{12,1e−6} is 1.6–4 % off there (uniform α̃ sampling leaves the interior thin): use it through the
# hybrid closure where that matters.
# The rotation-invariant 2D M2 ICNN: 0.5–0.7 % at isotropy, 3.7 % at α̃ = −0.5 in every component.
# The 2D M3 ICNN: 2.3 % at isotropy and at α̃ = −0.5, 7.5 % at α̃ = +0.5 in every component.
# The 2D M2 monotone network: 1.0 % at isotropy, 2.0 % at α̃ = +0.5, 0.9 % at −0.5.
NEAR_ISOTROPIC_TOL = {"ICNN15x7_M2_1D": 5e-2, "ICNN20x7_M2_2D_rot": 5e-2, "ICNN20x7_M3_2D_rot": 8e-2,
                      "MONO50x2_M2_2D_rot": 5e-2}


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_model_loads_by_name_and_closes(name):
    """Loadable by name for its own basis; the closure reproduces the moments of isotropic states closely;
    the file records complete training with its provenance and validation errors."""
    net = export.load(name)
    basis, quad = net.velocity()
    closure = get_closure(net.architecture, basis, quad, model=name)
    # isotropic and mildly anisotropic states (α̃ = ±0.5 per component) at three densities
    m = basis.evaluate(quad)
    at = np.array([np.zeros(basis.n - 1), np.full(basis.n - 1, 0.5), np.full(basis.n - 1, -0.5)])
    base = (np.exp(at @ m[:, 1:].T) * quad.weights) @ m
    u = np.concatenate([base * c for c in (1e-3, 1.0, 7.5)])
    alpha, stats = closure.multipliers(u)
    assert stats.failed.size == 0 and np.all(np.isfinite(alpha))
    rel = np.linalg.norm(closure.moments(alpha) - u, axis=1) / u[:, 0]
    assert np.all(rel < NEAR_ISOTROPIC_TOL.get(name, 1e-2))
    meta = net.meta["training"]
    assert meta["status"] == "complete" and meta["data"]["sampler"] in ("grid", "sobol", "moments")
    assert "validation" in net.meta["test_errors"]
    # entropy networks: ∇²h̃ PSD; monotone ones: the symmetric Jacobian of α̃ PSD, on the dense test set
    assert net.meta["convexity"]["convex"] and net.meta["convexity"]["points"] >= 200


def accuracy(name: str, order: int, basis: str, quadrature: int, tmp_path: Path, subsample: int) -> dict:
    out = tmp_path / "acc.json"
    argv = ["--closure", "mlp", "--option", f"model={name}", "--order", str(order), "--basis", basis,
            "--quadrature", str(quadrature), "--subsample", str(subsample), "--w0-count", "4", "--json", str(out)]
    assert _driver("closure_accuracy").main(argv) == 0
    return json.loads(out.read_text())


@pytest.mark.parametrize("name, order, subsample, e_w_paper", [
    ("symNN5x30_1", 1, 13, 1.92e-4),   # [A] Table 1, NN5x30_1 test e_w
    ("symNN4x45_2", 2, 7, 5.63e-4),    # [A] Table 3, NN4x45_2 test e_w
])
def test_symmetric_mlp_matches_paper_test_error(name, order, subsample, e_w_paper, tmp_path):
    """[A] §4.1.1 test set (subsampled α̃, 4 values of u0; relative errors do not depend on u0)."""
    r = accuracy(name, order, "legendre", 10, tmp_path, subsample)
    assert r["e_w"] <= e_w_paper
    assert r["convexity"]["min_eigenvalue"] > -1e-10


def test_plane_source_n1_with_shipped_network_beats_paper(plane_source_error):
    """[A] Table 6: sym-NN5x30 e_u = 2.85e-3 (100 cells, t = 1)."""
    e = plane_source_error("mlp", ["velocity.order=1", "closure.mlp.model='symNN5x30_1'"])
    assert e <= 2.85e-3


def test_plane_source_n2_with_shipped_network_beats_paper(plane_source_error):
    """[A] Table 7: sym-NN4x45 e_u = 5.49e-3 (M2, 100 cells, t = 1)."""
    e = plane_source_error("mlp", ["closure.mlp.model='symNN4x45_2'"])
    assert e <= 5.49e-3


def test_plane_source_with_u_sampled_monotone_network_through_hybrid(capsys):
    """The M2 monotone network trained on [B]'s data leaves its domain in the plane source (vacuum next to
    the pulse); through the hybrid closure the run stays within [A] Table 7's 5.49e-3 of Newton, and the
    network's α is accepted in most cell closures (12 % re-solved; the B_{12,1e−6} network: 94 %)."""
    argv = ["inputs/plane_source_m2.toml", "--closure", "hybrid", "--set", "velocity.basis='monomial'",
            "--set", "velocity.quadrature=30", "--option", "network='monotone'",
            "--option", "model='MONO50x2_M2_1D_usampled'"]
    assert _driver("closure_error").main([str(ROOT / argv[0]), *argv[1:]]) == 0
    out = capsys.readouterr().out
    e = float(re.search(r"e_u\(hybrid vs newton\) = (\S+)", out).group(1))
    resolved = float(re.search(r"re-solved by Newton \((\S+)%\)", out).group(1))
    assert e <= 5.49e-3 and resolved < 25.0


@pytest.mark.slow
def test_smooth_plane_source_with_shipped_network_beats_paper(plane_source_error):
    """[A] Table 8: sym-NN4x45 e_u = 1.92e-3 (M2, 1000 cells, smooth initial data; ~20 s)."""
    e = plane_source_error("mlp", ["closure.mlp.model='symNN4x45_2'"], "plane_source_smooth_m2.toml")
    assert e <= 1.92e-3


# Fresh points of the training set: B_{M,τ} (Sobol in α̃, another seed) or, for the networks trained like
# [B]'s own M2 networks, uniform in the moments 0.06 inside the realizable set (docs/closures.md).
def b_points(max_norm: float, tau: float) -> list[str]:
    return ["--max-norm", str(max_norm), "--tau", str(tau)]


U_SAMPLED = ["--moments", "0.06"]


@pytest.mark.parametrize("name, where, limits", [
    # [B] Table 1 validation MSEs in [B]'s units (evaluation.paper_units: Keras means over components; ICNN h, α
    # divided by the training set's h range, [B] eq. 69–70; monotone α scaled to [−1, 1] by its range, h
    # unscaled — as in [B]'s code)
    ("ICNN10x7_M1_1D", b_points(50.0, 1e-7), {"b_mse_h": 7.87e-7, "b_mse_alpha": 7.52e-4, "b_mse_u": 1.47e-6}),
    ("MONO30x2_M1_1D", b_points(50.0, 1e-7), {"b_mse_h": 2.09e-5, "b_mse_alpha": 5.56e-6, "b_mse_u": 3.64e-6}),
    # [B]'s "u" of the M1 2D and M2 1D ICNN rows is its α (networks trained without the u term return α̃
    # as their third output); held to it all the same
    ("ICNN18x8_M1_2D", b_points(20.0, 1e-5), {"b_mse_h": 1.10e-6, "b_mse_alpha": 3.39e-5, "b_mse_u": 3.39e-5}),
    # M2 1D on B_{12,1e−6}, far closer to the boundary than [B]'s data: regression bounds. ICNN: h below
    # [B], u below [B]'s α-as-u, α 60x above [B]'s 2.81e-4; monotone: u below [B]'s 1.27e-4, h 5 % and α 2.3x
    # above [B]'s 5.04e-4 and 2.56e-4
    ("ICNN15x7_M2_1D", b_points(12.0, 1e-6), {"b_mse_h": 1.33e-5, "b_mse_alpha": 1.8e-2, "b_mse_u": 2.81e-4}),
    ("MONO50x2_M2_1D", b_points(12.0, 1e-6), {"b_mse_h": 5.5e-4, "b_mse_alpha": 6.2e-4, "b_mse_u": 1.27e-4}),
    # M2 1D on [B]'s data (uniform in u, ε = 0.06): [B] Table 1
    ("ICNN15x7_M2_1D_usampled", U_SAMPLED, {"b_mse_h": 1.33e-5, "b_mse_alpha": 2.81e-4, "b_mse_u": 2.81e-4}),
    ("MONO50x2_M2_1D_usampled", U_SAMPLED, {"b_mse_h": 5.04e-4, "b_mse_alpha": 2.56e-4, "b_mse_u": 1.27e-4}),
    # 2D M2, rotation-invariant, on B_{15,1e−5} in the reduced frame (α̃ completed by the invariance): no
    # paper figure; regression bounds 1.25x the errors recorded in docs/closures.md (6.95e−4, 2.36e−1, 2.07e−3)
    ("ICNN20x7_M2_2D_rot", b_points(15.0, 1e-5), {"b_mse_h": 8.7e-4, "b_mse_alpha": 2.95e-1, "b_mse_u": 2.6e-3}),
    # the monotone sibling (symmetrised over Ωy → −Ωy): 1.25x (4.56e−3, 9.31e−4, 1.40e−3)
    ("MONO50x2_M2_2D_rot", b_points(15.0, 1e-5), {"b_mse_h": 5.7e-3, "b_mse_alpha": 1.16e-3, "b_mse_u": 1.75e-3}),
    # 2D M3, the same recipe (8 reduced inputs): 1.25x the errors recorded (1.71e−3, 4.19e−1, 1.31e−3)
    ("ICNN20x7_M3_2D_rot", b_points(15.0, 1e-5), {"b_mse_h": 2.14e-3, "b_mse_alpha": 5.24e-1, "b_mse_u": 1.64e-3}),
])
def test_b_style_errors_on_fresh_samples(name, where, limits, tmp_path):
    """Held-out data: 2 000 new points of the training distribution (another seed) — [B] Table 1, through
    drivers/model_errors.py (the command docs/closures.md gives)."""
    out = tmp_path / "e.json"
    argv = [name, "--count", "2000", "--seed", "2024", *where, "--json", str(out)]
    assert _driver("model_errors").main(argv) == 0
    (e,) = json.loads(out.read_text())["rows"]
    assert e["samples"] == 2000 and e.get("tau", e.get("eps")) == float(where[-1])
    for key, limit in limits.items():
        assert e[key] <= limit, key


@pytest.mark.slow
def test_shipped_2d_monotone_network_is_monotone_on_a_fine_grid(tmp_path):
    """The 2D M2 monotone network beyond its file's report (an 11⁴ grid at realizability margin 1e−3): on a
    41⁴ grid of its region at margin 1e−4 (459 323 points, none on the 40⁴ grid its training searched) the
    symmetric part of its central-difference Jacobian has no negative eigenvalue (docs/closures.md)."""
    out = tmp_path / "g.json"
    assert _driver("model_errors").main(["MONO50x2_M2_2D_rot", "--count", "2000", "--seed", "2024", "--grid", "41",
                                         "--json", str(out)]) == 0
    c = json.loads(out.read_text())["structure"]
    assert c["points"] > 400_000 and c["convex"] and c["min_eigenvalue"] > 0.0


@pytest.mark.slow
def test_model_errors_driver_sweeps_tau_and_refuses_bad_input(tmp_path, capsys):
    """Defaults come from the model file (M, τ of its training data); a τ list gives one row each (other
    points, so other errors); bad input is one line, exit status 2."""
    driver = _driver("model_errors")
    out = tmp_path / "e.json"
    assert driver.main(["MONO30x2_M1_1D", "--count", "300", "--json", str(out)]) == 0
    r = json.loads(out.read_text())
    assert r["max_norm"] == 50.0 and [row["tau"] for row in r["rows"]] == [1e-7]
    assert driver.main(["MONO30x2_M1_1D", "--count", "300", "--tau", "1e-7,1e-2", "--json", str(out)]) == 0
    near, far = json.loads(out.read_text())["rows"]
    assert (near["tau"], far["tau"]) == (1e-7, 1e-2) and near["mse_u"] != far["mse_u"]
    assert near == r["rows"][0]  # the same seed draws the same points
    # --bands splits the same points by distance to the realizable boundary: the bands partition them
    assert driver.main(["MONO30x2_M1_1D", "--count", "300", "--bands", "--json", str(out)]) == 0
    (row,) = json.loads(out.read_text())["rows"]
    assert sum(b["samples"] for b in row["bands"]) == 300
    for key in ("share_alpha", "share_u"):
        assert abs(sum(b[key] for b in row["bands"]) - 1.0) < 1e-12
    assert all(b["lambda_min"][1] > max(b["lambda_min"][0], 1e-7) for b in row["bands"])
    # --moments draws uniformly in the moments instead (one row per ε, no B_{M,τ} keys)
    assert driver.main(["MONO30x2_M1_1D", "--count", "300", "--moments", "0.05,0.2", "--json", str(out)]) == 0
    wide, narrow = json.loads(out.read_text())["rows"]
    assert (wide["eps"], narrow["eps"]) == (0.05, 0.2) and "tau" not in wide
    assert wide["samples"] == narrow["samples"] == 300 and wide["mse_alpha"] != narrow["mse_alpha"]
    # --grid checks the structure on a finer grid of the fresh points' region than the file's own report
    assert driver.main(["MONO30x2_M1_1D", "--count", "300", "--grid", "120", "--json", str(out)]) == 0
    c = json.loads(out.read_text())["structure"]
    assert c["per_axis"] == 120 and 100 < c["points"] <= 120 and c["convex"] and c["min_eigenvalue"] > 0
    assert "min eigenvalue" in capsys.readouterr().out
    assert driver.main(["MONO30x2_M1_1D", "--tau", "x"]) == 2
    assert driver.main(["no_such_model"]) == 2
    assert driver.main(["MONO30x2_M1_1D", "--moments", "0.06", "--tau", "1e-3"]) == 2
    assert driver.main(["MONO30x2_M1_1D", "--grid", "1"]) == 2
    assert driver.main(["MONO50x2_M2_2D_rot", "--count", "10", "--grid", "100"]) == 2  # 100^4 points
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 5 and "--tau 'x'" in err[0] and "no_such_model" in err[1]
    assert "--moments draws in the moments" in err[2] and "--grid 1" in err[3] and "100^4 points" in err[4]
