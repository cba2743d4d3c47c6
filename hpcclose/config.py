"""TOML input → validated, typed configuration. Every error names the key and the file.

An input file has these tables (see ``inputs/*.toml``): ``[problem]`` (name + the problem's own
parameters), ``[mesh]``, ``[velocity]``, ``[closure]``, ``[scheme]``, ``[output]``, ``[parallel]``.
Unknown keys, wrong types and impossible values are errors. ``--set section.key=value`` overrides
are applied to the parsed TOML before validation, with values parsed as TOML (``scheme.cfl=0.5``,
``closure.name="pn"``, ``mesh.cells=[64,64]``).

Types are strict (:data:`STRICT_INPUT`, shared by every validated input: simulation and training files,
problem parameters, command-line options): ``true`` is not an integer, ``"0.5"`` is not a number, inf
and nan are refused; an integer is a valid float, and a TOML array fills a tuple field
(:data:`TomlArray`). Memory and work a run needs are checked once the grid is known
(:mod:`hpcclose.resources`).
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import tomllib
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    ValidationError,
    field_validator,
    model_validator,
)

from .errors import InputError

#: The rules of every validated input: unknown keys are errors, values are frozen, types are strict (no
#: bool for an int, no string for a number; an int is a valid float) and inf / nan are refused.
STRICT_INPUT = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)
#: Annotation for tuple fields: TOML (and argparse) give lists; the items stay strict.
TomlArray = Strict(False)
#: Gauss–Legendre points per axis: numpy's rule costs O(n²) memory and O(n³) time (2000 points take ~10 s
#: here), and a moment order ≤ 30 needs far fewer.
MAX_GAUSS_POINTS = 2000
#: Uniform φ points (2D) and nodes of a 2D product rule: every cell keeps one value per node.
MAX_PHI_POINTS = 4000
MAX_SPHERE_NODES = 1_000_000


def _sphere_nodes(quadrature: int | tuple[int, int]) -> int | tuple[int, int]:
    """Refuse a 2D product rule of more than :data:`MAX_SPHERE_NODES` nodes."""
    if isinstance(quadrature, tuple) and quadrature[0] * quadrature[1] > MAX_SPHERE_NODES:
        raise ValueError(f"[n_mu, n_phi] = {list(quadrature)} gives {quadrature[0] * quadrature[1]} nodes, "
                         f"more than the {MAX_SPHERE_NODES} allowed (every cell keeps a value per node)")
    return quadrature


GaussPoints = Annotated[int, Field(ge=1, le=MAX_GAUSS_POINTS)]
PhiPoints = Annotated[int, Field(ge=1, le=MAX_PHI_POINTS)]
#: Gauss–Legendre points (1D) or [n_mu, n_phi] (2D), as every input gives a quadrature.
Quadrature = Annotated[GaussPoints | Annotated[tuple[GaussPoints, PhiPoints], TomlArray],
                       AfterValidator(_sphere_nodes)]


class _Section(BaseModel):
    model_config = STRICT_INPUT


Cells = Annotated[int, Field(ge=1, description="cells along one axis")]


class MeshConfig(_Section):
    """Cartesian mesh: x (and y for 2D) extents, cells per axis given x first."""

    x: Annotated[tuple[float, float], TomlArray]
    y: Annotated[tuple[float, float], TomlArray] | None = None
    cells: Cells | Annotated[tuple[Cells, Cells], TomlArray] = Field(description="cells in x, or [nx, ny] in 2D")

    @field_validator("x", "y")
    @classmethod
    def _increasing(cls, v):
        if v is not None and not v[1] > v[0]:
            raise ValueError(f"upper bound must exceed lower bound, got {list(v)}")
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
    quadrature: Quadrature = Field(description="Gauss–Legendre points (1D) or [n_mu, n_phi] (2D)")


class ClosureConfig(BaseModel):
    """``name`` picks the closure; a sub-table named after a closure holds its options.

    ``[closure.newton] tol = 1e-10`` configures newton whether or not it is the chosen one, so an input
    can carry options for several closures and ``--set closure.name=pn`` just works.
    """

    model_config = ConfigDict(**{**STRICT_INPUT, "extra": "allow"})
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
    order: int = Field(2, ge=1, le=2, description="spatial order: 1 (upwind) or 2 (minmod)")
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
    dir: str = Field("runs/out", min_length=1)
    every: float | None = Field(None, gt=0.0, description="simulated time between field outputs")
    every_steps: int | None = Field(None, ge=1)
    checkpoint_every_steps: int | None = Field(None, ge=1)
    checkpoint_every_seconds: float | None = Field(None, gt=0.0, description="wall-clock seconds between "
                                                   "checkpoints (decided on the slowest rank's clock)")
    progress: bool = True


class ParallelConfig(_Section):
    dims: Annotated[tuple[Annotated[int, Field(ge=1)], ...], TomlArray] | None = None


class ProblemConfig(BaseModel):
    """``name`` picks the benchmark; the other keys are the problem's parameters (checked by it)."""

    model_config = ConfigDict(**{**STRICT_INPUT, "extra": "allow"})
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
    overrides: Annotated[tuple[str, ...], TomlArray] = Field((), exclude=True,
                                                             description="--set overrides applied to the text")

    @model_validator(mode="after")
    def _quadrature_matches_mesh(self):
        two_d = self.mesh.dim == 2
        if two_d != isinstance(self.velocity.quadrature, tuple):
            raise ValueError("velocity.quadrature must be [n_mu, n_phi] on a 2D mesh and an integer in 1D")
        return self


def _is_union_tag(part: str) -> bool:
    """pydantic names the alternative of a union an error came from in its location ('int',
    'tuple[int, int]', "literal['auto']", 'constrained-float'): that is not a key."""
    return part in ("int", "float", "str", "bool") or "[" in part or re.fullmatch(r"[a-z]+(-[a-z]+)+", part) is not None


def _split(err: dict) -> tuple[str, str | None]:
    """(dotted key, union alternative or None) of a pydantic error; list indices are dropped."""
    loc = err["loc"]
    if err["type"] == "extra_forbidden":  # the unknown key itself, however it is spelled
        return ".".join(str(p) for p in loc if not isinstance(p, int)), None
    parts = [p for p in loc if isinstance(p, str)]
    tags = [p for p in parts if _is_union_tag(p)]
    return ".".join(p for p in parts if p not in tags) or "<top>", (tags[0] if tags else None)


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _message(err: dict) -> str:
    """pydantic's message for one error, with the value it refused where that helps."""
    if err["type"] == "extra_forbidden":
        return "unknown key"
    if err["type"] == "missing":
        return "required key is missing"
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] not in ("value_error", "assertion_error") and not isinstance(err["input"], dict):
        msg += f" (got {_shown(err['input'])})"
    return msg


def _union_message(errors: list[dict]) -> str:
    """One message for the errors of a union's alternatives: the one whose type fitted but whose value
    did not (a bound, a length), else what the alternatives are."""
    fitted = [e for e in errors if not (e["type"].endswith("_type") or e["type"] in ("literal_error", "missing"))]
    if fitted:
        return _message(fitted[0])
    tags = dict.fromkeys(re.sub(r"literal\[(.*)\]", r"\1", _split(e)[1]).replace("constrained-", "")
                         .replace("tuple[", "[") for e in errors)
    whole = [e["input"] for e in errors if e["loc"] and e["loc"][-1] == _split(e)[1]]
    got = f", got {_shown(whole[0])}" if whole else ""
    return f"expected {' or '.join(tags)}{got}"


def input_error(exc: ValidationError, source: str, prefix: str = "", suffix: str = "") -> InputError:
    """One-line :class:`InputError` for the first problem pydantic found: ``source: prefix.key: message``.

    Shared by every validated input (simulation configs, problem parameters, training configs, command-line
    options). The errors of a union's alternatives (``cells = true`` against int | [nx, ny]) are one
    problem with one message.
    """
    errors = exc.errors()
    key, tag = _split(errors[0])
    if tag is None:
        msg = _message(errors[0])
    else:
        msg = _union_message([e for e in errors if _split(e)[0] == key and _split(e)[1] is not None])
    others = len(dict.fromkeys(_split(e)[0] for e in errors)) - 1
    more = f" (and {others} more problem(s))" if others else ""
    return InputError(f"{source}: {prefix}{key}: {msg}{suffix}{more}")


class Options(BaseModel):
    """Base of the models of command-line options (``hpcclose sample``, ``bench``): the rules of
    :data:`STRICT_INPUT`; fields are named as argparse's ``dest`` and errors name the option
    (``--max-norm``). Validate with :func:`check_options`."""

    model_config = ConfigDict(**STRICT_INPUT, alias_generator=lambda name: "--" + name.replace("_", "-"))


def check_options(model: type[Options], values: dict[str, Any], source: str) -> Options:
    """``values`` (by field name) validated as ``model``; a problem is an :class:`InputError`
    ``source: --option: message``."""
    try:
        return model(**{model.model_fields[k].alias: v for k, v in values.items()})
    except ValidationError as exc:
        raise input_error(exc, source) from None


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
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read {what} {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset {exc.start}): "
                         "TOML files are UTF-8") from None


def parse(text: str, source: str = "<input>", overrides: list[str] | None = None) -> Config:
    """Validate simulation-input TOML text (see :func:`validate`)."""
    return validate(Config, text, source, overrides, overrides=tuple(overrides or ()))


def load(path: str | Path, overrides: list[str] | None = None) -> Config:
    """Read and validate a simulation input file."""
    return parse(read_input(path), str(path), overrides)
