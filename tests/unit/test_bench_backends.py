"""`hpcclose bench closures --backends`: network closures timed on Numba (cpu) and TensorFlow (gpu)."""

from __future__ import annotations

import importlib.util
import json
from types import SimpleNamespace

import numpy as np
import pytest

from hpcclose.__main__ import build_parser
from hpcclose.bench import closures as bc
from hpcclose.cli import bench as cli_bench
from hpcclose.errors import InputError

needs_tf = pytest.mark.skipif(importlib.util.find_spec("tensorflow") is None, reason="TensorFlow not installed")


@pytest.mark.slow
@needs_tf
def test_rows_carry_the_backend(tmp_path, monkeypatch):
    # the timed gpu call is not the compiling one: a spy counts the traces of the closure's tf.function
    # around every timed call (XLA compiles once per traced batch shape, at the warm-up's call)
    made, traces = [], []
    real_get, real_prepare = bc.get_closure, bc._prepare
    monkeypatch.setattr(bc, "get_closure", lambda *a, **kw: made.append(real_get(*a, **kw)) or made[-1])

    def spy(name, base, backend, *args):
        fn = real_prepare(name, base, backend, *args)
        if backend != "gpu":
            return fn
        compiled = made[-1].impl._fns[made[-1].alpha0]

        def timed():
            before = compiled.experimental_get_tracing_count()
            out = fn()
            traces.append((before, compiled.experimental_get_tracing_count()))
            return out
        return timed

    monkeypatch.setattr(bc, "_prepare", spy)
    # a size over the cpu closures' 100-moment warm-up: XLA compiles once per batch shape
    rows = bc.run(orders=(2,), sizes=(200,), sets=("uniform",), closures=("icnn", "pn"), repeat=1,
                  log=lambda s: None, model="random:4x2", backends=("cpu", "gpu"))
    got = [(r.closure, r.backend, r.size) for r in rows]
    assert got == [("icnn", "cpu", 200), ("icnn", "gpu", 200), ("pn", "cpu", 200)]
    assert [r.label for r in rows] == ["icnn@cpu", "icnn@gpu", "pn"]
    assert all(r.moments_per_s > 0 and r.failed == 0 for r in rows)
    assert "icnn@gpu" in bc.format_row(rows[1])
    assert traces == [(1, 1)]  # traced by the warm-up on the timed batch, not again when timed
    # the JSON keeps the old fields and adds the backend
    js, png = bc.save(rows, tmp_path, {"backends": "cpu,gpu"})
    saved = json.loads(js.read_text())["rows"]
    assert png.exists() and [r["backend"] for r in saved] == ["cpu", "gpu", "cpu"]
    assert bc.Row(**saved[1]) == rows[1]


@pytest.mark.parametrize("backends", [("tpu",), ("cpu", ""), ()])
def test_bad_backends_are_refused(backends):
    with pytest.raises(InputError, match="--backends"):
        bc.run(orders=(2,), sizes=(10,), sets=("uniform",), closures=("icnn",), model="random:4x2",
               backends=backends, log=lambda s: None)


def test_cli_refuses_a_bad_backend(tmp_path):
    args = build_parser().parse_args(["bench", "closures", "--orders", "2", "--sizes", "10", "--sets", "uniform",
                                      "--closures", "icnn", "--model", "random:4x2", "--backends", "cpu,cuda",
                                      "--out", str(tmp_path)])
    with pytest.raises(InputError, match=r"--backends .*'cpu,cuda'"):
        cli_bench.main(args)


def test_measurements_go_round_robin_and_keep_the_best(monkeypatch):
    """Every measurement is timed once per round; a row keeps its fastest round (a drifting machine slows
    all rows alike instead of the ones timed during the drift). The timer is a fake clock that each call
    advances by its programmed cost, so what is kept is exact."""
    clock, order = [0.0], []
    real = bc._prepare
    cost = [7.0, 1.0, 4.0]  # newton per round: the second round is the fastest; pn costs 2 every round

    def spy(name, *args, **kw):
        fn = real(name, *args, **kw)

        def timed():
            clock[0] += cost[len(order) // 4] if name == "newton" else 2.0  # 4 measurements a round
            order.append(name)
            return fn()
        return timed

    monkeypatch.setattr(bc, "_prepare", spy)
    monkeypatch.setattr(bc, "time", SimpleNamespace(perf_counter=lambda: clock[0]))
    logged = []
    rows = bc.run(orders=(2,), sizes=(50,), sets=("uniform", "interior"), closures=("newton", "pn"), repeat=3,
                  log=logged.append)
    assert order == ["newton", "pn", "newton", "pn"] * 3
    assert [(r.moment_set, r.closure) for r in rows] == [("uniform", "newton"), ("uniform", "pn"),
                                                         ("interior", "newton"), ("interior", "pn")]
    assert sum("round" in s for s in logged) == 2
    assert [r.seconds for r in rows] == [1.0, 2.0, 1.0, 2.0]  # newton's slow rounds are not what is kept


def test_copies_time_each_batch_several_times(monkeypatch):
    """--copies K: every measurement also runs on K − 1 shuffled copies of its batch (same moments)."""
    seen = []
    real = bc._prepare

    def spy(name, base, backend, basis, quad, u, *args):
        seen.append((name, np.sort(u, axis=0).tobytes(), u.ctypes.data))
        return real(name, base, backend, basis, quad, u, *args)

    monkeypatch.setattr(bc, "_prepare", spy)
    rows = bc.run(orders=(1,), sizes=(40,), sets=("uniform",), closures=("newton",), repeat=1, copies=3,
                  log=lambda s: None)
    assert len(rows) == 1 and len(seen) == 3
    assert len({s[1] for s in seen}) == 1 and len({s[2] for s in seen}) == 3  # same moments, 3 arrays
    with pytest.raises(InputError, match="--copies"):
        bc.run(orders=(1,), sizes=(10,), sets=("uniform",), closures=("newton",), copies=0, log=lambda s: None)
