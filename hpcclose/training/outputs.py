"""What a training run writes: the model file (checkpoints while training, the final network with its
report), the history (JSON) and the loss curves (PNG) next to it.

The model file is written by :func:`hpcclose.closures.neural.export.save` (atomic: a reader never sees a
partial file), so a checkpoint can be loaded by a simulation while training goes on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import __version__, devices
from ..closures.neural import export
from ..velocity import Basis, Quadrature
from .config import TrainConfig
from .samples import Prepared


def snapshot(model) -> list[np.ndarray]:
    """Copies of all the model's weights (trainable and not, e.g. batch-norm statistics)."""
    return [np.array(v.numpy()) for v in model.weights]


def restore(model, weights: list[np.ndarray]) -> None:
    """Set all the model's weights to a :func:`snapshot`."""
    for v, b in zip(model.weights, weights, strict=True):
        v.assign(b)


def metadata(cfg: TrainConfig, prep: Prepared, loss_weights, device: str, name: str) -> dict:
    """The training provenance every write of the model file carries (input, data, versions, device)."""
    tf = devices.tensorflow()
    return {"config": cfg.text, "config_source": cfg.source, "overrides": list(cfg.overrides),
            "data": {k: v for k, v in prep.dataset.attrs.items()},
            "train_samples": prep.train.count, "validation_samples": prep.val.count,
            "loss_weights": loss_weights.as_dict(), "device": device, "tensorflow": tf.__version__,
            "hpcclose": __version__, "name": name}


@dataclass
class ModelWriter:
    """Turns the Keras model into the framework-neutral :class:`~.export.Network` of the model file."""

    path: Path
    basis: Basis
    quad: Quadrature
    alpha0: str
    name: str
    layout: str
    meta: dict  # the training provenance (:func:`metadata`)
    rotation: str = ""  # "first_moment": a rotation-invariant network on the reduced coordinates

    def network(self, model, **meta) -> export.Network:
        """The model's current weights as a network (``meta``: its ``meta`` field, if given)."""
        b = self.basis
        return model.to_network(basis_kind=b.kind, basis_dim=b.dim, basis_N=b.N, alpha0=self.alpha0,
                                name=self.name, layout=self.layout, quadrature=self.quad.name,
                                quadrature_size=self.quad.size, rotation=self.rotation, **meta)

    def checkpoint(self, model, weights: list[np.ndarray], **status) -> None:
        """Write the given (best) weights to the model file without disturbing the training state;
        ``status`` goes into the file's training record."""
        current = snapshot(model)
        restore(model, weights)
        net = self.network(model, meta={"training": {**self.meta, **status}})
        restore(model, current)
        export.save(self.path, net)


def write_history(path: Path, hist: dict, meta: dict, test: dict, conv: dict) -> None:
    """The history of every reported epoch with the run's record, as JSON (``path``)."""
    record = {"history": hist, "training": meta, "test_errors": test, "convexity": conv}
    path.write_text(json.dumps(record, indent=1))


def plot_history(hist: dict, path: Path, title: str) -> Path:
    """Loss curves (training loss, validation loss and its terms) on a log scale."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    ep = hist["epoch"]
    for key, style in (("loss", "-"), ("val_loss", "-"), ("val_mse_h", ":"), ("val_mse_alpha", ":"),
                       ("val_mse_u", ":"), ("val_mono", "--"), ("val_jacobian", "--")):
        vals = np.asarray(hist[key], dtype=float)
        if np.any(vals > 0):
            ax.semilogy(ep, np.where(vals > 0, vals, np.nan), style, label=key)
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss / MSE")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
