"""Full-batch L-BFGS refinement of a trained network (after Adam), through scipy's L-BFGS-B.

Why: the papers train in float32 with Adam only and stop at validation MSEs of 1e−4…1e−6 ([B] Table 1);
the closures here are small (10²–10⁴ weights) and float64, where a quasi-Newton method on the whole
training set converges far further per second than more Adam epochs — a few hundred full-batch
iterations after the Adam warm-up replace hours of epochs on a CPU. The optimiser is scipy's
(``scipy.optimize.minimize(method="L-BFGS-B")``); TensorFlow supplies the loss and its gradient, one
compiled ``tf.function`` over the full batch.

* ICNN z-weights keep Wz ≥ 0 through L-BFGS-B's bounds (the same set the Keras ``NonNeg`` projection
  enforces during Adam), so the network stays convex in its input at every iterate.
* Batch normalisation (monotone networks) is evaluated with its moving statistics (``training=False``),
  which makes the objective a deterministic function of the trainable weights; the monotonicity term is
  taken over a fixed random subset of the pairs (all pairs of 90 000 samples would not fit), and the local
  (Jacobian) term over a larger fixed subset (its batch Jacobian costs twice the rest of the loss).
* The best iterate by the monitored validation value is kept and returned.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import numpy as np

from .. import devices

MAX_RESTARTS = 50  # of scipy's L-BFGS-B after an early stop (see refine)


def refine(model, loss, train: list, val: list, iterations: int, memory: int = 50,
           monitor: Callable[[dict], float] | None = None, mono_points: int = 1024,
           jacobian_points: int = 16384, jacobian_extra: np.ndarray | None = None,
           record: Callable[[int, float, dict], None] | None = None, report_every: int = 50,
           seed: int = 0) -> dict:
    """Refine ``model`` in place by ≤ ``iterations`` L-BFGS-B steps on the full training batch.

    ``train``/``val`` are the (ω̃, h̃, α̃, w) tensors; the Jacobian term (if weighted) is taken over
    ``jacobian_points`` training points and the unlabelled points ``jacobian_extra`` (ω̃ rows);
    ``monitor`` maps the validation terms (plus ``loss``) to the value whose minimum is kept (default: the
    validation loss); ``record(it, loss, val)`` is called every ``report_every`` iterations. Returns
    {"iterations", "best_iteration", "best", "message", "restarts", "seconds"}.
    """
    import scipy.optimize

    tf = devices.tensorflow()
    variables = model.trainable_variables
    shapes = [tuple(v.shape) for v in variables]
    sizes = [int(np.prod(s)) for s in shapes]
    NonNeg = tf.keras.constraints.NonNeg
    bounds = []
    for v, n in zip(variables, sizes, strict=True):
        low = 0.0 if isinstance(getattr(v, "constraint", None), NonNeg) else None
        bounds += [(low, None)] * n

    # The monotonicity term is quadratic in the batch: a fixed subset of the training points carries it;
    # the Jacobian term is linear but costly, so another (larger) fixed subset carries that one.
    mono, local = loss.w.mono > 0, loss.w.jacobian > 0
    order = np.random.default_rng(seed).permutation(int(train[0].shape[0]))
    if mono:
        sub_omega = tf.gather(train[0], np.sort(order[:mono_points]))
    if local:
        jac_omega = tf.gather(train[0], np.sort(order[:jacobian_points]))
        if jacobian_extra is not None and len(jacobian_extra):
            jac_omega = tf.concat([jac_omega, tf.constant(np.asarray(jacobian_extra, dtype=np.float64))], 0)

    @tf.function
    def value_and_gradient():
        with tf.GradientTape() as tape:
            total, _ = loss(*train, training=False, mono=False, local=False)
            if mono:
                at = loss.outputs(sub_omega, training=False)["alpha"]
                total = total + loss.w.mono * loss.monotonicity(sub_omega, at)
            if local:
                J = loss.outputs(jac_omega, training=False, jacobian=True)["jacobian"]
                total = total + loss.w.jacobian * loss.local_monotonicity(J)
        return total, tape.gradient(total, variables)

    @tf.function
    def validate():
        return loss(*val, training=False)

    def assign(x: np.ndarray) -> None:
        offset = 0
        for v, shape, n in zip(variables, shapes, sizes, strict=True):
            v.assign(x[offset:offset + n].reshape(shape))
            offset += n

    def objective(x: np.ndarray) -> tuple[float, np.ndarray]:
        assign(x)
        value, grads = value_and_gradient()
        g = np.concatenate([np.asarray(gi).ravel() for gi in grads])
        value = float(value)
        if not math.isfinite(value) or not np.all(np.isfinite(g)):
            return 1e300, np.zeros_like(x)  # makes the line search step back
        return value, g

    pick = monitor or (lambda rec: rec["loss"])
    state = {"it": 0, "best": math.inf, "best_it": 0, "best_x": None}

    def callback(intermediate_result) -> None:
        state["it"] += 1
        it = state["it"]
        if it % report_every and it != iterations:
            return
        x = np.array(intermediate_result.x)
        assign(x)
        vt, parts = validate()
        rec = {"loss": float(vt), **{k: float(v) for k, v in parts.items()}}
        value = pick(rec)
        if value < state["best"]:
            state.update(best=value, best_it=it, best_x=x)
        if record is not None:
            record(it, float(intermediate_result.fun), rec)

    x0 = np.concatenate([np.asarray(v.numpy()).ravel() for v in variables])
    vt, parts = validate()
    state.update(best=pick({"loss": float(vt), **{k: float(v) for k, v in parts.items()}}), best_x=x0)
    t0 = time.perf_counter()
    # A line search that finds no decrease ends scipy's run early ("relative reduction of f"); the curvature
    # pairs are then stale, so restart from the current point with an empty memory while iterations remain
    # and the last run made progress.
    x, restarts = x0, 0
    while state["it"] < iterations and restarts <= MAX_RESTARTS:
        before = state["it"]
        res = scipy.optimize.minimize(objective, x, jac=True, method="L-BFGS-B", bounds=bounds,
                                      callback=callback,
                                      options={"maxiter": iterations - state["it"], "maxcor": memory,
                                               "ftol": 0.0, "gtol": 0.0, "maxfun": 4 * iterations + 20})
        x = np.array(res.x)
        restarts += 1
        if state["it"] - before < 2:
            break
    assign(state["best_x"])
    return {"iterations": state["it"], "best_iteration": state["best_it"], "best": state["best"],
            "message": str(res.message), "restarts": restarts - 1, "seconds": time.perf_counter() - t0}
