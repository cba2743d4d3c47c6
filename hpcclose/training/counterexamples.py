"""Counterexample-guided local monotonicity (convexity): where on a fine grid does the network fail it?

The Jacobian term of the loss (:mod:`.losses`: ReLU(m/s − λ_min(½(J + Jᵀ))), J = ∂α*/∂ω̃) holds only where it
has points. The 2D M2 monotone network trained with it at 16 384 training and 8 192 random points was monotone
at all but one of the 1 901 points of its dense test set, yet not at 0.05 % of a 32⁴ grid of the same region:
its folds sit next to the realizable boundary, where random points of the box are rare. Between L-BFGS rounds
(:func:`.lbfgs.refine`) :class:`Search` evaluates λ_min at every point of a tensor grid over the training data's
region — realizable with a margin ten times smaller than the dense test set's, so it reaches closer to the
boundary, and on other points than that set's grid — and hands back the points where the term's condition
fails, worst first, each with a few random points of its grid cell (so a fold that moves to the next grid
point is caught); they join the term's points. The grid is built once; a search is one batched Jacobian.
"""

from __future__ import annotations

import numpy as np

from .. import devices
from ..closures.neural.rotation import Rotation
from ..velocity import Basis
from .convexity import dense_test_set, realizability_margin

#: Realizability margin of the searched grid by default: a tenth of the dense test set's
#: (convexity.dense_test_set).
SEARCH_MARGIN = 1e-4
#: Random points of its grid cell that join each failing point by default: a fold moved to the next grid
#: point is caught.
NEIGHBOURS = 8


class Search:
    """The failing points of a fixed candidate set (ω̃ rows) for the model a :class:`~.losses.Losses` holds."""

    def __init__(self, loss, candidates: np.ndarray, add: int, spacing: np.ndarray | None = None,
                 basis: Basis | None = None, frame: Rotation | None = None, margin: float = SEARCH_MARGIN,
                 neighbours: int = NEIGHBOURS, chunk: int = 32768, seed: int = 0):
        tf = devices.tensorflow()
        self.loss, self.add, self.chunk = loss, int(add), int(chunk)
        self.candidates = np.ascontiguousarray(candidates, dtype=np.float64)
        d = self.candidates.shape[1]
        # the grid's cell (``spacing`` per axis) around a failing point is sampled where a basis is given
        self.spacing, self.basis, self.frame, self.margin = spacing, basis, frame, margin
        self.neighbours = int(neighbours)
        self.rng = np.random.default_rng(seed)

        @tf.function(input_signature=[tf.TensorSpec([None, d], tf.float64)])
        def smallest(omega):
            J = loss.jacobian(omega)[0]
            return tf.linalg.eigvalsh(0.5 * (J + tf.linalg.matrix_transpose(J)))[:, 0]

        self._smallest = smallest

    @classmethod
    def over_training_region(cls, loss, basis: Basis, omega_train: np.ndarray, per_axis: int, add: int,
                             frame: Rotation | None = None, margin: float = SEARCH_MARGIN,
                             neighbours: int = NEIGHBOURS) -> Search:
        """The search over a ``per_axis``-point tensor grid of the training inputs' bounding box (realizable
        with margin > ``margin``)."""
        omega_train = np.atleast_2d(omega_train)
        d = omega_train.shape[1]
        grid = dense_test_set(basis, omega_train, per_axis=per_axis, margin=margin, max_points=per_axis ** d,
                              frame=frame)
        spacing = (omega_train.max(axis=0) - omega_train.min(axis=0)) / max(per_axis - 1, 1)
        return cls(loss, grid, add, spacing, basis, frame, margin, neighbours)

    def smallest_eigenvalues(self) -> np.ndarray:
        """λ_min(½(J + Jᵀ)) at every candidate, in the units of ∇α̃ (the dense test set's report)."""
        tf = devices.tensorflow()
        scale = 1.0 / float(self.loss.inv_s)
        parts = [self._smallest(tf.constant(self.candidates[s:s + self.chunk])).numpy()
                 for s in range(0, self.candidates.shape[0], self.chunk)]
        return scale * np.concatenate(parts) if parts else np.zeros(0)

    def __call__(self) -> tuple[np.ndarray, dict]:
        """(the failing points, worst first, at most ``add`` of them; a summary: points searched, failing,
        negative, the smallest λ_min). A point fails where the term is positive (λ_min < the term's margin);
        it is negative where the map is not monotone (convex) there (λ_min < 0)."""
        lmin = self.smallest_eigenvalues()
        failing = np.flatnonzero(lmin < self.loss.w.jacobian_margin)
        worst_first = failing[np.argsort(lmin[failing], kind="stable")]
        summary = {"points": int(lmin.size), "failing": int(failing.size), "negative": int(np.sum(lmin < 0.0)),
                   "min_eigenvalue": float(lmin.min()) if lmin.size else 0.0}
        return self.with_neighbours(self.candidates[worst_first[:self.add]]), summary

    def with_neighbours(self, points: np.ndarray) -> np.ndarray:
        """``points`` followed by ``neighbours`` random points of the grid cell around each (uniform in
        ± half a spacing), those realizable with the grid's margin (none without a basis)."""
        if self.basis is None or self.spacing is None or not self.neighbours or not len(points):
            return points
        offsets = self.rng.uniform(-0.5, 0.5, (len(points), self.neighbours, points.shape[1])) * self.spacing
        near = (points[:, None, :] + offsets).reshape(-1, points.shape[1])
        return np.concatenate([points, near[realizability_margin(self.basis, near, self.frame) > self.margin]])
