"""Kernels are compiled before a run's clock starts: the tiny copy reaches every kernel the run calls."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hpcclose import config, warmup

ROOT = Path(__file__).resolve().parents[2]
SIMULATIONS = [p for p in sorted((ROOT / "inputs").glob("*.toml")) if not p.name.startswith("train_")]

# In a fresh process (nothing compiled yet in memory): warm up, then run two steps of the real thing and
# count the signatures Numba compiled meanwhile.
CHECK = """
import sys, numba
from mpi4py import MPI
from hpcclose import config, warmup
from hpcclose.solver import Simulation

def compiled():
    return {id(o): len(o.signatures) for name, m in list(sys.modules.items()) if name.startswith("hpcclose")
            for o in vars(m).values() if isinstance(o, numba.core.registry.CPUDispatcher)}

cfg = config.load(sys.argv[1], ["scheme.max_steps=2"])
if sys.argv[2] == "warm":
    warmup.warm_up(cfg)
before = compiled()
sim = Simulation(cfg, comm=MPI.COMM_SELF)
sim.prime()
while not sim.done():
    sim.step()
print(sum(n - before.get(k, 0) for k, n in compiled().items()))
"""


def _compiled_during_run(path: Path, warm: bool) -> int:
    res = subprocess.run([sys.executable, "-c", CHECK, str(path), "warm" if warm else "cold"], capture_output=True,
                         text=True, timeout=300, cwd=ROOT, env={"NUMBA_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})
    assert res.returncode == 0, res.stderr
    return int(res.stdout.split()[-1])


@pytest.mark.slow  # a fresh process per input
@pytest.mark.parametrize("path", SIMULATIONS, ids=[p.stem for p in SIMULATIONS])
def test_the_tiny_copy_compiles_what_the_run_calls(path):
    assert _compiled_during_run(path, warm=True) == 0


@pytest.mark.slow
def test_without_the_warm_up_the_run_compiles():
    """The check above can fail: a cold run compiles (or loads) its kernels itself."""
    assert _compiled_during_run(SIMULATIONS[0], warm=False) > 0


def test_the_tiny_copy_keeps_the_cell_width_and_one_rank():
    cfg = config.load(ROOT / "inputs" / "line_source_m2.toml", ["parallel.dims=[2,1]"])
    small = warmup.tiny(cfg)
    assert small.mesh.cells == (warmup.TINY_CELLS,) * 2 and small.scheme.max_steps == warmup.TINY_STEPS == 2
    assert small.parallel.dims is None and small.closure.on_failure == "accept"
    for axis in ("x", "y"):
        big, little = getattr(cfg.mesh, axis), getattr(small.mesh, axis)
        n = cfg.mesh.cells[0 if axis == "x" else 1]
        assert (little[1] - little[0]) / warmup.TINY_CELLS == pytest.approx((big[1] - big[0]) / n, rel=1e-14)
