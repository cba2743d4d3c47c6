"""TOML input → validated, typed configuration. Every error names the key and the file.

An input file has these tables (see ``inputs/*.toml``): ``[problem]`` (name + the problem's own
parameters), ``[mesh]``, ``[velocity]``, ``[closure]``, ``[scheme]``, ``[output]``, ``[parallel]``.
Unknown keys, wrong types and impossible values are errors. ``--set section.key=value`` overrides
are applied to the parsed TOML before validation, with values parsed as TOML (``scheme.cfl=0.5``,
``closure.name="pn"``, ``mesh.cells=[64,64]``).

Types are strict (:data:`hpcclose.validation.STRICT_INPUT`, shared by every validated input: simulation
and training files, problem parameters, closure options, command-line options): ``true`` is not an
integer, ``"0.5"`` is not a number, inf and nan are refused; an integer is a valid float, and a TOML array
fills a tuple field (:data:`~hpcclose.validation.TomlArray`). The closure's name and its options table are
checked against the closure registry and the closure's own options model. Memory and work a run needs are
checked once the grid is known (:mod:`hpcclose.resources`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from .errors import InputError
from .validation import STRICT_INPUT, TomlArray, read_input, validate

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
    """Moment basis and order, and the quadrature rule (:mod:`hpcclose.velocity.rules`): the sizes of a
    Gauss–Legendre (1D) or product (2D) rule, or a rule's kind sized by ``degree``; left out, the rule the
    order needs. 2D rules are folded to the hemisphere (μ > 0) unless ``hemisphere = false``."""

    basis: Literal["monomial", "legendre", "spherical_harmonics"] = "monomial"
    order: int = Field(ge=0, le=30, description="moment order N")
    quadrature: Quadrature | Literal["gauss_legendre", "lebedev", "product"] | None = Field(
        None, description="Gauss–Legendre points (1D), [n_mu, n_phi] (2D), or a rule: gauss_legendre (1D), "
                          "lebedev or product (2D); default: the rule the order needs")
    degree: int | None = Field(None, ge=1, le=2 * MAX_GAUSS_POINTS - 1,
                               description="polynomial degree the named rule integrates exactly (default 6N+5)")
    hemisphere: bool | None = Field(None, description="2D: fold the rule to μ > 0 (default true)")

    def check(self, dim: int) -> None:
        """Refuse (ValueError) a rule that does not exist on a ``dim``-D mesh, without building it."""
        from .velocity import rules

        kind, size = rules.check(dim, self.order, self.quadrature, self.degree, self.hemisphere)
        if kind == "product":
            try:
                _sphere_nodes(rules.product_sizes(size))
            except ValueError as exc:
                raise ValueError(f"velocity.degree: the product rule of degree {size}: {exc}") from None

    def rule(self, dim: int):
        """The quadrature of this table on a ``dim``-D mesh (ValueError for a combination that does not exist)."""
        from .velocity import rules

        return rules.build(dim, self.order, self.quadrature, self.degree, self.hemisphere)


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
    skip_unchanged: bool = Field(True, description="a cell whose moments are bitwise those last closed keeps "
                                 "its α, and its flux where no α of its stencil changed: the same bits, less work")

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
    """Ranks per axis, and where each rank's state lives: "cpu", or "gpu" (one GPU per local rank, the
    whole step on it: :mod:`hpcclose.gpu`)."""

    dims: Annotated[tuple[Annotated[int, Field(ge=1)], ...], TomlArray] | None = None
    device: Literal["cpu", "gpu"] = "cpu"
    cuda_aware_mpi: bool | None = Field(None, description="gpu: hand device buffers to MPI (true) or stage the "
                                        "halo through pinned host buffers (false); default: detected")

    @field_validator("device")
    @classmethod
    def _gpu_installed(cls, v):
        if v == "gpu":
            from .devices import cuda_missing

            missing = cuda_missing()
            if missing:
                raise ValueError(missing)
        return v


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
        self.velocity.check(self.mesh.dim)
        return self


def parse(text: str, source: str = "<input>", overrides: list[str] | None = None) -> Config:
    """Validate simulation-input TOML text (see :func:`validate`), the closure's options included."""
    cfg = validate(Config, text, source, overrides, overrides=tuple(overrides or ()))
    _check_closure_tables(cfg.closure, source)
    return cfg


def _check_closure_tables(closure: ClosureConfig, source: str) -> None:
    """The chosen closure must be registered, and every ``[closure.<name>]`` table must name a registered
    closure and hold valid options for it (so a typo in a table not used now is caught too)."""
    from .closures.base import Closure

    Closure.registry.lookup(closure.name, source)
    for name, table in (closure.model_extra or {}).items():
        if name not in Closure.registry.names():
            raise InputError(f"{source}: closure.{name}: no closure is named {name!r}; closures: "
                             f"{', '.join(Closure.registry.names())}")
        Closure.registry[name].parse_options(table, source)


def load(path: str | Path, overrides: list[str] | None = None) -> Config:
    """Read and validate a simulation input file."""
    return parse(read_input(path), str(path), overrides)
