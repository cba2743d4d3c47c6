"""One registry helper for closures, integrators and problems; closure options declared as models and
checked when the input file is read, naming the file and the key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hpcclose import config
from hpcclose.closures.base import Closure
from hpcclose.errors import InputError
from hpcclose.problems.base import Problem
from hpcclose.registry import Registry
from hpcclose.scheme.integrators import Integrator

PLANE = Path(__file__).resolve().parents[2] / "inputs" / "plane_source_m2.toml"


def test_closures_integrators_and_problems_share_the_registry():
    for base, kind, some in [(Closure, "closure", "newton"), (Integrator, "time integrator", "ssprk2"),
                             (Problem, "problem", "line_source")]:
        assert isinstance(base.registry, Registry) and some in base.registry.names()
        with pytest.raises(InputError, match=rf"in.toml: {base.registry.key}: unknown {kind} 'nope'; available: "):
            base.registry.lookup("nope", "in.toml")


def test_every_closure_declares_its_options():
    for name in Closure.registry.names():
        options = Closure.registry.lookup(name).Options
        assert options.model_config.get("strict") and options.model_config.get("extra") == "forbid", name


@pytest.mark.parametrize("override, message", [
    ("closure.newton.tol=-1.0", "closure.newton.tol: Input should be greater than 0"),
    ("closure.newton.colour='blue'", "closure.newton.colour: unknown key"),
    ("closure.newton.k0=80", "closure.newton: k0 (80) must not exceed max_iter (60)"),
    ("closure.name='magic'", "closure.name: unknown closure 'magic'; available: "),
    ("closure.newtn.tol=1e-10", "closure.newtn: no closure is named 'newtn'"),
    ("closure.spline.size=10", "closure.spline.size: Input should be greater than or equal to 30"),  # not chosen
    ("closure.hybrid.newton.check=true", "closure.hybrid.newton: the fallback never raises"),
])
def test_closure_options_are_checked_when_the_input_is_read(override, message):
    extra = {"k0": ["closure.newton.max_iter=60"], "hybrid": ["closure.hybrid.model='ICNN15x7_M2_1D'"]}
    with pytest.raises(InputError, match="^" + re.escape(f"{PLANE}: {message}")):
        config.load(PLANE, [override, *(v for k, vs in extra.items() if k in override for v in vs)])
