"""Training losses of the network closures ([A eq. 46–47], [B eq. 71, 72–77]), in TensorFlow.

Every loss is a weighted sum of the same mean-squared terms over a batch of normalised samples
(ω̃ = ũ/u0, h̃, α̃, w = (1, ω̃)):

    L = c_h · mean (h̃_θ − h̃)² / s² + c_α · mean ‖α̃_θ − α̃‖² / s² + c_u · mean ‖w_θ − w‖² + c_mono · L_mono
        + c_jac · L_jac

* w_θ = ⟨m exp(α_θ·m)⟩ is the moment vector the closure reproduces (under the training quadrature), with
  α_θ0 by the model's α0 convention — so for "gradient" ([A]) w_θ0 ≠ 1 measures the α0 error too.
* s = h̃_max − h̃_min over the training set for ``icnn``/``monotone`` (the [B eq. 69–70] scaling of h to
  [0, 1], under which α scales by 1/s), s = 1 for ``mlp``.
* L_mono = (1/|B|²) Σ_i Σ_j ReLU(−(α*_i − α*_j)·(ω̃_i − ω̃_j)) over the batch pairs [B eq. 72] (α* = α̃_θ/s).
* L_jac = mean_i ReLU(−λ_min(½(J_i + J_iᵀ))), J_i = ∂α*/∂ω̃ at ω̃_i (autodiff): the local form of the same
  condition (a differentiable map is monotone iff its symmetric Jacobian is PSD everywhere). Not in [B]:
  the pairs of a batch are far apart, so [B]'s term cannot see a map that turns back between them, and a
  50×2 M2 network trained with it alone is not monotone on 8 % of its own training domain
  (docs/closures.md). For entropy networks J is the Hessian of h̃ (convexity of the [A] MLP). Off by
  default (c_jac = 0); ``[loss] jacobian`` turns it on. With a margin m > 0 (``jacobian_margin``, in the
  units of ∇α̃) the term is ReLU(m/s − λ_min), which keeps λ_min off zero at the points and so leaves slack
  between them; the true map has λ_min(∇α̃) = 1/λ_max(Cov m̃) ≥ 1/tr Cov m̃ (≥ 1/2 for slab M2), so a
  margin below that costs no accuracy. ``jacobian_power`` = 2 squares the hinge: a C¹ penalty, which
  L-BFGS needs once the weight is large (with the plain hinge at weight 10 its line search stalls).
* ``monotone``: h̃_θ = α_θ·w_θ − w_θ0, the entropy of the ansatz the network predicts ([B eq. 60]).
* **Reduced frame** (a rotation-invariant 2D network, ``frame``: :mod:`hpcclose.closures.neural.rotation`):
  ω̃ are the n − 2 reduced coordinates, the network gives the other components of α̃; its y component comes
  from the invariance (α_y = −Σ_{k≠y} α_k (G v)_k / (G v)_y), and w_θ is reconstructed from the full turned α̃.
  The α term compares the network's own n − 2 components only: α_y's error is theirs along G v divided by
  (G v)_y ∝ the first moment, which near isotropic first moments would swamp the loss (the first training
  of the 2D M2 ICNN stalled on the 1 % of its points with v_x < 0.01, 83 % of the α_y error); what α_y does
  to the moments the u term sees. The monotonicity terms see the network's own output (v_y = 0: the same
  pairs' products).
  The sums over the nodes run over the distinct nodes (mirrored ±μ merged: half the work, round-off only).

Default weights (:func:`weights`), per model kind:
  mlp      [A eq. 46–47]: c_h = 1, c_α = 0, c_u = λ = 1 / mean_train ‖w‖². [A] writes sums over the data set
           with λ = (Σ‖w‖²)⁻¹; the per-sample mean form used here keeps the two terms in the same ratio
           whatever the batch size, which is what a mini-batch optimiser needs.
  icnn     [B eq. 71]: c_h = 1, c_α = λ = 0.1, c_u = 1.
  monotone [B eq. 77]: c_h = c_α = c_u = c_mono = 1.
  c_jac = 0 for all kinds.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from .. import devices
from ..closures.neural.rotation import Rotation, distinct_nodes
from ..velocity import Basis, Quadrature

# Exponent clamp of the reconstruction: a badly initialised "gradient" α0 must not give inf/NaN losses.
ZMAX = 300.0


@dataclass(frozen=True)
class Weights:
    h: float
    alpha: float
    u: float
    mono: float
    jacobian: float = 0.0
    jacobian_margin: float = 0.0
    jacobian_power: int = 1

    def as_dict(self) -> dict:
        return asdict(self)


def weights(kind: str, cfg_loss, w_train: np.ndarray) -> Weights:
    """The loss weights for a model kind, with the [loss] table's values where given."""
    default = {"mlp": (1.0, 0.0, "auto", 0.0), "icnn": (1.0, 0.1, 1.0, 0.0),
               "monotone": (1.0, 1.0, 1.0, 1.0)}[kind]
    h, a, u, mono = (v if v is not None else d for v, d in
                     zip((cfg_loss.h, cfg_loss.alpha, cfg_loss.u, cfg_loss.mono), default, strict=True))
    if u == "auto":
        u = 1.0 / float(np.mean(np.sum(w_train**2, axis=1)))
    jac = cfg_loss.jacobian if cfg_loss.jacobian is not None else 0.0
    return Weights(float(h), float(a), float(u), float(mono), float(jac), float(cfg_loss.jacobian_margin),
                   int(cfg_loss.jacobian_power))


class Losses:
    """The loss of one model on batches of (ω̃, h̃, α̃, w); callable inside ``tf.function``."""

    def __init__(self, model, basis: Basis, quad: Quadrature, alpha0: str, w: Weights, h_scale: float,
                 frame: Rotation | None = None):
        tf = devices.tensorflow()
        self.tf = tf
        self.model = model
        m, weights = np.asarray(basis.evaluate(quad), dtype=float), quad.weights
        if frame is not None:
            m, weights = distinct_nodes(m, weights)
            E = np.zeros((frame.d, basis.n - 1))  # reduced → full: v = ω̃ E (v_y = 0)
            E[np.arange(frame.d), frame.keep] = 1.0
            self.E, self.GT = tf.constant(E), tf.constant(frame.generator.T)
            self.ey = tf.constant(np.eye(basis.n - 1)[frame.y])
            self.keep = tf.constant(frame.keep)
        self.frame = frame
        self.m = tf.constant(m)
        self.mtil = tf.constant(m[:, 1:])
        self.logw = tf.constant(np.log(weights))
        self.alpha0 = alpha0
        self.w = w
        self.inv_s2 = tf.constant(1.0 / h_scale**2, dtype=tf.float64)
        self.inv_s = tf.constant(1.0 / h_scale, dtype=tf.float64)

    def _entropy_and_alpha(self, omega, training: bool):
        """(h̃_θ or None, α̃_θ): α̃ by autodiff of h̃ for entropy networks, the output of monotone ones."""
        if not self.model.has_entropy:
            return None, self.model(omega, training=training)
        with self.tf.GradientTape() as tape:
            tape.watch(omega)
            h = self.model(omega, training=training)
        return h, tape.gradient(h, omega)

    def jacobian(self, omega, training: bool = False):
        """(J = ∂α*/∂ω̃ (B, d, d) with α* = α̃_θ/s, h̃_θ or None, α̃_θ): the network's own α̃ (reduced in the
        reduced frame), by autodiff; for entropy networks J is the Hessian of h̃/s."""
        with self.tf.GradientTape() as outer:
            outer.watch(omega)
            h, at = self._entropy_and_alpha(omega, training)
        return outer.batch_jacobian(at, omega) * self.inv_s, h, at

    def _complete(self, omega, at):
        """The full turned α̃ (B, n − 1) from the network's reduced one: α_y by the invariance."""
        tf = self.tf
        gv = tf.matmul(tf.matmul(omega, self.E), self.GT)
        full = tf.matmul(at, self.E)
        den = gv[:, self.frame.y]
        num = tf.reduce_sum(full * gv, axis=1)
        nonzero = tf.not_equal(den, 0.0)
        ay = tf.where(nonzero, -num / tf.where(nonzero, den, tf.ones_like(den)), tf.zeros_like(den))
        return full + ay[:, None] * self.ey[None, :]

    def outputs(self, omega, training: bool = False, jacobian: bool = False) -> dict:
        """h̃_θ, α̃_θ, α_θ0 (normalised) and the reconstructed moments w_θ (B, n); with ``jacobian`` also
        J = ∂α*/∂ω̃ (B, d, d), α* = α̃_θ/s; ``alpha_net``: the network's own α̃ (reduced in the reduced frame)."""
        tf = self.tf
        J = None
        if jacobian:
            J, h, at = self.jacobian(omega, training)
        else:
            h, at = self._entropy_and_alpha(omega, training)
        at_net = at
        if self.frame is not None:
            at = self._complete(omega, at)
        z = tf.matmul(at, self.mtil, transpose_b=True) + self.logw
        if self.alpha0 == "gradient":  # ω̃·α̃ over the network's inputs (v_y = 0 in the reduced frame)
            a0 = h - tf.reduce_sum(omega * at_net, axis=1) + 1.0
        else:
            a0 = -tf.reduce_logsumexp(z, axis=1)
        G = tf.exp(tf.minimum(z + a0[:, None], ZMAX))
        w = tf.matmul(G, self.m)
        if h is None:
            h = a0 * w[:, 0] + tf.reduce_sum(at * w[:, 1:], axis=1) - w[:, 0]
        return {"h": h, "alpha": at, "alpha_net": at_net, "alpha0": a0, "w": w, "jacobian": J}

    def monotonicity(self, omega, at):
        """[B eq. 72] on the batch: mean over all pairs of ReLU(−(α_i − α_j)·(ω_i − ω_j)), α = α̃/s."""
        tf = self.tf
        a = at * self.inv_s
        s = tf.reduce_sum(a * omega, axis=1)
        c = tf.matmul(a, omega, transpose_b=True)
        D = s[:, None] + s[None, :] - c - tf.transpose(c)
        return tf.reduce_mean(tf.nn.relu(-D))

    def local_monotonicity(self, J):
        """L_jac: mean over the batch of ReLU(m/s − λ_min(½(J + Jᵀ)))^p (m the margin, p the power)."""
        tf = self.tf
        lmin = tf.linalg.eigvalsh(0.5 * (J + tf.linalg.matrix_transpose(J)))[:, 0]
        hinge = tf.nn.relu(self.w.jacobian_margin * self.inv_s - lmin)
        return tf.reduce_mean(tf.square(hinge) if self.w.jacobian_power == 2 else hinge)

    def __call__(self, omega, h, at, w, training: bool = False, mono: bool = True, local: bool = True):
        """(total loss, dict of the unweighted terms: mse_h, mse_alpha, mse_u, mono, jacobian); ``mono=False``
        leaves the pairwise monotonicity term out, ``local=False`` the Jacobian term (the L-BFGS refinement
        adds both on subsets)."""
        tf = self.tf
        out = self.outputs(omega, training=training, jacobian=local and self.w.jacobian > 0)
        mse_h = tf.reduce_mean(tf.square(out["h"] - h))
        if self.frame is None:
            mse_a = tf.reduce_mean(tf.reduce_sum(tf.square(out["alpha"] - at), axis=1))
        else:  # the network's own components: α_y's error is theirs along G v amplified by 1/(G v)_y
            mse_a = tf.reduce_mean(tf.reduce_sum(tf.square(out["alpha_net"] - tf.gather(at, self.keep, axis=1)),
                                                 axis=1))
        mse_u = tf.reduce_mean(tf.reduce_sum(tf.square(out["w"] - w), axis=1))
        total = (self.w.h * self.inv_s2) * mse_h + (self.w.alpha * self.inv_s2) * mse_a + self.w.u * mse_u
        pairs = tf.constant(0.0, dtype=tf.float64)
        if self.w.mono > 0 and mono:
            pairs = self.monotonicity(omega, out["alpha_net"])
            total = total + self.w.mono * pairs
        jac = tf.constant(0.0, dtype=tf.float64)
        if out["jacobian"] is not None:
            jac = self.local_monotonicity(out["jacobian"])
            total = total + self.w.jacobian * jac
        return total, {"mse_h": mse_h, "mse_alpha": mse_a, "mse_u": mse_u, "mono": pairs, "jacobian": jac}
