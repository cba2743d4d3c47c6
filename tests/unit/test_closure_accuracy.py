"""drivers/closure_accuracy.py: [A]-style test errors (eq. 49) of the spline closure on a subsampled test set;
bad input to it and to the other drivers is one line and exit status 2."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from hpcclose.closures import get_closure
from hpcclose.velocity import gauss_legendre, make_basis

DRIVER = Path(__file__).resolve().parents[2] / "drivers" / "closure_accuracy.py"
SUBSAMPLE, W0_COUNT = 10, 16  # 5 200 α̃ × 16 w0 = 83 200 points: well under a second per closure


@pytest.fixture(scope="module")
def driver():
    """The driver script as a module (drivers/ is not a package)."""
    spec = importlib.util.spec_from_file_location("closure_accuracy", DRIVER)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def run_driver(driver, tmp_path: Path, *options: str) -> dict:
    """The driver's results (from its --json file) for the spline with ``options`` on the subsampled set."""
    out = tmp_path / "r.json"
    argv = ["--closure", "spline", "--order", "1", "--basis", "monomial", "--quadrature", "30",
            "--subsample", str(SUBSAMPLE), "--w0-count", str(W0_COUNT), "--json", str(out)]
    for o in options:
        argv += ["--option", o]
    assert driver.main(argv) == 0
    return json.loads(out.read_text())


def direct_e_w(size: int) -> float:
    """e_w of the spline S``size`` on the same subsampled set, built and reconstructed with plain numpy."""
    basis, quad = make_basis("monomial", 1, 1), gauss_legendre(30)
    mu, w = quad.velocity[:, 0], quad.weights
    at = np.linspace(-65.0, 65.0, 52_000)[::SUBSAMPLE]
    G = np.exp(np.outer(at, mu))
    G /= G @ w[:, None]  # α0 = −log⟨e^{α̃μ}⟩: unit mass
    omega = (G * w) @ mu
    w0 = np.repeat(np.linspace(1e-8, 8.0, W0_COUNT), at.size)
    u = np.stack([w0, w0 * np.tile(omega, W0_COUNT)], axis=1)
    alpha, _ = get_closure("spline", basis, quad, size=size).multipliers(u)
    Ga = np.exp(alpha[:, :1] + np.outer(alpha[:, 1], mu)) * w
    wa = np.stack([Ga.sum(axis=1), Ga @ mu], axis=1)
    return float(np.linalg.norm(wa - u) / np.linalg.norm(u))


def test_spline_errors_match_direct_reconstruction(driver, tmp_path, capsys):
    r130 = run_driver(driver, tmp_path, "size=130")
    assert "e_w" in capsys.readouterr().out
    assert r130["points"] == 5200 * W0_COUNT and r130["regularised"] == 0
    assert r130["e_w"] == pytest.approx(direct_e_w(130), rel=0.05)
    assert 5e-5 < r130["e_w"] < 1.2e-4  # the full-size set gives 7.85e−5 ([A] Table 1: 7.86e−5)
    assert r130["convexity"]["min_eigenvalue"] > 0  # the spline is convex by construction
    r30 = run_driver(driver, tmp_path, "size=30")
    assert r30["e_w"] > 10 * r130["e_w"]
    assert r30["e_alpha"] > r130["e_alpha"] and r30["e_h"] > r130["e_h"]


@pytest.mark.parametrize("argv, message", [
    (["--closure", "spline", "--order", "3"], "N = 1 and N = 2"),
    (["--closure", "spline", "--option", "size=10"], "closure.spline.size: Input should be greater than or equal"),
    (["--closure", "pn"], "linear closure"),
    (["--closure", "spline", "--option", "size"], "expected key=value"),
])
def test_bad_input_is_one_line_and_status_2(driver, capsys, argv, message):
    assert driver.main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


@pytest.mark.parametrize("script, argv, message", [
    ("closure_error", ["inputs/plane_source_m2.toml", "--closure", "no_such_closure", "--set", "mesh.cells=10",
                       "--set", "scheme.t_final=0.01"], "unknown closure 'no_such_closure'"),
    ("closure_error", ["inputs/no_such_input.toml", "--closure", "spline"], "no_such_input.toml"),
    ("plane_source_vs_exact", ["--orders", "1,x"], "--orders '1,x'"),
    ("plane_source_vs_exact", ["--orders", "1", "--cells", "0"], "mesh.cells"),
])
def test_other_drivers_bad_input_is_one_line_and_status_2(capsys, script, argv, message, monkeypatch):
    """The other drivers follow the same rule (hpcclose.errors.script_main)."""
    spec = importlib.util.spec_from_file_location(script, DRIVER.parent / f"{script}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    monkeypatch.chdir(DRIVER.parents[1])
    capsys.readouterr()
    assert mod.main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and err.startswith(f"{script}: error:")
