"""Training of a network closure: data → scaling → Adam with a decaying learning rate → best model file.

Steps (:func:`train`), each in its own module:

1. **Data and scaling** (:mod:`.samples`): the dataset of the [data] table (SCIENCE.md §4) normalised to
   (ω̃, h̃, α̃, w = (1, ω̃)), a seeded split into training and validation sets, the [B eq. 66–70] scalings.
2. **Optimisation** (:mod:`.loop`): Adam in mini-batches with a decaying learning rate and early stopping
   [A 4.1.2], the best weights kept and checkpointed to the model file; then, if asked, full-batch
   L-BFGS (:mod:`.lbfgs`).
3. **Report** (:mod:`.evaluation`): test errors of the *exported* network on the validation set (a numpy
   evaluation of the file's arrays, equal to what either closure backend computes to ~1e−13) and the
   convexity report on a dense grid (:mod:`.convexity`).
4. **Outputs** (:mod:`.outputs`): the model file, the loss curves (PNG) and the history (JSON) next to it.

Runs on the GPU given by :func:`hpcclose.devices.place_rank` when one is visible, on the CPU otherwise.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import devices
from ..closures.neural import export
from ..closures.neural.layout import default_name, layout_string
from . import convexity, counterexamples, evaluation, loop, outputs
from .config import TrainConfig
from .samples import Prepared, network_signs, prepare

log = logging.getLogger("hpcclose")


@dataclass
class TrainResult:
    """What :func:`train` returns: the network written, its file, the history and the run's report."""

    network: export.Network
    path: Path
    history: dict = field(default_factory=dict)
    epochs_run: int = 0
    best_epoch: int = 0
    stop_reason: str = ""
    wall_seconds: float = 0.0
    seconds_per_epoch: float = 0.0
    test_errors: dict = field(default_factory=dict)
    convexity: dict = field(default_factory=dict)
    plot: Path | None = None

    def summary(self) -> str:
        e = self.test_errors
        c = self.convexity
        lines = [
            f"trained {self.network.describe()}: {self.network.parameter_count()} parameters",
            (f"epochs {self.epochs_run} (best {self.best_epoch}, {self.stop_reason}), wall "
             f"{self.wall_seconds:.1f} s ({self.seconds_per_epoch * 1e3:.1f} ms/epoch after the first)"
             if self.epochs_run else f"no Adam epochs ({self.stop_reason}), wall {self.wall_seconds:.1f} s"),
            f"validation: MSE h {e.get('mse_h', float('nan')):.3e}, "
            f"α {e.get('mse_alpha', float('nan')):.3e}, "
            f"u {e.get('mse_u', float('nan')):.3e}; relative RMSE h {e.get('rel_rmse_h', float('nan')):.3e}, "
            f"u {e.get('rel_rmse_u', float('nan')):.3e}; in [B] Table 1's units MSE h "
            f"{e.get('b_mse_h', float('nan')):.3e}, α {e.get('b_mse_alpha', float('nan')):.3e}, "
            f"u {e.get('b_mse_u', float('nan')):.3e}",
        ]
        if c.get("points"):
            lines.append(f"convexity ({c['quantity']}) on {c['points']} points: min eigenvalue "
                         f"{c['min_eigenvalue']:.3e} -> {'convex' if c['convex'] else 'NOT convex'}")
        lines.append(f"model written to {self.path}" + (f"; loss curves {self.plot}" if self.plot else ""))
        return "\n".join(lines)


def train(cfg: TrainConfig, progress: bool = True, epochs: int | None = None) -> TrainResult:
    """Train the network that ``cfg`` describes and write its model file; see the module docstring."""
    tf = devices.tensorflow()
    from . import losses as L

    t_start = time.perf_counter()
    prep = prepare(cfg)
    mc, tc = cfg.model, cfg.training
    lw = L.weights(mc.kind, cfg.loss, prep.train.w)
    name = mc.name or default_name(mc.kind, mc.width, mc.depth, prep.basis, mc.symmetric) + "_rot" * mc.rotation
    log.info("training %s on %d samples (%d validation): %s", name, prep.train.count, prep.val.count,
             prep.dataset.describe())

    device = devices.place_rank()
    tf.keras.utils.set_random_seed(tc.seed)
    with tf.device(device):
        model = _build(cfg, prep)
        loss = L.Losses(model, prep.basis, prep.quad, mc.alpha0_convention, lw, prep.scalings["h_scale"],
                        frame=prep.frame)
        c = lambda a: tf.constant(np.asarray(a, dtype=np.float64))  # noqa: E731
        T = [c(prep.train.omega), c(prep.train.h), c(prep.train.alpha), c(prep.train.w)]
        V = [c(prep.val.omega), c(prep.val.h), c(prep.val.alpha), c(prep.val.w)]
        writer = outputs.ModelWriter(Path(cfg.output.model), prep.basis, prep.quad, mc.alpha0_convention, name,
                                     layout_string(mc.kind, mc.width, mc.depth),
                                     outputs.metadata(cfg, prep, lw, device, name),
                                     "first_moment" if mc.rotation else "")
        run = loop.adam(model, loss, T, V, tc, writer, epochs or tc.epochs, progress)
        lbfgs_info = _refine(model, loss, T, V, cfg, prep, run, writer, progress) if tc.lbfgs_iterations else {}
        net = writer.network(model)

    test, conv = evaluation.validation_report(net, prep, cfg.output.convexity_points)
    return _finish(cfg, net, writer, run, lbfgs_info, test, conv, time.perf_counter() - t_start)


def _build(cfg: TrainConfig, prep: Prepared):
    """The Keras model of the [model] table with the run's scalings: the continued network's weights, or
    fresh ones (an ICNN's biases centred on the training inputs)."""
    from ..closures.neural import models

    mc, sc = cfg.model, prep.scalings
    model = models.build(mc.kind, prep.train.omega.shape[1], mc.width, mc.depth, network_signs(mc, prep.basis),
                         sc["input_shift"], sc["input_matrix"], sc["output_shift"], sc["output_scale"],
                         seed=mc.seed)
    if prep.start is not None:
        models.copy_weights(prep.start, model)
    elif mc.kind == "icnn":
        model.center_biases(prep.train.omega)
    return model


def _refine(model, loss, T: list, V: list, cfg: TrainConfig, prep: Prepared, run: loop.AdamRun,
            writer: outputs.ModelWriter, progress: bool) -> dict:
    """The L-BFGS phase after Adam (:func:`.loop.refine`): its iterates are checkpointed, its summary is
    appended to the stop reason, and the best iterate is written with the L-BFGS report."""
    tc = cfg.training

    def save_iterate(it, **extra):  # a killed refinement keeps its progress in the model file
        writer.checkpoint(model, outputs.snapshot(model), status="checkpoint", epoch=run.epochs_run,
                          lbfgs_iteration=it, **extra)

    box = None  # unlabelled points of the Jacobian term, over the whole region of the training set
    if loss.w.jacobian > 0 and cfg.loss.jacobian_box_points:
        box = convexity.random_realizable(prep.basis, prep.train.omega, cfg.loss.jacobian_box_points,
                                          seed=tc.seed + 7919, frame=prep.frame)
    search = None  # counterexamples: a fine grid of the same region, searched between rounds
    if loss.w.jacobian > 0 and cfg.loss.jacobian_search:
        search = counterexamples.Search.over_training_region(loss, prep.basis, prep.train.omega,
                                                              cfg.loss.jacobian_search, cfg.loss.jacobian_search_add,
                                                              prep.frame, cfg.loss.jacobian_search_margin,
                                                              cfg.loss.jacobian_search_neighbours)
        log.info("counterexample search over %d grid points every %d L-BFGS iterations", search.candidates.shape[0],
                 cfg.loss.jacobian_search_every)
    info = loop.refine(model, loss, T, V, tc, run.history, run.epochs_run, progress, save_iterate,
                       (cfg.loss.jacobian_points, box), search, cfg.loss.jacobian_search_every)
    run.stop_reason += f"; L-BFGS {info['iterations']} iterations ({info['message']})"
    save_iterate(info["best_iteration"], lbfgs=info)
    return info


def _finish(cfg: TrainConfig, net: export.Network, writer: outputs.ModelWriter, run: loop.AdamRun,
            lbfgs_info: dict, test: dict, conv: dict, wall: float) -> TrainResult:
    """Write the final model file (with the run's record and report), the history and the loss curves."""
    meta = {**writer.meta, "status": "complete", "epochs_run": run.epochs_run, "best_epoch": run.best_epoch,
            "stop_reason": run.stop_reason, "wall_seconds": wall, "seconds_per_epoch": run.seconds_per_epoch,
            "lbfgs": lbfgs_info}
    net.meta = {"training": meta, "test_errors": {"validation": test}, "convexity": conv}
    export.save(writer.path, net)
    result = TrainResult(net, writer.path, run.history, run.epochs_run, run.best_epoch, run.stop_reason, wall,
                         run.seconds_per_epoch, test, conv)
    if cfg.output.history:
        outputs.write_history(writer.path.with_suffix(".history.json"), run.history, meta, test, conv)
    if cfg.output.plots and run.history["epoch"]:
        result.plot = outputs.plot_history(run.history, writer.path.with_suffix(".loss.png"), writer.name)
    return result
