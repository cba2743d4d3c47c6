"""Training of a network closure: data → scaling → Adam with a decaying learning rate → best model file.

Steps (:func:`train`):

1. **Data** (SCIENCE.md §4) from :mod:`hpcclose.data`: a uniform α̃ grid [A 4.1.1], Sobol points of
   B_{M,τ} [B eq. 110], or a dataset file; normalised to (ω̃, h̃, α̃, w = (1, ω̃)); a seeded random split
   into training and validation sets (10 % validation by default, [A 4.1.2]).
2. **Scaling** (icnn, monotone, [B eq. 66–70]): μ = mean ω̃ and P = Λᵀ (eigenvectors of the training
   covariance) for the input, h̃ scaled to [0, 1] over the training set; none for the [A] MLP.
3. **Optimisation**: Adam, mini-batches of ``batch_size`` (reshuffled every epoch; the remainder that does
   not fill a batch is left out of that epoch, so every step has the same shape), learning rate
   lr0 · lr_decay^(epoch / lr_decay_epochs) ([A]: 1e−3, ×0.1 per 5000 epochs). One epoch is one
   ``tf.function`` call (the batch loop runs inside the graph).
4. **Early stopping** [A 4.1.2]: stop when the monitored validation value is below ``target`` or has not
   improved by more than ``min_delta`` for ``patience`` epochs; the best weights are kept, written to the
   model file every ``checkpoint_every`` epochs when they improved, and restored at the end.
5. **Report**: test errors of the *exported* network on the validation set (a numpy evaluation of the
   file's arrays, equal to what either closure backend computes to ~1e−13), the convexity report on a
   dense grid
   (:mod:`.convexity`), loss curves (PNG) and the history (JSON) next to the model file.

Runs on the GPU given by :func:`hpcclose.devices.place_rank` when one is visible, on the CPU otherwise.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import __version__, devices
from ..closures import scaling
from ..closures.neural import export
from ..closures.neural.layout import default_name, layout_string, symmetry_signs
from ..errors import InputError
from ..velocity import Basis, Quadrature, gauss_legendre, make_basis, sphere_product
from . import convexity
from .config import TrainConfig

log = logging.getLogger("hpcclose")


# ---------------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------------
@dataclass
class Samples:
    """Normalised samples: ω̃ (N, d), h̃ (N,), α̃ (N, d), w = (1, ω̃) (N, n)."""

    omega: np.ndarray
    h: np.ndarray
    alpha: np.ndarray
    w: np.ndarray

    def take(self, idx: np.ndarray) -> Samples:
        return Samples(self.omega[idx], self.h[idx], self.alpha[idx], self.w[idx])

    @property
    def count(self) -> int:
        return self.h.size


def velocity(cfg: TrainConfig) -> tuple[Basis, Quadrature]:
    v = cfg.velocity
    try:
        basis = make_basis(v.basis, v.dim, v.order)
    except ValueError as exc:
        raise InputError(f"{cfg.source}: velocity: {exc}") from None
    quad = gauss_legendre(v.quadrature) if v.dim == 1 else sphere_product(*v.quadrature)
    return basis, quad


def load_data(cfg: TrainConfig, basis: Basis, quad: Quadrature):
    """The dataset the [data] table describes (sampled or read), saved if asked."""
    from ..data import datasets, moment_sampling, sampling

    d = cfg.data
    if d.sampler == "grid":
        size = d.size if isinstance(d.size, int) else tuple(d.size)
        ds = sampling.sample_grid(basis, quad, size, d.bounds)
    elif d.sampler == "sobol":
        ds = sampling.sample_sobol(basis, quad, d.count, d.max_norm, d.tau, seed=d.seed)
        # extra points from smaller balls, each from its own Sobol sequence (seed + 1, seed + 2, …)
        extra = [sampling.sample_sobol(basis, quad, b.count, b.max_norm, d.tau, seed=d.seed + 1 + k)
                 for k, b in enumerate(d.extra)]
        if extra:
            ds = datasets.concatenate([ds, *extra], extra=[[b.max_norm, b.count] for b in d.extra])
    elif d.sampler == "moments":
        ds = moment_sampling.sample_moments(basis, quad, d.count, d.eps, seed=d.seed)
    else:
        path = Path(d.file)
        if not path.is_absolute() and not path.exists():
            path = Path(cfg.source).parent / d.file
        ds = datasets.load(path, basis)
        ds.attrs.setdefault("file", str(path))
    if d.save:
        datasets.save(d.save, ds)
    return ds


def normalise(ds) -> Samples:
    """Samples of any u0 → normalised (u0 = 1): ω̃ = ũ/u0, h̃ = (h − u0 log u0)/u0 [A eq. 27], α̃ unchanged."""
    u0, omega = scaling.normalise(ds.u)
    h = (ds.h - u0 * np.log(u0)) / u0
    w = np.concatenate([np.ones((u0.size, 1)), omega], axis=1)
    return Samples(np.ascontiguousarray(omega), h, np.ascontiguousarray(ds.alpha[:, 1:]), w)


def split(s: Samples, fraction: float, seed: int) -> tuple[Samples, Samples]:
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


# ---------------------------------------------------------------------------------------------------
# Errors of an exported network
# ---------------------------------------------------------------------------------------------------
def errors(net: export.Network, basis: Basis, quad: Quadrature, s: Samples, h_range: float = 1.0,
           alpha_range: tuple[float, float] | None = None) -> dict:
    """MSE/MAE of h̃, α̃ and the reconstructed moments w, relative RMSEs ([A eq. 49], relative to the
    data), and the errors in [B] Table 1's units (:func:`paper_units`; ``h_range`` = h̃_max − h̃_min and
    ``alpha_range`` = (min, max) over all α̃ components of the training set), of the exported network
    (numpy evaluation of the file's arrays: no TensorFlow, no compilation; it agrees with both closure
    backends to ~1e−13)."""
    h, at, _ = convexity.derivatives(net, s.omega, hessian=False)
    m = basis.evaluate(quad)
    ones = np.ones(s.count)
    if net.alpha0 == "gradient":
        a0 = scaling.alpha0_from_gradient(h, s.omega, at, ones)
    else:
        a0 = scaling.alpha0_from_normalisation(at, m[:, 1:], quad.weights, ones)
    alpha = scaling.full_alpha(at, a0)
    w = (np.exp(np.minimum(alpha @ m.T, 700.0)) * quad.weights) @ m
    if not net.has_entropy:
        h = np.einsum("ij,ij->i", alpha, w) - w[:, 0]  # entropy of the ansatz (⟨G⟩ = w0)
    dh, da, dw = h - s.h, at - s.alpha, w - s.w
    return {
        "samples": int(s.count),
        "mse_h": float(np.mean(dh**2)), "mse_alpha": float(np.mean(np.sum(da**2, axis=1))),
        "mse_u": float(np.mean(np.sum(dw**2, axis=1))),
        "mae_h": float(np.mean(np.abs(dh))), "mae_alpha": float(np.mean(np.abs(da))),
        "mae_u": float(np.mean(np.abs(dw))),
        "rel_rmse_h": float(np.sqrt(np.sum(dh**2) / np.sum(s.h**2))),
        "rel_rmse_alpha": float(np.sqrt(np.sum(da**2) / max(np.sum(s.alpha**2), 1e-300))),
        "rel_rmse_u": float(np.sqrt(np.sum(dw**2) / np.sum(s.w**2))),
        "max_moment_error": float(np.max(np.linalg.norm(dw, axis=1))),
        **paper_units(net.has_entropy, dh, da, dw[:, 1:], h_range, alpha_range),
    }


def paper_units(has_entropy: bool, dh: np.ndarray, da: np.ndarray, du: np.ndarray, h_range: float,
                alpha_range: tuple[float, float] | None) -> dict:
    """Errors in the units of [B] Table 1, as [B]'s code computes them: Keras MSE/MAE, i.e. averaged over
    the samples *and* the components of α̃ and of the reduced moments ``du`` (ours above sum over the
    components), with each network's own output scaling. An entropy network (ICNN) is trained on h̃
    scaled to [0, 1] by the training set's range ([B] eq. 69–70), so h̃ and α̃ = ∇h̃ are divided by
    ``h_range``; the monotone network is trained on α̃ scaled to [−1, 1] by the range of all α̃
    components of the training set (``alpha_range``), and its h̃ — reconstructed from α̃ — is not
    scaled. (In [B]'s code an entropy network trained without the u term reports α̃ under "u": its
    third output is then α̃ itself; the M2 1D and M1 2D ICNN rows of Table 1 list equal α̃ and u.)
    Empty for a monotone network when ``alpha_range`` is unknown."""
    if has_entropy:
        sh = sa = 1.0 / h_range
    elif alpha_range is not None:
        sh, sa = 1.0, 2.0 / (alpha_range[1] - alpha_range[0])
    else:
        return {}
    known_range = {"alpha_range": [float(a) for a in alpha_range]} if alpha_range is not None else {}
    return {"h_range": float(h_range), **known_range,
            "b_mse_h": float(np.mean((sh * dh) ** 2)), "b_mse_alpha": float(np.mean((sa * da) ** 2)),
            "b_mse_u": float(np.mean(du**2)), "b_mae_h": float(np.mean(np.abs(sh * dh))),
            "b_mae_alpha": float(np.mean(np.abs(sa * da))), "b_mae_u": float(np.mean(np.abs(du)))}


# ---------------------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------------------
@dataclass
class TrainResult:
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


class _Stopper:
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


def train(cfg: TrainConfig, progress: bool = True, epochs: int | None = None) -> TrainResult:
    """Train the network that ``cfg`` describes and write its model file; see the module docstring."""
    tf = devices.tensorflow()
    from ..closures.neural import models
    from ..closures.neural.gpu import local_rank
    from . import losses as L

    t_start = time.perf_counter()
    basis, quad = velocity(cfg)
    mc, tc = cfg.model, cfg.training
    n_epochs = epochs or tc.epochs
    ds = load_data(cfg, basis, quad)
    samples = normalise(ds)
    train_s, val_s = split(samples, cfg.data.validation_fraction, cfg.data.seed)
    sc = scalings(mc.kind, train_s)
    start = _initial_network(cfg, basis, quad)
    if start is not None:  # continue a run: its scalings, not re-derived ones, go with its weights
        sc.update(input_shift=start.input_shift, input_matrix=start.input_matrix,
                  output_shift=start.output_shift, output_scale=start.output_scale)
        if mc.kind != "mlp":  # the [B] loss scale s is the output scale of these networks
            sc["h_scale"] = float(start.output_scale)
    lw = L.weights(mc.kind, cfg.loss, train_s.w)
    alpha0 = mc.alpha0_convention
    name = mc.name or default_name(mc.kind, mc.width, mc.depth, basis, mc.symmetric)
    log.info("training %s on %d samples (%d validation): %s", name, train_s.count, val_s.count, ds.describe())

    device = devices.place_rank(local_rank())
    tf.keras.utils.set_random_seed(tc.seed)
    with tf.device(device):
        model = models.build(mc.kind, basis.n - 1, mc.width, mc.depth, symmetry_signs(basis, mc.symmetric),
                             sc["input_shift"], sc["input_matrix"], sc["output_shift"], sc["output_scale"],
                             seed=mc.seed)
        if start is not None:
            models.copy_weights(start, model)
        elif mc.kind == "icnn":
            model.center_biases(train_s.omega)
        loss = L.Losses(model, basis, quad, alpha0, lw, sc["h_scale"])
        bs = min(tc.batch_size, train_s.count)
        nb = train_s.count // bs
        schedule = tf.keras.optimizers.schedules.ExponentialDecay(tc.learning_rate, tc.lr_decay_epochs * nb,
                                                                  tc.lr_decay)
        opt = tf.keras.optimizers.Adam(learning_rate=schedule)
        c = lambda a: tf.constant(np.asarray(a, dtype=np.float64))  # noqa: E731
        T = [c(train_s.omega), c(train_s.h), c(train_s.alpha), c(train_s.w)]
        V = [c(val_s.omega), c(val_s.h), c(val_s.alpha), c(val_s.w)]
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

        rng = np.random.default_rng(tc.seed)
        es = tc.early_stopping
        stopper = _Stopper(es.target, es.patience, es.min_delta)
        hist = {k: [] for k in ("epoch", "loss", "val_loss", "val_mse_h", "val_mse_alpha", "val_mse_u",
                                "val_mono", "val_jacobian", "lr")}
        best_weights = _snapshot(model)
        meta_base = _meta(cfg, ds, train_s, val_s, lw, device, name)
        out = Path(cfg.output.model)
        last_written, dirty, reason, epoch, t_first = -1, False, f"{n_epochs} epochs done", 0, 0.0
        from tqdm import tqdm

        bar = tqdm(total=n_epochs, disable=not progress, unit="epoch", dynamic_ncols=True)
        t_train = time.perf_counter()
        for epoch in range(1, n_epochs + 1):
            tl = float(run_epoch(tf.constant(rng.permutation(train_s.count).astype(np.int64))))
            if epoch == 1:
                t_first = time.perf_counter()  # the first epoch includes tracing/compilation
            bar.update(1)
            if not math.isfinite(tl):
                reason = f"non-finite training loss at epoch {epoch}"
                break
            if epoch % tc.validate_every and epoch != n_epochs:
                continue
            vt, parts = validate()
            rec = {"epoch": epoch, "loss": tl, "val_loss": float(vt), "lr": float(schedule(opt.iterations))}
            rec.update({f"val_{k}": float(v) for k, v in parts.items()})
            for k in hist:
                hist[k].append(rec[k])
            improved, stop = stopper.update(epoch, rec[es.monitor])
            if improved:
                best_weights = _snapshot(model)
                dirty = True
            bar.set_postfix_str(f"loss {tl:.3e} val {rec['val_loss']:.3e} best@{stopper.best_epoch} "
                                f"lr {rec['lr']:.1e}")
            if not progress and epoch % max(1, n_epochs // 20) == 0:  # batch logs: 20 lines per run
                log.info("epoch %d/%d: loss %.3e, validation %.3e (MSE u %.3e), best at %d, lr %.1e", epoch,
                         n_epochs, tl, rec["val_loss"], rec["val_mse_u"], stopper.best_epoch, rec["lr"])
            if dirty and epoch - max(last_written, 0) >= tc.checkpoint_every:
                _export(model, best_weights, out, basis, quad, meta_base, alpha0, name, mc,
                        {"status": "checkpoint", "epoch": epoch, "best_epoch": stopper.best_epoch})
                last_written, dirty = epoch, False
            if stop:
                reason = stop
                break
        bar.close()
        t_end = time.perf_counter()
        per_epoch = (t_end - t_first) / (epoch - 1) if epoch > 1 else t_end - t_train
        for v, b in zip(model.weights, best_weights, strict=True):
            v.assign(b)
        epochs_run = epoch
        lbfgs_info = {}
        if tc.lbfgs_iterations:
            def save_iterate(it, **extra):  # a killed refinement keeps its progress in the model file
                _export(model, _snapshot(model), out, basis, quad, meta_base, alpha0, name, mc,
                        {"status": "checkpoint", "epoch": epochs_run, "lbfgs_iteration": it, **extra})

            box = None
            if lw.jacobian > 0 and cfg.loss.jacobian_box_points:
                box = convexity.random_realizable(basis, train_s.omega, cfg.loss.jacobian_box_points,
                                                  seed=tc.seed + 7919)
            lbfgs_info = _refine(model, loss, T, V, tc, hist, epochs_run, progress, save_iterate,
                                 (cfg.loss.jacobian_points, box))
            reason += f"; L-BFGS {lbfgs_info['iterations']} iterations ({lbfgs_info['message']})"
            save_iterate(lbfgs_info["best_iteration"], lbfgs=lbfgs_info)
        net = model.to_network(basis_kind=basis.kind, basis_dim=basis.dim, basis_N=basis.N, alpha0=alpha0,
                               name=name, layout=layout_string(mc.kind, mc.width, mc.depth),
                               quadrature=quad.name, quadrature_size=quad.size)

    test = errors(net, basis, quad, val_s, h_range=float(train_s.h.max() - train_s.h.min()),
                  alpha_range=(float(train_s.alpha.min()), float(train_s.alpha.max())))
    conv = {}
    if cfg.output.convexity_points:
        pts = convexity.dense_test_set(basis, train_s.omega, max_points=cfg.output.convexity_points)
        conv = convexity.report(net, pts)
    wall = time.perf_counter() - t_start
    meta = {**meta_base, "status": "complete", "epochs_run": epochs_run, "best_epoch": stopper.best_epoch,
            "stop_reason": reason, "wall_seconds": wall, "seconds_per_epoch": per_epoch, "lbfgs": lbfgs_info}
    net.meta = {"training": meta, "test_errors": {"validation": test}, "convexity": conv}
    export.save(out, net)
    result = TrainResult(net, out, hist, epochs_run, stopper.best_epoch, reason, wall, per_epoch, test, conv)
    if cfg.output.history:
        record = {"history": hist, "training": meta, "test_errors": test, "convexity": conv}
        out.with_suffix(".history.json").write_text(json.dumps(record, indent=1))
    if cfg.output.plots and hist["epoch"]:
        result.plot = plot_history(hist, out.with_suffix(".loss.png"), name)
    return result


def _initial_network(cfg: TrainConfig, basis: Basis, quad: Quadrature) -> export.Network | None:
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
    if net.architecture != mc.kind or net.layout != want:
        raise InputError(f"{where}: {path!r} is a {net.architecture} {net.layout} network; the [model] table "
                         f"asks for {mc.kind} {want}")
    if np.asarray(net.signs).shape != np.asarray(symmetry_signs(basis, mc.symmetric)).shape:
        raise InputError(f"{where}: {path!r} has {len(net.signs)} symmetry flips; model.symmetric = "
                         f"{str(mc.symmetric).lower()} needs {len(symmetry_signs(basis, mc.symmetric))}")
    return net


def _refine(model, loss, T, V, tc, hist, epochs_run, progress, save_iterate, jacobian) -> dict:
    """The L-BFGS phase (:mod:`.lbfgs`): its reports go into the history at epoch = Adam epochs + iteration;
    the current iterate is written to the model file every 500 iterations. ``jacobian``: (training points,
    unlabelled points) of the Jacobian term."""
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
                        jacobian_points=jacobian[0], jacobian_extra=jacobian[1])
    bar.close()
    log.info("L-BFGS: %d iterations in %.1f s, best at %d (%s)", info["iterations"], info["seconds"],
             info["best_iteration"], info["message"])
    return info


def _meta(cfg, ds, train_s, val_s, lw, device, name) -> dict:
    tf = devices.tensorflow()
    return {"config": cfg.text, "config_source": cfg.source, "overrides": list(cfg.overrides),
            "data": {k: v for k, v in ds.attrs.items()},
            "train_samples": train_s.count, "validation_samples": val_s.count, "loss_weights": lw.as_dict(),
            "device": device, "tensorflow": tf.__version__, "hpcclose": __version__, "name": name}


def _snapshot(model) -> list[np.ndarray]:
    """Copies of all the model's weights (trainable and not, e.g. batch-norm statistics)."""
    return [np.array(v.numpy()) for v in model.weights]


def _export(model, weights, out, basis, quad, meta_base, alpha0, name, mc, extra):
    """Write the given (best) weights to the model file without disturbing the training state."""
    current = _snapshot(model)
    for v, b in zip(model.weights, weights, strict=True):
        v.assign(b)
    net = model.to_network(basis_kind=basis.kind, basis_dim=basis.dim, basis_N=basis.N, alpha0=alpha0,
                           name=name, layout=layout_string(mc.kind, mc.width, mc.depth), quadrature=quad.name,
                           quadrature_size=quad.size, meta={"training": {**meta_base, **extra}})
    for v, b in zip(model.weights, current, strict=True):
        v.assign(b)
    export.save(out, net)


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
