"""TOML input of ``hpcclose train`` → validated, typed configuration (errors name the key and the file).

Tables (see ``inputs/train_*.toml``)::

    [model]     kind = "icnn" | "mlp" | "monotone", width, depth, symmetric ([A eq. 45]; with rotation: the
                reflections Ωx → −Ωx, Ωy → −Ωy of the reduced frame; "y": Ωy → −Ωy only), rotation (2D: a
                rotation-invariant network on the reduced coordinates, closures/neural/rotation.py; its data
                are turned into that frame), alpha0 ("gradient" | "normalisation"; default: gradient for mlp
                [A], normalisation else [B]),
                name (default NN{D}x{W}_{N}, ICNN{W}x{D}_M{N}_{dim}D, MONO…), seed
    [velocity]  basis, dim (1 | 2), order (N), quadrature (points, or [n_mu, n_phi] in 2D)
    [data]      sampler = "grid" (size, bounds) | "sobol" (count, max_norm, tau) | "moments" (count, eps:
                uniform in the slab's moments, α by Newton) | "file" (file); reduced (2D: sobol and moments
                in the reduced coordinates of a rotation-invariant network, data/reduced_sampling.py; the 2D
                moment sampler needs it); seed, validation_fraction (0.1), save (write the sampled data set to
                this HDF5 file)
    [[data.extra]]  max_norm, count: more Sobol points of B_{max_norm,τ} (sobol only; seeds seed+1, …)
    [training]  epochs, batch_size, learning_rate, lr_decay (factor), lr_decay_epochs (the factor is
                reached after this many epochs; smooth exponential), validate_every, checkpoint_every,
                xla (compile the training step with XLA), seed, lbfgs_iterations (full-batch
                L-BFGS-B refinement after Adam, :mod:`.lbfgs`; 0: none), lbfgs_memory, initial_model
                (continue from a model file of the same layout; epochs = 0 runs L-BFGS only, which a
                monotone network needs)
    [training.early_stopping]  monitor, target (stop once below), patience (epochs), min_delta
    [loss]      h, alpha, u, mono, jacobian (weights; u = "auto" gives [A]'s λ = 1/mean‖w‖²; jacobian: the
                local monotonicity/convexity term, :mod:`.losses`, off by default), jacobian_margin
                (λ_min it asks for, units of ∇α̃), jacobian_power (1 hinge, 2 squared), jacobian_points
                (training points carrying it in L-BFGS), jacobian_box_points (unlabelled realizable
                points around the training data's bounding box where it is imposed too, in L-BFGS),
                jacobian_search (grid points per axis searched for counterexamples between L-BFGS rounds,
                :mod:`.counterexamples`; 0: off), jacobian_search_every (iterations per round),
                jacobian_search_add (points added per round at most), jacobian_search_margin (realizability
                margin of the searched grid), jacobian_search_neighbours (random points of its grid cell
                added with each failing point)
    [output]    model (the network file to write), plots (loss curves PNG), history (JSON),
                convexity_points (size of the dense test set of the convexity report; 0: skip)
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, Field, model_validator

from ..config import Quadrature
from ..validation import STRICT_INPUT, TomlArray, read_input, validate

Count = Annotated[int, Field(ge=1)]
PathText = Annotated[str, Field(min_length=1)]


class _Section(BaseModel):
    model_config = STRICT_INPUT


class ModelSection(_Section):
    kind: Literal["icnn", "mlp", "monotone"]
    width: int = Field(ge=1, le=4096)
    depth: int = Field(ge=0, le=256)
    symmetric: bool | Literal["y"] = Field(False, description="average over reflections ([A eq. 45]); \"y\" "
                                           "(rotation networks): over Ωy → −Ωy only, the one that keeps v_x ≥ 0")
    alpha0: Literal["gradient", "normalisation"] | None = None
    name: str | None = None
    seed: int = 0
    rotation: bool = Field(False, description="rotation-invariant 2D network on the reduced coordinates")

    @model_validator(mode="after")
    def _reflection_fits(self):
        if self.symmetric == "y" and not self.rotation:
            raise ValueError("symmetric = 'y' (the reflection Ωy → −Ωy of the reduced frame) needs rotation = true")
        return self

    @model_validator(mode="after")
    def _alpha0_fits(self):
        if self.kind == "monotone" and self.alpha0 == "gradient":
            raise ValueError("alpha0 = 'gradient' needs an entropy network (mlp, icnn); the monotone network "
                             "predicts α̃ only, so α0 comes from the normalisation")
        return self

    @property
    def alpha0_convention(self) -> str:
        return self.alpha0 or ("gradient" if self.kind == "mlp" else "normalisation")


class VelocitySection(_Section):
    basis: Literal["monomial", "legendre", "spherical_harmonics"] = "monomial"
    dim: int = Field(1, ge=1, le=2)
    order: int = Field(ge=1, le=30, description="moment order N")
    quadrature: Quadrature

    @model_validator(mode="after")
    def _consistent(self):
        if (self.dim == 2) != isinstance(self.quadrature, tuple):
            raise ValueError("quadrature must be [n_mu, n_phi] in 2D and an integer in 1D")
        if self.dim == 1 and self.basis == "spherical_harmonics":
            raise ValueError("spherical harmonics are a 2D basis; use 'legendre' or 'monomial' in 1D")
        if self.dim == 2 and self.basis == "legendre":
            raise ValueError("the Legendre basis is 1D; use 'monomial' or 'spherical_harmonics' in 2D")
        return self


class ExtraBall(_Section):
    """Extra Sobol points from a smaller ball ‖α̃‖ < max_norm (same τ): uniform α̃ sampling leaves the
    near-isotropic interior thin, and that is where the moments are most sensitive to α."""
    max_norm: float = Field(gt=0.0)
    count: int = Field(ge=1)


class DataSection(_Section):
    sampler: Literal["grid", "sobol", "moments", "file"]
    file: PathText | None = None
    size: Count | list[Count] | None = Field(None, description="grid points per α̃ axis")
    bounds: Annotated[tuple[float, float], TomlArray] = (-65.0, 65.0)
    count: int | None = Field(None, ge=10)
    max_norm: float | None = Field(None, gt=0.0)
    tau: float = Field(1e-7, ge=0.0)
    eps: float | None = Field(None, gt=0.0, lt=0.5, description="moments: distance inside the realizable set")
    seed: int = 0
    validation_fraction: float = Field(0.1, gt=0.0, lt=1.0)
    save: PathText | None = None
    extra: list[ExtraBall] = Field(default_factory=list)
    reduced: bool = Field(False, description="2D: sample in the reduced coordinates (first moment along Ωx)")

    @model_validator(mode="after")
    def _sampler_keys(self):
        need = {"grid": ("size",), "sobol": ("count", "max_norm"), "moments": ("count", "eps"),
                "file": ("file",)}[self.sampler]
        missing = [k for k in need if getattr(self, k) is None]
        if missing:
            raise ValueError(f"sampler {self.sampler!r} needs {', '.join(missing)}")
        if self.sampler == "grid" and not self.bounds[0] < self.bounds[1]:
            raise ValueError(f"bounds must be increasing, got {list(self.bounds)}")
        if self.extra and self.sampler != "sobol":
            raise ValueError(f"extra: balls of extra points need sampler 'sobol', not {self.sampler!r}")
        if self.reduced and self.sampler == "grid":  # a file's data are in the frame they were written in
            raise ValueError("reduced: the samplers 'sobol' and 'moments' sample in reduced coordinates, not "
                             "'grid'")
        return self


class EarlyStopping(_Section):
    monitor: Literal["val_loss", "val_mse_h", "val_mse_alpha", "val_mse_u"] = "val_loss"
    target: float | None = Field(None, ge=0.0, description="stop once the monitored value is below this")
    patience: int = Field(1500, ge=1, description="stop after this many epochs without improvement")
    min_delta: float = Field(1e-9, ge=0.0, description="an improvement must exceed this")


class TrainingSection(_Section):
    epochs: int = Field(15000, ge=0)
    batch_size: int = Field(50, ge=1)
    learning_rate: float = Field(1e-3, gt=0.0)
    lr_decay: float = Field(0.1, gt=0.0, le=1.0)
    lr_decay_epochs: int = Field(5000, ge=1)
    validate_every: int = Field(1, ge=1)
    checkpoint_every: int = Field(100, ge=1, description="epochs between writes of the best model so far")
    xla: bool = False
    seed: int = 0
    lbfgs_iterations: int = Field(0, ge=0, description="full-batch L-BFGS-B steps after Adam (0: none)")
    lbfgs_memory: int = Field(50, ge=1, le=1000, description="L-BFGS history length")
    initial_model: PathText | None = Field(None, description="model file whose weights and scalings start the "
                                      "training (same architecture and layout; a monotone one with epochs = 0): "
                                      "continue a run")
    early_stopping: EarlyStopping = EarlyStopping()


class LossSection(_Section):
    """Loss weights; None picks the paper's value for the model kind (see :func:`losses.weights`)."""

    h: float | None = Field(None, ge=0.0)
    alpha: float | None = Field(None, ge=0.0)
    u: Annotated[float, Field(ge=0.0)] | Literal["auto"] | None = None
    mono: float | None = Field(None, ge=0.0)
    jacobian: float | None = Field(None, ge=0.0, description="weight of mean ReLU(−λ_min(sym ∇α*)) at the "
                                   "training points (not in the papers; 0 by default)")
    jacobian_margin: float = Field(0.0, ge=0.0, description="the jacobian term asks λ_min(sym ∇α̃) ≥ this "
                                   "(0: ≥ 0)")
    jacobian_power: int = Field(1, ge=1, le=2, description="1: hinge; 2: squared hinge (smooth, for large "
                                          "weights under L-BFGS)")
    jacobian_points: int = Field(16384, ge=1, description="training points carrying the jacobian term "
                                 "in the L-BFGS refinement (a fixed subset)")
    jacobian_box_points: int = Field(0, ge=0, description="random realizable points around the "
                                     "training data's bounding box where the jacobian term is imposed too "
                                     "(no labels; convexity.random_realizable)")
    jacobian_search: int = Field(0, ge=0, le=200, description="grid points per axis of the region searched "
                                 "between L-BFGS rounds for points where the jacobian term's condition fails; "
                                 "they join its points (counterexample-guided; 0: off)")
    jacobian_search_every: int = Field(50, ge=1, description="L-BFGS iterations between two searches")
    jacobian_search_add: int = Field(4096, ge=1, description="counterexamples added per search at most "
                                     "(the worst first)")
    jacobian_search_margin: float = Field(1e-4, gt=0.0, description="realizability margin of the searched grid "
                                          "(a tenth of the dense test set's by default)")
    jacobian_search_neighbours: int = Field(8, ge=0, le=64, description="random points of its grid cell added "
                                            "with each failing point")


class OutputSection(_Section):
    model: PathText = Field(description="network file to write (HDF5)")
    plots: bool = True
    history: bool = True
    convexity_points: int = Field(20000, ge=0)


class TrainConfig(_Section):
    model: ModelSection
    velocity: VelocitySection
    data: DataSection
    training: TrainingSection = TrainingSection()
    loss: LossSection = LossSection()
    output: OutputSection
    source: str = Field("<input>", exclude=True)
    text: str = Field("", exclude=True)
    overrides: Annotated[tuple[str, ...], TomlArray] = Field((), exclude=True)

    @model_validator(mode="after")
    def _reduced_frame_is_2d(self):
        if (self.model.rotation or self.data.reduced) and self.velocity.dim != 2:
            raise ValueError("model.rotation and data.reduced are for 2D moments (rotations about Ωz); "
                             "velocity.dim is 1")
        if self.velocity.dim == 2 and self.data.sampler == "moments" and not self.data.reduced:
            raise ValueError("data: the 2D moment sampler samples in the reduced coordinates: set "
                             "data.reduced = true")
        return self

    @model_validator(mode="after")
    def _search_has_a_term(self):
        if self.loss.jacobian_search and not (self.loss.jacobian and self.training.lbfgs_iterations):
            raise ValueError("loss.jacobian_search adds points to the jacobian term of the L-BFGS refinement: "
                             "it needs loss.jacobian > 0 and training.lbfgs_iterations > 0")
        return self


def parse(text: str, source: str = "<input>", overrides: list[str] | None = None) -> TrainConfig:
    """Validate training-input TOML text; errors name the key and ``source``."""
    return validate(TrainConfig, text, source, overrides, overrides=tuple(overrides or ()))


def load(path: str | Path, overrides: list[str] | None = None) -> TrainConfig:
    """Read and validate a training input file."""
    return parse(read_input(path, "training input"), str(path), overrides)
