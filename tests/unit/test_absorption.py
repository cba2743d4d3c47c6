"""The absorption recorder (hpcclose.stepping.absorption) against an independent computation: the rates
∫ σa u0 dA of the lattice's and the hohlraum's regions recomputed from the field files the run writes
after every step, with σa and the regions written out here from KiT-RT's definitions (``Lattice_SN``,
``SymmetricHohlraum``, and the sums of ``SNSolverHPC``, which made the paper's data), and their time
integral by the trapezoid rule over the written times."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from mpi4py import MPI

from hpcclose import config
from hpcclose.driver import run_loop
from hpcclose.io.fields import read_fields
from hpcclose.io.run_dir import RunDirectory
from hpcclose.plot.figure import grid_of
from hpcclose.solver import Simulation
from hpcclose.stepping.absorption import AbsorptionRecorder

INPUTS = Path(__file__).resolve().parents[2] / "inputs"


def _lattice_sigma_a(x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    """σa of the absorbing squares: the unit squares [k+1, k+2] × [l+1, l+2], k + l even, but (2, 2), (2, 4)."""
    sigma = np.zeros(x.shape)
    for k in range(5):
        for m in range(5):
            if (k + m) % 2 or (k, m) in ((2, 2), (2, 4)):
                continue
            inside = (x >= k + 1) & (x <= k + 2) & (y >= m + 1) & (y <= m + 2)
            sigma[inside] = 10.0
    return {"absorbers": sigma}


def _hohlraum_sigma_a(x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    """σa = σt − σs in SNSolverHPC's three absorption sums: the capsule (blue interior 100, green shell 10),
    red walls (5), black walls (50)."""
    blue = (np.abs(x) < 0.15) & (np.abs(y) < 0.35)
    green = (np.abs(x) < 0.2) & (np.abs(y) < 0.4) & ~blue
    return {"center": np.where(blue, 100.0, np.where(green, 10.0, 0.0)),
            "vertical": np.where((np.abs(x) > 0.6) & (np.abs(y) < 0.4), 5.0, 0.0),
            "horizontal": np.where(np.abs(y) > 0.6, 50.0, 0.0)}


def _run_writing_every_step(tmp_path: Path, name: str, overrides: list[str]) -> AbsorptionRecorder:
    cfg = config.load(INPUTS / name, overrides + [f"output.dir='{tmp_path}'", "output.every_steps=1",
                                                  "output.progress=false"])
    sim = Simulation(cfg, comm=MPI.COMM_SELF)
    rec = AbsorptionRecorder(sim)
    sim.observers.add(rec)  # started by the run loop with its own observers
    run_loop(sim, RunDirectory(sim), progress=False)
    return rec


def _from_fields(run_dir: Path, sigma_a) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray]:
    """(times, rates per region, mass) recomputed from every written field file."""
    times, rates, mass = [], [], []
    for path in sorted(run_dir.glob("fields_*.h5")):
        fields, attrs = read_fields(path, ["u"])
        g = grid_of(path)
        y, x = np.meshgrid(g["y"], g["x"], indexing="ij")
        area = np.diff(g["x_edges"])[None, :] * np.diff(g["y_edges"])[:, None]
        u0 = fields["u"][..., 0]
        times.append(float(attrs["time"]))
        rates.append({k: float(np.sum(s * u0 * area)) for k, s in sigma_a(x, y).items()})
        mass.append(float(np.sum(u0 * area)))
    return np.array(times), {k: np.array([r[k] for r in rates]) for k in rates[0]}, np.array(mass)


@pytest.mark.parametrize("name, overrides, sigma_a", [
    ("checkerboard_m1.toml", ["mesh.cells=[28,28]", "velocity.quadrature=[4,8]", "scheme.t_final=0.5"],
     _lattice_sigma_a),
    ("hohlraum_m1.toml", ["mesh.cells=[52,52]", "velocity.quadrature=[4,8]", "scheme.max_steps=12"],
     _hohlraum_sigma_a),
])
def test_recorder_equals_the_absorption_of_the_written_fields(tmp_path, name, overrides, sigma_a):
    rec = _run_writing_every_step(tmp_path, name, overrides)
    times, rates, mass = _from_fields(tmp_path, sigma_a)
    assert [r["t"] for r in rec.rows] == pytest.approx(times.tolist(), abs=1e-14)
    assert sorted(rates) == sorted(rec.names)
    np.testing.assert_allclose([r["mass"] for r in rec.rows], mass, rtol=1e-12)
    for k, rate in rates.items():
        assert rate[-1] > 0, k  # every region absorbs something by the end
        np.testing.assert_allclose([r[k] for r in rec.rows], rate, rtol=1e-11, atol=1e-300)
        # the cumulated absorption: the trapezoid rule over every step's written state
        total = np.concatenate([[0.0], np.cumsum(0.5 * np.diff(times) * (rate[1:] + rate[:-1]))])
        np.testing.assert_allclose([r[f"{k}_total"] for r in rec.rows], total, rtol=1e-11, atol=1e-300)
