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
* The best iterate by the monitored validation value is kept and returned; with a counterexample search
  (:mod:`.counterexamples`) the searched iterate with the fewest points where the map is not monotone.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable

import numpy as np

from .. import devices

MAX_RESTARTS = 50  # of scipy's L-BFGS-B after an early stop (see _minimise)

log = logging.getLogger("hpcclose")


def refine(model, loss, train: list, val: list, iterations: int, memory: int = 50,
           monitor: Callable[[dict], float] | None = None, mono_points: int = 1024,
           jacobian_points: int = 16384, jacobian_extra: np.ndarray | None = None,
           record: Callable[[int, float, dict], None] | None = None, report_every: int = 50,
           seed: int = 0, search: Callable[[], tuple[np.ndarray, dict]] | None = None,
           search_every: int = 50) -> dict:
    """Refine ``model`` in place by ≤ ``iterations`` L-BFGS-B steps on the full training batch.

    ``train``/``val`` are the (ω̃, h̃, α̃, w) tensors; the Jacobian term (if weighted) is taken over
    ``jacobian_points`` training points and the unlabelled points ``jacobian_extra`` (ω̃ rows);
    ``monitor`` maps the validation terms (plus ``loss``) to the value whose minimum is kept (default: the
    validation loss); ``record(it, loss, val)`` is called every ``report_every`` iterations.
    ``search`` (a :class:`~.counterexamples.Search`) makes the refinement counterexample-guided: before the
    first iteration and every ``search_every`` after, the points where the Jacobian term's condition fails
    join its points (as a mean of their own, :func:`_objective`), and the iterate kept is the searched one
    with the fewest points where λ_min < 0 (then the lowest monitored value). Returns {"iterations",
    "best_iteration", "best", "message", "restarts", "seconds"} and, with ``search``, "search": one summary
    per search.
    """
    mono_omega, jac_omega = _subsets(loss, train, mono_points, jacobian_points, jacobian_extra, seed)
    pick = monitor or (lambda rec: rec["loss"])
    variables = model.trainable_variables
    problem = _FlatProblem(model, _objective(loss, train, variables, mono_omega, jac_omega), _validation(loss, val))
    best = _Best(problem, pick, record, report_every, iterations)
    t0 = time.perf_counter()
    if search is None:
        _, res, restarts = _minimise(problem, best, best.best_x, iterations, memory)
        problem.assign(best.best_x)
        return {"iterations": best.it, "best_iteration": best.best_it, "best": best.best,
                "message": str(res.message) if res else "", "restarts": restarts,
                "seconds": time.perf_counter() - t0}
    # Counterexample-guided: search, add what fails to the term (a new objective: recompile), minimise a
    # round, search again; keep the searched iterate with the fewest negative eigenvalues (the margin is the
    # term's slack, not the structure asked for).
    tf = devices.tensorflow()
    x, res, restarts, rounds, kept, found_so_far = best.best_x, None, 0, [], None, None
    while True:
        problem.assign(x)
        found, summary = search()
        score = (summary["negative"], pick(problem.validation()))
        rounds.append({"iteration": best.it, **summary, "added": int(len(found)), "monitored": score[1]})
        log.info("L-BFGS %d: %d of %d searched points fail the jacobian term, %d negative (smallest eigenvalue "
                 "%.3g); %d added", best.it, summary["failing"], summary["points"], summary["negative"],
                 summary["min_eigenvalue"], len(found))
        if kept is None or score < kept[0]:
            kept = (score, x.copy(), best.it)
        if best.it >= iterations:
            break
        if len(found):
            found = tf.constant(found)
            found_so_far = found if found_so_far is None else tf.concat([found_so_far, found], 0)
            problem.value_and_gradient = _objective(loss, train, variables, mono_omega, jac_omega, found_so_far)
        before = best.it
        x, res, r = _minimise(problem, best, x, min(iterations, best.it + search_every), memory)
        restarts += r
        if best.it - before < 2:
            break
    problem.assign(kept[1])
    return {"iterations": best.it, "best_iteration": kept[2], "best": kept[0][1],
            "message": str(res.message) if res else "", "restarts": restarts,
            "seconds": time.perf_counter() - t0, "search": rounds}


def _minimise(problem: _FlatProblem, best: _Best, x: np.ndarray, until: int, memory: int) -> tuple:
    """scipy's L-BFGS-B from x until ``best`` has counted ``until`` iterations: (x, its last result,
    restarts). A line search that finds no decrease ends scipy's run early ("relative reduction of f"); the
    curvature pairs are then stale, so restart from the current point with an empty memory while iterations
    remain and the last run made progress."""
    import scipy.optimize

    res, restarts = None, 0
    while best.it < until and restarts <= MAX_RESTARTS:
        before = best.it
        left = until - best.it
        res = scipy.optimize.minimize(problem.objective, x, jac=True, method="L-BFGS-B", bounds=problem.bounds,
                                      callback=best, options={"maxiter": left, "maxcor": memory, "ftol": 0.0,
                                                              "gtol": 0.0, "maxfun": 4 * left + 20})
        x = np.array(res.x)
        restarts += 1
        if best.it - before < 2:
            break
    return x, res, max(restarts - 1, 0)


def _subsets(loss, train: list, mono_points: int, jacobian_points: int, jacobian_extra: np.ndarray | None,
             seed: int) -> tuple:
    """The ω̃ of the monotonicity and the Jacobian terms (None where a term is not weighted).

    The monotonicity term is quadratic in the batch: a fixed subset of the training points carries it; the
    Jacobian term is linear but costly, so another (larger) fixed subset carries that one, with the
    unlabelled points ``jacobian_extra`` appended."""
    tf = devices.tensorflow()
    mono_omega = jac_omega = None
    order = np.random.default_rng(seed).permutation(int(train[0].shape[0]))
    if loss.w.mono > 0:
        mono_omega = tf.gather(train[0], np.sort(order[:mono_points]))
    if loss.w.jacobian > 0:
        jac_omega = tf.gather(train[0], np.sort(order[:jacobian_points]))
        if jacobian_extra is not None and len(jacobian_extra):
            jac_omega = tf.concat([jac_omega, tf.constant(np.asarray(jacobian_extra, dtype=np.float64))], 0)
    return mono_omega, jac_omega


def _objective(loss, train: list, variables: list, mono_omega, jac_omega, counterexamples=None) -> Callable:
    """The full-batch objective with its gradient, as a ``tf.function``; batch norms use their moving
    statistics (``training=False``), so it is deterministic. The ``counterexamples`` a search found carry the
    Jacobian term as a mean of their own, with the same weight: a few dozen failing points among the term's
    tens of thousands would otherwise weigh next to nothing."""
    tf = devices.tensorflow()

    @tf.function
    def value_and_gradient():
        with tf.GradientTape() as tape:
            total, _ = loss(*train, training=False, mono=False, local=False)
            if mono_omega is not None:
                at = loss.outputs(mono_omega, training=False)["alpha_net"]
                total = total + loss.w.mono * loss.monotonicity(mono_omega, at)
            for points in (jac_omega, counterexamples):
                if points is not None:
                    total = total + loss.w.jacobian * loss.local_monotonicity(loss.jacobian(points)[0])
        return total, tape.gradient(total, variables)

    return value_and_gradient


def _validation(loss, val: list) -> Callable:
    """The validation terms, as a ``tf.function`` (compiled once per refinement)."""
    tf = devices.tensorflow()

    @tf.function
    def validate():
        return loss(*val, training=False)

    return validate


class _FlatProblem:
    """The model's trainable weights as one flat vector x for scipy: bounds, objective, validation at x."""

    def __init__(self, model, value_and_gradient: Callable, validate: Callable):
        tf = devices.tensorflow()
        self.variables = model.trainable_variables
        self.shapes = [tuple(v.shape) for v in self.variables]
        self.sizes = [int(np.prod(s)) for s in self.shapes]
        self.value_and_gradient, self._validate = value_and_gradient, validate
        # ICNN z-weights keep Wz ≥ 0: the set Keras' NonNeg projection enforces during Adam
        NonNeg = tf.keras.constraints.NonNeg
        self.bounds = []
        for v, n in zip(self.variables, self.sizes, strict=True):
            low = 0.0 if isinstance(getattr(v, "constraint", None), NonNeg) else None
            self.bounds += [(low, None)] * n

    def current(self) -> np.ndarray:
        """The weights now, as x."""
        return np.concatenate([np.asarray(v.numpy()).ravel() for v in self.variables])

    def assign(self, x: np.ndarray) -> None:
        offset = 0
        for v, shape, n in zip(self.variables, self.shapes, self.sizes, strict=True):
            v.assign(x[offset:offset + n].reshape(shape))
            offset += n

    def objective(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        self.assign(x)
        value, grads = self.value_and_gradient()
        g = np.concatenate([np.asarray(gi).ravel() for gi in grads])
        value = float(value)
        if not math.isfinite(value) or not np.all(np.isfinite(g)):
            return 1e300, np.zeros_like(x)  # makes the line search step back
        return value, g

    def validation(self) -> dict:
        """The validation terms (and ``loss``) at the current weights."""
        vt, parts = self._validate()
        return {"loss": float(vt), **{k: float(v) for k, v in parts.items()}}


class _Best:
    """scipy's callback: counts iterations and, every ``report_every`` (and at the last), validates, keeps
    the iterate with the lowest monitored value and reports. Starts from the model's current weights."""

    def __init__(self, problem: _FlatProblem, pick: Callable[[dict], float],
                 record: Callable[[int, float, dict], None] | None, report_every: int, iterations: int):
        self.problem, self.pick, self.record = problem, pick, record
        self.report_every, self.iterations = report_every, iterations
        self.it, self.best_it = 0, 0
        self.best_x = problem.current()
        self.best = pick(problem.validation())

    def __call__(self, intermediate_result) -> None:
        self.it += 1
        it = self.it
        if it % self.report_every and it != self.iterations:
            return
        x = np.array(intermediate_result.x)
        self.problem.assign(x)
        rec = self.problem.validation()
        value = self.pick(rec)
        if value < self.best:
            self.best, self.best_it, self.best_x = value, it, x
        if self.record is not None:
            self.record(it, float(intermediate_result.fun), rec)
