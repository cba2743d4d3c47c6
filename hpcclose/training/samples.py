"""The training data of a network closure: the dataset the [data] table describes, normalised, split into
training and validation sets, and the input/output scalings derived from the training set.

* **Data** (SCIENCE.md §4) from :mod:`hpcclose.data`: a uniform α̃ grid [A 4.1.1], Sobol points of
  B_{M,τ} [B eq. 110], moments sampled directly, or a dataset file; normalised to (ω̃, h̃, α̃, w = (1, ω̃));
  a seeded random split into training and validation sets (10 % validation by default, [A 4.1.2]).
* **Reduced frame** (``model.rotation``, 2D): every sample turned so that its first moment lies along Ωx
  (:mod:`hpcclose.closures.neural.rotation`): ω̃ holds the n − 2 reduced coordinates the network sees, α̃ and
  w the full turned vectors (α_y included: the loss compares the completed α with it).
* **Scaling** (icnn, monotone, [B eq. 66–70]): μ = mean ω̃ and P = Λᵀ (eigenvectors of the training
  covariance) for the input, h̃ scaled to [0, 1] over the training set; none for the [A] MLP. A run that
  continues a model file (``training.initial_model``) keeps that file's scalings with its weights.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..closures import scaling
from ..closures.neural import export
from ..closures.neural.layout import layout_string, symmetry_signs
from ..closures.neural.rotation import Rotation, reduced_signs, rotation
from ..data import datasets, moment_sampling, reduced_sampling, sampling
from ..data.datasets import Dataset
from ..errors import InputError
from ..velocity import Basis, Quadrature, make_basis, rules
from .config import ModelSection, TrainConfig

log = logging.getLogger("hpcclose")


@dataclass
class Samples:
    """Normalised samples: ω̃ (N, d), h̃ (N,), α̃ (N, n − 1), w = (1, ω̃) (N, n); d = n − 1, or n − 2 in the
    reduced frame (ω̃ the reduced coordinates, α̃ and w the full turned vectors)."""

    omega: np.ndarray
    h: np.ndarray
    alpha: np.ndarray
    w: np.ndarray

    def take(self, idx: np.ndarray) -> Samples:
        return Samples(self.omega[idx], self.h[idx], self.alpha[idx], self.w[idx])

    @property
    def count(self) -> int:
        return self.h.size


@dataclass
class Prepared:
    """Everything a training run starts from: the velocity discretisation, the dataset, its training and
    validation sets, the scalings and the network being continued (None for a fresh one)."""

    basis: Basis
    quad: Quadrature
    dataset: Dataset
    train: Samples
    val: Samples
    scalings: dict
    start: export.Network | None
    frame: Rotation | None = None


def prepare(cfg: TrainConfig) -> Prepared:
    """Load (or sample) the data, normalise and split it, and derive the scalings (see the module docstring)."""
    basis, quad = velocity(cfg)
    ds = load_data(cfg, basis, quad)
    frame = rotation(basis) if cfg.model.rotation else None
    if frame is not None and not ds.attrs.get("reduced"):
        log.warning("model.rotation: the data were not sampled in the reduced frame (data.reduced); turned "
                    "into it, they carry the rule's lack of rotation invariance")
    train_s, val_s = split(normalise(ds, frame), cfg.data.validation_fraction, cfg.data.seed)
    sc = scalings(cfg.model.kind, train_s)
    start = initial_network(cfg, basis, quad)
    if start is not None:  # continue a run: its scalings, not re-derived ones, go with its weights
        sc.update(input_shift=start.input_shift, input_matrix=start.input_matrix,
                  output_shift=start.output_shift, output_scale=start.output_scale)
        if cfg.model.kind != "mlp":  # the [B] loss scale s is the output scale of these networks
            sc["h_scale"] = float(start.output_scale)
    return Prepared(basis, quad, ds, train_s, val_s, sc, start, frame)


def network_signs(mc: ModelSection, basis: Basis) -> np.ndarray:
    """The sign patterns the network averages over: [A eq. 45]'s reflections, or in the reduced frame the
    one reflection that keeps it (:func:`~hpcclose.closures.neural.rotation.reduced_signs`)."""
    return reduced_signs(basis, mc.symmetric) if mc.rotation else symmetry_signs(basis, mc.symmetric)


def velocity(cfg: TrainConfig) -> tuple[Basis, Quadrature]:
    """The moment basis and quadrature of the [velocity] table."""
    v = cfg.velocity
    try:
        basis = make_basis(v.basis, v.dim, v.order)
    except ValueError as exc:
        raise InputError(f"{cfg.source}: velocity: {exc}") from None
    # the full sphere in 2D: the rule the shipped networks record (a hemisphere fold gives the same data to
    # round-off, and a network trained on either fits runs on both: rules.same_measure)
    return basis, rules.build(v.dim, v.order, v.quadrature, hemisphere=False)


def load_data(cfg: TrainConfig, basis: Basis, quad: Quadrature) -> Dataset:
    """The dataset the [data] table describes (sampled or read), saved if asked."""
    d = cfg.data
    if d.sampler == "grid":
        size = d.size if isinstance(d.size, int) else tuple(d.size)
        ds = sampling.sample_grid(basis, quad, size, d.bounds)
    elif d.sampler == "sobol":
        sobol = reduced_sampling.sample_sobol_reduced if d.reduced else sampling.sample_sobol
        ds = sobol(basis, quad, d.count, d.max_norm, d.tau, seed=d.seed)
        # extra points from smaller balls, each from its own Sobol sequence (seed + 1, seed + 2, …)
        extra = [sobol(basis, quad, b.count, b.max_norm, d.tau, seed=d.seed + 1 + k) for k, b in enumerate(d.extra)]
        if extra:
            ds = datasets.concatenate([ds, *extra], extra=[[b.max_norm, b.count] for b in d.extra])
    elif d.sampler == "moments":
        moments = reduced_sampling.sample_moments_reduced if d.reduced else moment_sampling.sample_moments
        ds = moments(basis, quad, d.count, d.eps, seed=d.seed)
    else:
        path = Path(d.file)
        if not path.is_absolute() and not path.exists():
            path = Path(cfg.source).parent / d.file
        ds = datasets.load(path, basis)
        ds.attrs.setdefault("file", str(path))
    if d.save:
        datasets.save(d.save, ds)
    return ds


def normalise(ds: Dataset, frame: Rotation | None = None) -> Samples:
    """Samples of any u0 → normalised (u0 = 1): ω̃ = ũ/u0, h̃ = (h − u0 log u0)/u0 [A eq. 27], α̃ unchanged;
    with a ``frame``, turned into the reduced frame: v = D̃(−θ) ω̃, α_v = D̃(θ)ᵀ α̃ (the inverse transpose),
    ω̃ the reduced coordinates of v."""
    u0, omega = scaling.normalise(ds.u)
    h = (ds.h - u0 * np.log(u0)) / u0
    alpha = ds.alpha[:, 1:]
    if frame is not None:
        c, s, v = frame.reduce(omega)
        alpha = np.einsum("bji,bj->bi", frame.matrices(c, s), alpha)
        omega = v
    w = np.concatenate([np.ones((u0.size, 1)), omega], axis=1)
    if frame is not None:
        omega = omega[:, frame.keep]
    return Samples(np.ascontiguousarray(omega), h, np.ascontiguousarray(alpha), w)


def split(s: Samples, fraction: float, seed: int) -> tuple[Samples, Samples]:
    """A seeded random split into (training, validation); both keep the samples' order."""
    perm = np.random.default_rng(seed).permutation(s.count)
    nval = min(s.count - 1, max(1, int(round(fraction * s.count))))
    return s.take(np.sort(perm[nval:])), s.take(np.sort(perm[:nval]))


def scalings(kind: str, train: Samples) -> dict:
    """Input shift/matrix and output shift/scale ([B eq. 66–70]; identity for the [A] MLP)."""
    d = train.omega.shape[1]
    hmin, hmax = float(train.h.min()), float(train.h.max())
    dh = max(hmax - hmin, 1e-12)
    if kind == "mlp":
        return dict(input_shift=np.zeros(d), input_matrix=np.eye(d), output_shift=0.0, output_scale=1.0,
                    h_scale=1.0)
    mu = train.omega.mean(axis=0)
    cov = np.atleast_2d(np.cov(train.omega, rowvar=False))
    _, vecs = np.linalg.eigh(cov)
    P = vecs.T.copy()
    if kind == "icnn":
        return dict(input_shift=mu, input_matrix=P, output_shift=hmin, output_scale=dh, h_scale=dh)
    return dict(input_shift=mu, input_matrix=P, output_shift=np.zeros(d), output_scale=dh, h_scale=dh)


def initial_network(cfg: TrainConfig, basis: Basis, quad: Quadrature) -> export.Network | None:
    """The network of ``training.initial_model``, checked against the [model] table (None if not given)."""
    path = cfg.training.initial_model
    if path is None:
        return None
    mc = cfg.model
    where = f"{cfg.source}: training.initial_model"
    try:
        net = export.load(path, basis=basis, quad=quad)
    except InputError as err:
        raise InputError(f"{where}: {err}") from None
    want = layout_string(mc.kind, mc.width, mc.depth)
    if net.architecture == "monotone" and cfg.training.epochs > 0:
        # Adam runs the batch norms in training mode (batch statistics), which would change the function the
        # file holds at the first step; L-BFGS evaluates them with the stored (moving) statistics.
        raise InputError(f"{where}: {path!r} is a monotone network; continue it with training.epochs = 0 "
                         "(L-BFGS only), since Adam would renormalise its batch norms with batch statistics")
    if net.architecture != mc.kind or net.layout != want or bool(net.rotation) != mc.rotation:
        raise InputError(f"{where}: {path!r} is a {net.architecture} {net.layout} network"
                         f"{' (rotation-invariant)' if net.rotation else ''}; the [model] table asks for "
                         f"{mc.kind} {want}{' (rotation-invariant)' if mc.rotation else ''}")
    signs = network_signs(mc, basis)
    if np.asarray(net.signs).shape != signs.shape:
        asked = str(mc.symmetric).lower() if isinstance(mc.symmetric, bool) else repr(mc.symmetric)
        raise InputError(f"{where}: {path!r} has {len(net.signs)} symmetry flips; model.symmetric = {asked} "
                         f"needs {len(signs)}")
    return net
