"""TOML input → validated, typed configuration. Every error names the key and the file.

An input file has these tables (see ``inputs/*.toml``): ``[problem]`` (name + the problem's own
parameters), ``[mesh]``, ``[velocity]``, ``[closure]``, ``[scheme]``, ``[output]``, ``[parallel]``.
Unknown keys, wrong types and impossible values are errors. ``--set section.key=value`` overrides
are applied to the parsed TOML before validation, with values parsed as TOML (``scheme.cfl=0.5``,
``closure.name="pn"``, ``mesh.cells=[64,64]``).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Literal

import tomllib
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import InputError


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MeshConfig(_Section):
    """Cartesian mesh: x (and y for 2D) extents, cells per axis given x first."""

    x: tuple[float, float]
    y: tuple[float, float] | None = None
    cells: int | tuple[int, int] = Field(description="cells in x, or [nx, ny] in 2D")

    @field_validator("x", "y")
    @classmethod
    def _increasing(cls, v):
        if v is not None and not v[1] > v[0]:
            raise ValueError(f"upper bound must exceed lower bound, got {list(v)}")
        return v

    @field_validator("cells")
    @classmethod
    def _positive(cls, v):
        if any(c < 1 for c in (v if isinstance(v, tuple) else (v,))):
            raise ValueError(f"every axis needs at least one cell, got {v}")
        return v

    @model_validator(mode="after")
    def _dims_agree(self):
        two_d = isinstance(self.cells, tuple)
        if two_d != (self.y is not None):
            raise ValueError("2D meshes give both y and cells = [nx, ny]; 1D meshes give neither")
        return self

    @property
    def dim(self) -> int:
        return 1 if self.y is None else 2


class VelocityConfig(_Section):
    basis: Literal["monomial", "legendre", "spherical_harmonics"] = "monomial"
    order: int = Field(ge=0, le=30, description="moment order N")
    quadrature: int | tuple[int, int] = Field(description="Gauss–Legendre points (1D) or [n_mu, n_phi] (2D)")

    @field_validator("quadrature")
    @classmethod
    def _positive(cls, v):
        if any(q < 1 for q in (v if isinstance(v, tuple) else (v,))):
            raise ValueError(f"quadrature sizes must be ≥ 1, got {v}")
        return v


class ClosureConfig(BaseModel):
    """``name`` picks the closure; a sub-table named after a closure holds its options.

    ``[closure.newton] tol = 1e-10`` configures newton whether or not it is the chosen one, so an input
    can carry options for several closures and ``--set closure.name=pn`` just works.
    """

    model_config = ConfigDict(extra="allow", frozen=True)
    name: str = "newton"
    on_failure: Literal["abort", "accept"] = "abort"

    @model_validator(mode="after")
    def _tables_only(self):
        for key, value in (self.model_extra or {}).items():
            if not isinstance(value, dict):
                raise ValueError(f"unknown key {key!r}: closure options go in a table [closure.<name>], "
                                 f"e.g. [closure.{self.name}] {key} = …")
        return self

    @property
    def options(self) -> dict[str, Any]:
        """Options of the chosen closure (its sub-table, or none)."""
        return dict((self.model_extra or {}).get(self.name, {}))


class SchemeConfig(_Section):
    order: Literal[1, 2] = 2
    theta: float = Field(2.0, ge=1.0, le=2.0, description="minmod limiter parameter")
    integrator: str = Field("ssprk2", description="a registered time integrator (euler, ssprk2, ssprk3)")
    cfl: float = Field(0.95, gt=0.0, description="fraction of the realizability-preserving time step")
    t_final: float = Field(gt=0.0)
    max_steps: int | None = Field(None, ge=1)
    realizability_reconstruction: bool = False

    @field_validator("integrator")
    @classmethod
    def _registered(cls, v):
        from .scheme.integrators import available

        if v not in available():
            raise ValueError(f"unknown time integrator {v!r}; available: {', '.join(available())}")
        return v


class OutputConfig(_Section):
    dir: str = "runs/out"
    every: float | None = Field(None, gt=0.0, description="simulated time between field outputs")
    every_steps: int | None = Field(None, ge=1)
    checkpoint_every_steps: int | None = Field(None, ge=1)
    checkpoint_every_seconds: float | None = Field(None, gt=0.0, description="wall-clock seconds between "
                                                   "checkpoints (decided on the slowest rank's clock)")
    progress: bool = True


class ParallelConfig(_Section):
    dims: tuple[int, ...] | None = None


class ProblemConfig(BaseModel):
    """``name`` picks the benchmark; the other keys are the problem's parameters (checked by it)."""

    model_config = ConfigDict(extra="allow", frozen=True)
    name: str

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class Config(_Section):
    problem: ProblemConfig
    mesh: MeshConfig
    velocity: VelocityConfig
    closure: ClosureConfig = ClosureConfig()
    scheme: SchemeConfig
    output: OutputConfig = OutputConfig()
    parallel: ParallelConfig = ParallelConfig()
    source: str = Field("<input>", exclude=True, description="file the config came from")
    text: str = Field("", exclude=True, description="the input text, kept for output files")
    overrides: tuple[str, ...] = Field((), exclude=True, description="--set overrides applied to the text")

    @model_validator(mode="after")
    def _quadrature_matches_mesh(self):
        two_d = self.mesh.dim == 2
        if two_d != isinstance(self.velocity.quadrature, tuple):
            raise ValueError("velocity.quadrature must be [n_mu, n_phi] on a 2D mesh and an integer in 1D")
        return self


def _location(loc: tuple) -> str:
    return ".".join(str(p) for p in loc if not isinstance(p, int)) or "<top>"


def input_error(exc: ValidationError, source: str, prefix: str = "", suffix: str = "") -> InputError:
    """One-line :class:`InputError` for the first problem pydantic found: ``source: prefix.key: message``.

    Shared by every validated input (simulation configs, problem parameters, training configs).
    """
    err = exc.errors()[0]
    key = prefix + _location(err["loc"])
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        msg = "unknown key"
    elif err["type"] == "missing":
        msg = "required key is missing"
    more = f" (and {exc.error_count() - 1} more problem(s))" if exc.error_count() > 1 else ""
    return InputError(f"{source}: {key}: {msg}{suffix}{more}")


def apply_overrides(data: dict, overrides: list[str], source: str) -> dict:
    """Apply ``section.key=value`` overrides (values in TOML syntax) to parsed TOML data."""
    data = copy.deepcopy(data)
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise InputError(f"--set {item!r}: expected section.key=value")
        try:
            value = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw  # a bare word: take it as a string (closure.name=pn)
        node = data
        *parents, leaf = key.strip().split(".")
        for p in parents:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise InputError(f"--set {key}: {p} is not a table in {source}")
        node[leaf] = value
    return data


def validate(model: type[BaseModel], text: str, source: str, sets: list[str] | None = None, **extra):
    """TOML ``text`` (plus ``--set`` overrides) validated as ``model``; every problem is an
    :class:`InputError` naming the key and ``source``. Shared by simulation and training inputs."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{source}: not valid TOML: {exc}") from None
    data = apply_overrides(data, sets or [], source)
    try:
        return model(**data, source=source, text=text, **extra)
    except ValidationError as exc:
        raise input_error(exc, source) from None


def read_input(path: str | Path, what: str = "input file") -> str:
    """The text of an input file, or an :class:`InputError` naming it."""
    try:
        return Path(path).read_text()
    except OSError as exc:
        raise InputError(f"cannot read {what} {path}: {exc.strerror}") from None


def parse(text: str, source: str = "<input>", overrides: list[str] | None = None) -> Config:
    """Validate simulation-input TOML text (see :func:`validate`)."""
    return validate(Config, text, source, overrides, overrides=tuple(overrides or ()))


def load(path: str | Path, overrides: list[str] | None = None) -> Config:
    """Read and validate a simulation input file."""
    return parse(read_input(path), str(path), overrides)
