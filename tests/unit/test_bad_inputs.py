"""Every bad input is one line naming the key, file or option, exit status 2, and nothing written.

In-process checks of the validation (configs, problem parameters, training inputs, network files, CLI
options and output paths); subprocesses only for the CLI's one-line / exit-2 contract.
"""

from __future__ import annotations

import os
import subprocess
import sys
import typing
from pathlib import Path

import numpy as np
import pytest
from pydantic import BaseModel

from hpcclose import config
from hpcclose.cli import bench as cli_bench
from hpcclose.cli import sample as cli_sample
from hpcclose.cli import train as cli_train
from hpcclose.cli.outputs import new_file, writable_dir
from hpcclose.errors import InputError
from hpcclose.problems import available, get_problem
from hpcclose.problems.base import Problem
from hpcclose.training import config as train_config

ROOT = Path(__file__).resolve().parents[2]
INPUTS = ROOT / "inputs"
PLANE = INPUTS / "plane_source_m2.toml"
TRAIN = INPUTS / "train_icnn_m1_1d.toml"


# --- one rule for every validated input -----------------------------------------------------------
def _models(root: type[BaseModel], seen: set) -> set:
    """``root`` and every model reachable from its fields (inside lists, tuples, unions)."""
    if root in seen:
        return seen
    seen.add(root)

    def walk(tp):
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            _models(tp, seen)
        for arg in typing.get_args(tp):
            walk(arg)

    for field in root.model_fields.values():
        walk(field.annotation)
    return seen


def test_every_input_model_is_strict_and_finite():
    # a new section, problem or option model cannot forget the rule: strict types, no inf / nan
    roots = [config.Config, train_config.TrainConfig, cli_bench.ClosuresOptions, cli_bench.ScalingOptions,
             cli_sample.SampleOptions]
    roots += [Problem.registry.lookup(name, "test").Params for name in available()]
    models = set()
    for root in roots:
        _models(root, models)
    assert len(models) > 15
    for model in models:
        assert model.model_config.get("strict") is True, model
        assert model.model_config.get("allow_inf_nan") is False, model


@pytest.mark.parametrize("override, key, words", [
    ("scheme.t_final=inf", "scheme.t_final", "finite number (got inf)"),
    ("scheme.t_final=1e999", "scheme.t_final", "finite number (got inf)"),    # TOML reads 1e999 as inf
    ("mesh.x=[0.0, nan]", "mesh.x", "finite number (got nan)"),
    ("mesh.cells=true", "mesh.cells", "expected int or [int, int], got True"),
    ("mesh.cells=[10, true]", "mesh.cells", "expected int or [int, int], got [10, True]"),
    ("mesh.cells=[1, 2, 3]", "mesh.cells", "at most 2 items"),
    ('scheme.cfl="0.5"', "scheme.cfl", "valid number (got '0.5')"),
    ("scheme.order=true", "scheme.order", "valid integer (got True)"),
    ("scheme.realizability_reconstruction=1", "scheme.realizability_reconstruction", "valid boolean"),
    ('output.dir=""', "output.dir", "at least 1 character"),
    ("output.every=-1.0", "output.every", "greater than 0"),
    ("velocity.quadrature=100000", "velocity.quadrature", "less than or equal to 2000"),
    ("problem.f_floor=inf", "problem.f_floor", "finite number (got inf)"),
    ('problem.sigma_s="1"', "problem.sigma_s", "valid number (got '1')"),
    ("parallel.dims=[0]", "parallel.dims", "greater than or equal to 1"),
])
def test_config_refuses_what_cannot_be_meant(override, key, words):
    with pytest.raises(InputError) as exc:
        cfg = config.load(PLANE, [override])
        get_problem(cfg.problem.name, cfg.problem.params, cfg.source)  # problem parameters: their own model
    assert str(exc.value).startswith(f"{PLANE}: {key}: ") and words in str(exc.value), exc.value


def test_strict_types_keep_what_inputs_write():
    # an int for a float, and TOML arrays for tuple fields, are what every shipped input does
    cfg = config.load(INPUTS / "periodic_2d_m1.toml", ["scheme.t_final=1", "mesh.x=[-1, 1]", "parallel.dims=[1, 1]"])
    assert cfg.scheme.t_final == 1.0 and isinstance(cfg.scheme.t_final, float)
    assert cfg.mesh.x == (-1.0, 1.0) and cfg.mesh.cells == (100, 100) and cfg.parallel.dims == (1, 1)
    for path in INPUTS.glob("*.toml"):
        (train_config if path.name.startswith("train_") else config).load(path)


def test_sphere_rule_is_bounded_in_every_input():
    with pytest.raises(InputError, match=r"velocity.quadrature: \[n_mu, n_phi\] = \[2000, 4000\] gives 8000000"):
        config.load(INPUTS / "periodic_2d_m1.toml", ["velocity.quadrature=[2000, 4000]"])
    with pytest.raises(InputError, match=r"velocity.quadrature: \[n_mu, n_phi\] = \[2000, 4000\]"):
        train_config.load(INPUTS / "train_icnn_m1_2d.toml", ["velocity.quadrature=[2000, 4000]"])


@pytest.mark.parametrize("name", available())
def test_every_problem_refuses_inf_and_nan(name):
    params = Problem.registry.lookup(name, "test").Params
    numbers = [k for k, f in params.model_fields.items() if f.annotation is float]
    assert numbers, name
    for key in numbers:
        for bad in (np.inf, -np.inf, np.nan):
            with pytest.raises(InputError, match=rf"^in.toml: problem\.{key}: Input should be a finite number"):
                get_problem(name, {key: bad}, "in.toml")


@pytest.mark.parametrize("load", [config.load, train_config.load])
def test_non_utf8_file_is_refused_naming_it(tmp_path, load):
    path = tmp_path / "latin1.toml"
    path.write_bytes('[problem]\nname = "plane_source"  # café\n'.encode("latin-1"))
    with pytest.raises(InputError, match=rf"^{path}: not UTF-8 text \(byte 0xe9 at offset \d+\)"):
        load(path)


@pytest.mark.parametrize("override, key", [
    ("training.learning_rate=inf", "training.learning_rate"),
    ("training.learning_rate=nan", "training.learning_rate"),
    ("data.bounds=[-1, inf]", "data.bounds"),
    ("loss.u=true", "loss.u"),
    ("velocity.dim=true", "velocity.dim"),
    ('output.model=""', "output.model"),
])
def test_training_config_refuses_what_cannot_be_meant(override, key):
    with pytest.raises(InputError, match=rf"^{TRAIN}: {key}: "):
        train_config.load(TRAIN, [override])


# --- network files --------------------------------------------------------------------------------
def test_network_with_nan_weights_is_refused_naming_file_and_array(tmp_path):
    import h5py

    from hpcclose.closures.neural import export
    from hpcclose.closures.neural.layout import random_network
    from hpcclose.velocity import make_basis

    net = random_network("icnn", make_basis("monomial", 1, 1), 6, 3, seed=1, quadrature="gauss_legendre(30)")
    path = export.save(tmp_path / "net.h5", net)
    with h5py.File(path, "r+") as f:
        f["layers/001/Wz"][0, 0] = np.nan
    with pytest.raises(InputError, match=rf"^{path}: layers/001/Wz hold NaN or inf weights"):
        export.load(path)
    net.layers[2].b[0] = np.inf  # and nothing writes one
    with pytest.raises(InputError, match="layers/002/b hold NaN or inf"):
        export.save(tmp_path / "again.h5", net)
    assert not (tmp_path / "again.h5").exists()


# --- output paths (train, sample, bench, plot) -----------------------------------------------------
def test_output_paths_are_checked_before_work(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    with pytest.raises(InputError, match=rf"^src: --output: cannot write {blocker}/sub/x.h5: {blocker} is not a "):
        new_file(blocker / "sub" / "x.h5", "--output", "src", overwrite=False)
    with pytest.raises(InputError, match=rf"src: --output: {blocker} exists; pass --overwrite"):
        new_file(blocker, "--output", "src", overwrite=False)
    assert new_file(blocker, "--output", "src", overwrite=True) == blocker
    with pytest.raises(InputError, match="is a directory, not a file"):
        new_file(tmp_path, "--output", "src", overwrite=True)
    assert writable_dir(tmp_path / "new" / "deeper", "--out", "src") == tmp_path / "new" / "deeper"
    assert not (tmp_path / "new").exists()  # checking creates nothing


def test_train_checks_every_output_file_before_training(tmp_path, monkeypatch):
    import argparse

    import hpcclose.training.train as train_mod

    monkeypatch.setattr(train_mod, "train", lambda *a, **k: pytest.fail("trained before checking outputs"))
    model = tmp_path / "m.h5"
    args = argparse.Namespace(input=str(TRAIN), overrides=[f"output.model='{model}'"], epochs=None,
                              no_progress=True, overwrite=False)
    model.with_suffix(".history.json").write_text("{}")  # a previous training's history
    with pytest.raises(InputError, match=rf"output.history: {model.with_suffix('.history.json')} exists"):
        cli_train.main(args)
    args.overwrite = True
    args.overrides.append(f"data.save='{model.with_suffix('.history.json') / 'data.h5'}'")
    with pytest.raises(InputError, match=r"data.save: cannot write .*data.h5: .*history.json is not a directory"):
        cli_train.main(args)


# --- the CLI contract: one line, exit 2, nothing written ---------------------------------------------
def _cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "NUMBA_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "hpcclose", *args], capture_output=True, text=True, timeout=300,
                          cwd=cwd, env=env)


def _one_line(res: subprocess.CompletedProcess, *words: str) -> str:
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr, res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("hpcclose: error: "), res.stderr
    assert all(w in lines[0] for w in words), lines[0]
    return lines[0]


def test_cli_non_utf8_input_and_debug(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_bytes(b"[problem]\nname = \"plane_source\"\n\xff\n")
    _one_line(_cli("run", str(path)), str(path), "not UTF-8 text")
    assert "Traceback" in _cli("--debug", "run", str(path)).stderr


def test_cli_run_refuses_what_cannot_fit_and_writes_nothing(tmp_path):
    out = tmp_path / "out"
    res = _cli("run", str(INPUTS / "periodic_2d_m1.toml"), "--set", f"output.dir='{out}'",
               "--set", "mesh.cells=[300000, 300000]")
    _one_line(res, "periodic_2d_m1.toml: mesh.cells: this run needs ~", "available per rank")
    assert not out.exists()


def test_cli_plot_bad_files(tmp_path):
    import h5py

    (tmp_path / "text.h5").write_text("not hdf5")
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["x"] = [1.0]
    _one_line(_cli("plot", str(tmp_path / "missing")), "missing: no such run directory or file")
    _one_line(_cli("plot", str(tmp_path / "text.h5")), "text.h5: not an HDF5 file")
    _one_line(_cli("plot", str(tmp_path / "other.h5")), "other.h5: not an hpcclose field file")
    assert not (tmp_path / "plots").exists()


@pytest.mark.parametrize("args, words", [
    (("closures", "--orders", "0"), "bench closures: --orders: Input should be greater than or equal to 1 (got 0)"),
    (("closures", "--sizes", "10,0"), "--sizes: Input should be greater than or equal to 1 (got 0)"),
    (("closures", "--sizes", "inf"), "--sizes: expected whole numbers"),
    (("closures", "--repeat", "0"), "--repeat: "),
    (("closures", "--copies", "-1"), "--copies: "),
    (("scaling", str(PLANE), "--ranks", "0"), "bench scaling: --ranks: "),
])
def test_cli_bench_refuses_nonsense_before_any_output(tmp_path, args, words):
    res = _cli("bench", *args, "--out", str(tmp_path / "out"))
    _one_line(res, words)
    assert res.stdout == "" and not (tmp_path / "out").exists()


def test_cli_sample_and_train_refuse_to_overwrite(tmp_path):
    data = tmp_path / "data.h5"
    data.write_text("earlier results")
    _one_line(_cli("sample", "--count", "100", "-o", str(data)), f"sample: --output: {data} exists",
              "--overwrite")
    _one_line(_cli("sample", "--max-norm", "inf", "-o", str(tmp_path / "new.h5")),
              "sample: --max-norm: Input should be a finite number (got inf)")
    model = tmp_path / "model.h5"
    model.write_text("earlier model")
    _one_line(_cli("train", str(TRAIN), "--set", f"output.model='{model}'"), f"output.model: {model} exists")
    _one_line(_cli("train", str(TRAIN), "--set", "training.learning_rate=inf"), "training.learning_rate")
    assert data.read_text() == "earlier results" and model.read_text() == "earlier model"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.h5", "model.h5"]
