"""What a new user meets in the first hour: the names, units and descriptions in the files, the CSV's
header, the plots, ``--version``, help on every option, a quiet ``info``, and the progress bar under
``mpiexec`` in a terminal with every log line beside it, never on it."""

from __future__ import annotations

import csv
import fcntl
import logging
import os
import pty
import re
import struct
import subprocess
import sys
import termios
import time
import xml.etree.ElementTree as ET
from dataclasses import fields as dataclass_fields

import h5py
import numpy as np
import pytest
from conftest import MPIEXEC, ROOT, hpcclose_cmd

from hpcclose import __version__
from hpcclose.__main__ import build_parser
from hpcclose.cli.plot import parse_frames
from hpcclose.diagnostics import COLUMNS, StepRecord
from hpcclose.errors import InputError
from hpcclose.io.attrs import from_attr
from hpcclose.plot import plot
from hpcclose.plot.figure import RunInfo
from hpcclose.velocity import Basis
from hpcclose.velocity.names import current_components

PLANE = "plane_source_m2.toml"
CALCULATOR_SAFE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


# --- names ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind, dim", [("monomial", 1), ("legendre", 1), ("monomial", 2),
                                       ("spherical_harmonics", 2)])
@pytest.mark.parametrize("N", range(0, 6))
def test_component_names_are_one_scheme(kind, dim, N):
    """u0 first in every basis, then names of the basis functions: unique, usable in ParaView's Calculator."""
    labels = Basis(kind, dim, N).labels
    assert labels[0] == "u0" and len(set(labels)) == len(labels)
    assert all(CALCULATOR_SAFE.fullmatch(n) for n in labels)
    assert len(labels) == Basis(kind, dim, N).n


def test_names_of_the_2d_bases_and_where_the_current_is():
    assert Basis("monomial", 2, 2).labels == ["u0", "u_x", "u_y", "u_xx", "u_xy", "u_yy"]
    assert Basis("monomial", 1, 2).labels == ["u0", "u_x", "u_xx"]
    assert Basis("legendre", 1, 2).labels == ["u0", "u_P1", "u_P2"]
    assert current_components(Basis("monomial", 2, 2)) == [1, 2]
    assert current_components(Basis("legendre", 1, 3)) == [1]
    assert current_components(Basis("spherical_harmonics", 2, 2)) is None  # degree 1 is √3 J there
    assert current_components(Basis("monomial", 2, 0)) is None


@pytest.mark.slow
@pytest.mark.parametrize("dim", ["1d", "2d"])
def test_files_xdmf_and_plots_use_the_basis_names(small_runs, dim):
    run_dir = small_runs[dim]
    path = sorted(run_dir.glob("fields_*.h5"))[-1]
    with h5py.File(path, "r") as f:
        basis = Basis(str(f.attrs["basis"]), int(f.attrs["dim"]), int(f.attrs["N"]))
        assert list(from_attr(f["fields/u"].attrs["components"])) == basis.labels
        assert list(from_attr(f["fields/alpha"].attrs["components"])) == ["alpha" + n[1:] for n in basis.labels]
    xdmf = ET.parse(path.with_suffix(".xdmf")).getroot()
    names = [a.get("Name") for a in xdmf.iter("Attribute")]
    assert set(basis.labels) <= set(names)
    assert ("current" in names) == (dim == "2d")
    info = RunInfo.read(path)
    assert [c.name for c in info.components] == basis.labels
    assert all(f"[{n}]" in info.label(k) for k, n in enumerate(basis.labels))  # plots show the file's name


def test_signed_components_are_those_whose_basis_function_changes_sign():
    """Signed moments get a zero-centred diverging map: u_x, u_y, u_xy; u0, u_xx, u_yy never go negative."""
    m = Basis("monomial", 2, 2)
    values = m.evaluate(m.reference_quadrature)
    signed = [bool(values[:, k].min() < 0 < values[:, k].max()) for k in range(m.n)]
    assert signed == [False, True, True, False, True, False]


# --- units and descriptions ----------------------------------------------------------------------------
def _datasets(path):
    found = []
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: found.append((name, dict(obj.attrs))) if isinstance(obj, h5py.Dataset)
                     else None)
        root = dict(f.attrs)
    return found, root


@pytest.mark.slow
@pytest.mark.parametrize("dim", ["1d", "2d"])
def test_every_dataset_has_units_and_long_name(small_runs, dim):
    run_dir = small_runs[dim]
    for pattern in ("fields_*.h5", "checkpoint_*.h5", "diagnostics.h5"):
        for path in run_dir.glob(pattern):
            found, root = _datasets(path)
            assert found
            for name, attrs in found:
                assert attrs.get("units") in ("1", "s"), f"{path.name}:{name}"
                assert from_attr(attrs.get("long_name", "")), f"{path.name}:{name}"
            if pattern != "diagnostics.h5":
                assert "nondimensional" in from_attr(root["units_convention"])
    found, _ = _datasets(sorted(run_dir.glob("fields_*.h5"))[-1])
    u = dict(found)["fields/u"]
    assert len(from_attr(u["component_long_names"])) == len(from_attr(u["components"]))


def test_every_diagnostics_column_has_units_and_meaning():
    assert list(COLUMNS) == [f.name for f in dataclass_fields(StepRecord)]
    for name, (units, meaning) in COLUMNS.items():
        assert units in ("1", "s") and meaning, name
        assert name in ("step", "t") or meaning.startswith(("state at t:", "per step:")), name


@pytest.mark.slow
def test_csv_header_then_units_then_rows(small_runs):
    """diagnostics.csv: the column names (as in diagnostics.h5), one '# name [units]: meaning' line per
    column, then the rows; numpy reads it with its defaults."""
    path = small_runs["1d"] / "diagnostics.csv"
    lines = path.read_text().splitlines()
    header = lines[0].split(",")
    with h5py.File(small_runs["1d"] / "diagnostics.h5", "r") as f:
        assert header == list(from_attr(f.attrs["columns"]))
    comments = lines[1: 1 + len(header)]
    for name, line in zip(header, comments, strict=True):
        units, meaning = COLUMNS[name]
        assert line == f"# {name} [{units}]: {meaning}"
    rows = [r for r in csv.reader(lines[1 + len(header):])]
    assert rows and all(len(r) == len(header) and not r[0].startswith("#") for r in rows)
    table = np.genfromtxt(path, delimiter=",", names=True)
    assert table.dtype.names == tuple(header) and table.shape == (len(rows),)
    assert table["wall"].min() > 0


# --- command line --------------------------------------------------------------------------------------
def test_version(capsys):
    with pytest.raises(SystemExit) as stop:
        build_parser().parse_args(["--version"])
    assert stop.value.code == 0 and capsys.readouterr().out.strip() == f"hpcclose {__version__}"


def _options(parser, path):
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _options(sub, [*path, name])
        elif action.dest != "help":
            yield " ".join(path), action


def test_every_option_has_help():
    missing = [f"{where}: {a.option_strings or a.dest}" for where, a in _options(build_parser(), ["hpcclose"])
               if not a.help]
    assert not missing


@pytest.mark.slow
def test_info_is_quick_and_leaves_tensorflow_alone():
    """What made `info` slow was importing TensorFlow (~7 s); it must not (no wall-clock assertion: the
    test machines are shared)."""
    code = ("import sys; from hpcclose.__main__ import main; main(['info']); "
            "print('tensorflow imported:', 'tensorflow' in sys.modules)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert res.returncode == 0 and "tensorflow imported: False" in res.stdout
    assert res.stderr == ""  # nothing printed besides the table


# --- plots ---------------------------------------------------------------------------------------------
def test_frames_option():
    assert parse_frames("all") is None and parse_frames("0,2,-1") == [0, 2, -1]
    with pytest.raises(InputError, match="--frames"):
        parse_frames("last")


@pytest.mark.slow
def test_plots_of_a_1d_and_a_2d_run(small_runs, tmp_path, caplog):
    made = plot(small_runs["1d"], tmp_path / "p1", exact=True)
    assert [p.name for p in made] == ["profiles.png", "histories.png"]
    with caplog.at_level(logging.WARNING, logger="hpcclose"):
        made = plot(small_runs["2d"], tmp_path / "p2", exact=True, frames=[-1])
    last = sorted(small_runs["2d"].glob("fields_*.h5"))[-1]
    assert [p.name for p in made] == [f"{last.stem}.png", "histories.png"]
    assert "--exact" not in caplog.text  # the exact line source is drawn on the radial profile
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="hpcclose"):
        plot(small_runs["2d"], tmp_path / "p5", exact=True, frames=[0])
    assert "--exact: no exact solution of this run at t = 0" in caplog.text  # said, not silently ignored
    everything = plot(small_runs["2d"], tmp_path / "p3")
    assert len(everything) == len(list(small_runs["2d"].glob("fields_*.h5"))) + 1
    with pytest.raises(InputError, match="--frames: no output 99"):
        plot(small_runs["2d"], tmp_path / "p4", frames=[99])


# --- the progress bar under mpiexec in a terminal ---------------------------------------------------------
def _screen(raw: str) -> list[str]:
    """The lines a terminal shows for ``raw``: carriage return to column 0, newline to the next line,
    characters overwrite what is under the cursor."""
    lines, row, col = [[]], 0, 0
    for ch in re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", raw):
        if ch == "\r":
            col = 0
        elif ch == "\n":
            row, col = row + 1, 0
            lines.append([])
        else:
            line = lines[row]
            line.extend(" " * (col - len(line) + 1) if col >= len(line) else "")
            line[col] = ch
            col += 1
    return ["".join(line).rstrip() for line in lines]


def _in_terminal(argv: list[str], timeout: float = 240) -> tuple[int, str]:
    """Run ``argv`` with a pseudo-terminal (100 columns) as its stdin, stdout and stderr; all it printed."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    env = {**os.environ, "NUMBA_NUM_THREADS": "1", "TERM": "xterm"}
    proc = subprocess.Popen(argv, stdin=follower, stdout=follower, stderr=follower, cwd=ROOT, env=env,
                            start_new_session=True)
    os.close(follower)
    chunks, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            data = os.read(leader, 4096)
        except OSError:  # EIO: every writer closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(leader)
    return proc.wait(timeout=30), b"".join(chunks).decode(errors="replace")


@pytest.mark.slow
def test_mpiexec_in_a_terminal_shows_the_bar_and_logs_beside_it(tmp_path):
    status, raw = _in_terminal([MPIEXEC, "-n", "2", *hpcclose_cmd(), "run", str(ROOT / "inputs" / PLANE),
                                "--set", f"output.dir='{tmp_path / 'run'}'", "--set", "scheme.t_final=0.3",
                                "--set", "output.every=0.1"])
    assert status == 0, raw
    screen = _screen(raw)
    bar = re.compile(r"\s*\d+%\|.*\| t=[0-9.e+-]+/0\.3 \[")
    assert any(bar.match(line) for line in screen), raw  # the bar is drawn on rank 0's terminal
    final = [line for line in screen if bar.match(line)][-1]
    assert final.startswith("100%") and "cell-updates/s]" in final and ", step" not in final.split("[")[0]
    logs = [line for line in screen if " INFO " in line]
    assert logs, raw
    for line in logs:  # every log line starts on a line of its own, and no bar is drawn over it
        assert re.match(r"\d\d:\d\d:\d\d \[0/2\] INFO ", line), line
        assert not re.search(r"\d+%\|", line), line
    written = [line for line in logs if "wrote" in line and "fields_" in line]
    assert len(written) == 4 and all(line.endswith("(2 rank(s), fields u, alpha)") for line in written)
    assert not any("INFO" in line for line in screen if bar.match(line))
