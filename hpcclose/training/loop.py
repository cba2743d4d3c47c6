"""The optimisation phases of a training run: Adam epochs with early stopping and checkpoints, then the
optional L-BFGS refinement (:mod:`.lbfgs`), each reporting into one history.

* **Adam**: mini-batches of ``batch_size`` (reshuffled every epoch; the remainder that does not fill a batch
  is left out of that epoch, so every step has the same shape), learning rate
  lr0 · lr_decay^(epoch / lr_decay_epochs) ([A]: 1e−3, ×0.1 per 5000 epochs). One epoch is one
  ``tf.function`` call (the batch loop runs inside the graph).
* **Early stopping** [A 4.1.2]: stop when the monitored validation value is below ``target`` or has not
  improved by more than ``min_delta`` for ``patience`` epochs; the best weights are kept, written to the
  model file every ``checkpoint_every`` epochs when they improved, and restored at the end.
* **L-BFGS**: its reports go into the history at epoch = Adam epochs + iteration; the current iterate is
  written to the model file every 500 iterations, so a killed refinement keeps its progress.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .. import devices
from .outputs import ModelWriter, restore, snapshot

log = logging.getLogger("hpcclose")

# the columns of the history (one row per validated epoch or L-BFGS report)
HISTORY_KEYS = ("epoch", "loss", "val_loss", "val_mse_h", "val_mse_alpha", "val_mse_u", "val_mono",
                "val_jacobian", "lr")


class Stopper:
    """[A 4.1.2] early stopping on a monitored validation value."""

    def __init__(self, target, patience, min_delta):
        self.target, self.patience, self.min_delta = target, patience, min_delta
        self.best = math.inf
        self.best_epoch = -1

    def update(self, epoch: int, value: float) -> tuple[bool, str | None]:
        """(improved, reason to stop or None)."""
        improved = value < self.best - self.min_delta
        if improved or self.best_epoch < 0:
            self.best, self.best_epoch = value, epoch
        if self.target is not None and value < self.target:
            return improved, f"target {self.target:g} reached"
        if epoch - self.best_epoch >= self.patience:
            return improved, f"no improvement > {self.min_delta:g} in {self.patience} epochs"
        return improved, None


@dataclass
class AdamRun:
    """The outcome of the Adam phase (the model holds its best weights)."""

    history: dict
    epochs_run: int
    best_epoch: int
    stop_reason: str
    seconds_per_epoch: float


@dataclass
class _Compiled:
    """One Adam epoch and the validation as ``tf.function`` s, and the current learning rate."""

    run_epoch: Callable
    validate: Callable
    lr: Callable[[], float]


def _compile(model, loss, T: list, V: list, tc) -> _Compiled:
    """Adam with the decaying learning rate, an epoch over the training tensors ``T`` in mini-batches of
    ``tc.batch_size`` (XLA-compiled steps if ``tc.xla``), the loss on the validation tensors ``V``."""
    tf = devices.tensorflow()
    count = int(T[0].shape[0])
    bs = min(tc.batch_size, count)
    nb = count // bs
    schedule = tf.keras.optimizers.schedules.ExponentialDecay(tc.learning_rate, tc.lr_decay_epochs * nb,
                                                              tc.lr_decay)
    opt = tf.keras.optimizers.Adam(learning_rate=schedule)
    variables = model.trainable_variables

    def step(om, h, at, w):
        with tf.GradientTape() as tape:
            total, _ = loss(om, h, at, w, training=True)
        grads = tape.gradient(total, variables)
        opt.apply_gradients(zip(grads, variables, strict=True))
        return total

    step_fn = tf.function(step, jit_compile=tc.xla)

    @tf.function
    def run_epoch(perm):
        acc = tf.constant(0.0, dtype=tf.float64)
        for i in tf.range(nb):
            idx = perm[i * bs:(i + 1) * bs]
            acc += step_fn(*(tf.gather(a, idx) for a in T))
        return acc / tf.cast(nb, tf.float64)

    @tf.function
    def validate():
        return loss(*V, training=False)

    return _Compiled(run_epoch, validate, lambda: float(schedule(opt.iterations)))


class _Adam:
    """The Adam epochs of one run: shuffling, validation, early stopping, progress, checkpoints."""

    def __init__(self, model, loss, T: list, V: list, tc, writer: ModelWriter):
        self.model, self.tc, self.writer = model, tc, writer
        self.fns = _compile(model, loss, T, V, tc)
        self.count = int(T[0].shape[0])
        self.rng = np.random.default_rng(tc.seed)
        es = tc.early_stopping
        self.stopper = Stopper(es.target, es.patience, es.min_delta)
        self.hist = {k: [] for k in HISTORY_KEYS}
        self.best_weights = snapshot(self.model)
        self.last_written, self.dirty = -1, False

    def run(self, n_epochs: int, progress: bool) -> AdamRun:
        """At most ``n_epochs`` epochs; leaves the best weights in the model."""
        tf = devices.tensorflow()
        from tqdm import tqdm

        reason, epoch, t_first = f"{n_epochs} epochs done", 0, 0.0
        bar = tqdm(total=n_epochs, disable=not progress, unit="epoch", dynamic_ncols=True)
        t_train = time.perf_counter()
        for epoch in range(1, n_epochs + 1):
            perm = tf.constant(self.rng.permutation(self.count).astype(np.int64))
            tl = float(self.fns.run_epoch(perm))
            if epoch == 1:
                t_first = time.perf_counter()  # the first epoch includes tracing/compilation
            bar.update(1)
            if not math.isfinite(tl):
                reason = f"non-finite training loss at epoch {epoch}"
                break
            if epoch % self.tc.validate_every and epoch != n_epochs:
                continue
            stop = self._validated(epoch, n_epochs, tl, bar, progress)
            if stop:
                reason = stop
                break
        bar.close()
        t_end = time.perf_counter()
        per_epoch = (t_end - t_first) / (epoch - 1) if epoch > 1 else t_end - t_train
        restore(self.model, self.best_weights)
        return AdamRun(self.hist, epoch, self.stopper.best_epoch, reason, per_epoch)

    def _validated(self, epoch: int, n_epochs: int, tl: float, bar, progress: bool) -> str | None:
        """Validate after ``epoch`` (training loss ``tl``): record, keep the best weights, report, write a
        checkpoint when due; the reason to stop, or None."""
        vt, parts = self.fns.validate()
        rec = {"epoch": epoch, "loss": tl, "val_loss": float(vt), "lr": self.fns.lr()}
        rec.update({f"val_{k}": float(v) for k, v in parts.items()})
        for k in self.hist:
            self.hist[k].append(rec[k])
        best = self.stopper
        improved, stop = best.update(epoch, rec[self.tc.early_stopping.monitor])
        if improved:
            self.best_weights, self.dirty = snapshot(self.model), True
        bar.set_postfix_str(f"loss {tl:.3e} val {rec['val_loss']:.3e} best@{best.best_epoch} lr {rec['lr']:.1e}")
        if not progress and epoch % max(1, n_epochs // 20) == 0:  # batch logs: 20 lines per run
            log.info("epoch %d/%d: loss %.3e, validation %.3e (MSE u %.3e), best at %d, lr %.1e", epoch,
                     n_epochs, tl, rec["val_loss"], rec["val_mse_u"], best.best_epoch, rec["lr"])
        if self.dirty and epoch - max(self.last_written, 0) >= self.tc.checkpoint_every:
            self.writer.checkpoint(self.model, self.best_weights, status="checkpoint", epoch=epoch,
                                   best_epoch=best.best_epoch)
            self.last_written, self.dirty = epoch, False
        return stop


def adam(model, loss, T: list, V: list, tc, writer: ModelWriter, n_epochs: int, progress: bool) -> AdamRun:
    """Train ``model`` with Adam on the training tensors ``T`` (ω̃, h̃, α̃, w), validated on ``V``, for at
    most ``n_epochs`` epochs (see the module docstring); the model ends with its best weights."""
    return _Adam(model, loss, T, V, tc, writer).run(n_epochs, progress)


def refine(model, loss, T: list, V: list, tc, hist: dict, epochs_run: int, progress: bool,
           save_iterate: Callable, jacobian: tuple, search: Callable | None = None,
           search_every: int = 50) -> dict:
    """The L-BFGS phase (:mod:`.lbfgs`): its reports go into ``hist`` at epoch = Adam epochs + iteration;
    ``save_iterate(it)`` writes the current iterate to the model file every 500 iterations. ``jacobian``:
    (training points, unlabelled points) of the Jacobian term; ``search``: its counterexample search
    (:mod:`.counterexamples`), run every ``search_every`` iterations."""
    from tqdm import tqdm

    from . import lbfgs

    key = tc.early_stopping.monitor.removeprefix("val_")
    bar = tqdm(total=tc.lbfgs_iterations, disable=not progress, unit="it", desc="L-BFGS", dynamic_ncols=True)

    def record(it, train_loss, rec):
        bar.update(it - bar.n)
        bar.set_postfix_str(f"loss {train_loss:.3e} val {rec['loss']:.3e}")
        row = {"epoch": epochs_run + it, "loss": train_loss, "val_loss": rec["loss"], "lr": None,
               **{f"val_{k}": v for k, v in rec.items() if k != "loss"}}
        for k in hist:
            hist[k].append(row[k])
        if it % 500 == 0:
            save_iterate(it)
        if not progress:
            log.info("L-BFGS %d: loss %.3e, validation %.3e (MSE u %.3e)", it, train_loss, rec["loss"],
                     rec["mse_u"])

    info = lbfgs.refine(model, loss, T, V, tc.lbfgs_iterations, tc.lbfgs_memory,
                        monitor=lambda rec: rec[key], record=record, seed=tc.seed,
                        jacobian_points=jacobian[0], jacobian_extra=jacobian[1], search=search,
                        search_every=search_every)
    bar.close()
    log.info("L-BFGS: %d iterations in %.1f s, best at %d (%s)", info["iterations"], info["seconds"],
             info["best_iteration"], info["message"])
    return info
