"""TensorFlow/Keras models of the network closures, float64 (training only; inference needs no Keras).

Importing this module imports TensorFlow (through :func:`hpcclose.devices.tensorflow`), so only the
training code and the tests import it. Layouts, initialisation and names: :mod:`.layout`; the
pre/post-processing and the file format: :mod:`.export`.

* :class:`EntropyNet` — ``mlp`` ([A eq. 41–45]) and ``icnn`` ([B eq. 63–70]): ``call(ω̃)`` returns
  h̃(ω̃) = out_shift + out_scale · mean_s N(P(F_s ω̃ − μ)); α̃ = ∇h̃ comes from a GradientTape
  (:func:`entropy_and_gradient`). ICNN weights Wz carry a ``NonNeg`` constraint, a projection onto
  Wz ≥ 0 after every optimizer update ([B §3.2.1]), so N is convex in its input for any weights.
* :class:`MonotoneNet` — ``monotone`` ([B eq. 74]): ``call(ω̃)`` returns α̃ directly; batch
  normalisation is folded into an affine map with the moving statistics on export.

:meth:`to_network` of both returns the framework-neutral :class:`~.export.Network`.
"""

from __future__ import annotations

import numpy as np

from ... import devices
from .export import MONOTONE_BLOCK, DenseLayer, Network
from .layout import init_std, plan

tf = devices.tensorflow()
keras = tf.keras

DTYPE = "float64"


class _Preprocessed(keras.Model):
    """Shared input map x = P(F_s ω̃ − μ) and output scaling (fixed at construction, not trained)."""

    def __init__(self, d, signs, input_shift, input_matrix, output_shift, output_scale, **kw):
        super().__init__(dtype=DTYPE, **kw)
        self.d = int(d)
        self._signs = np.asarray(signs, dtype=float).reshape(-1, self.d)
        self._mu = np.asarray(input_shift, dtype=float).reshape(self.d)
        self._P = np.asarray(input_matrix, dtype=float).reshape(self.d, self.d)
        self._out_shift = np.atleast_1d(np.asarray(output_shift, dtype=float))
        self._out_scale = float(output_scale)
        self.signs_t = [tf.constant(s, dtype=DTYPE) for s in self._signs]
        self.mu_t = tf.constant(self._mu, dtype=DTYPE)
        self.P_t = tf.constant(self._P, dtype=DTYPE)
        self.out_shift_t = tf.constant(self._out_shift, dtype=DTYPE)
        self.out_scale_t = tf.constant(self._out_scale, dtype=DTYPE)

    def inputs(self, omega, F):
        return tf.matmul(omega * F - self.mu_t, self.P_t, transpose_b=True)

    def _common(self) -> dict:
        return dict(input_shift=self._mu.copy(), input_matrix=self._P.copy(), signs=self._signs.copy(),
                    output_shift=self._out_shift.copy(), output_scale=self._out_scale)


class EntropyNet(_Preprocessed):
    """h̃(ω̃) by a softplus MLP (``mlp``) or an input-convex network (``icnn``)."""

    has_entropy = True

    def __init__(self, arch: str, d: int, width: int, depth: int, signs, input_shift, input_matrix,
                 output_shift=0.0, output_scale=1.0, seed: int = 0, **kw):
        super().__init__(d, signs, input_shift, input_matrix, output_shift, output_scale, **kw)
        self.arch, self.width, self.depth = arch, int(width), int(depth)
        self.plan = plan(arch, self.d, self.width, self.depth)
        init = keras.initializers
        self.Wz, self.Wx, self.b = [], [], []
        for k, (units, nz, sees_x, _, nonneg) in enumerate(self.plan):
            s = seed * 1000 + 3 * k
            if nz:
                ini = (init.RandomUniform(0.0, 2.0 / nz, seed=s) if nonneg
                       else init.RandomNormal(0.0, init_std(nz), seed=s))
                self.Wz.append(self.add_weight(shape=(nz, units), initializer=ini, name=f"Wz{k}", dtype=DTYPE,
                                               constraint=keras.constraints.NonNeg() if nonneg else None))
            else:
                self.Wz.append(None)
            if sees_x:
                ini = init.RandomNormal(0.0, init_std(self.d), seed=s + 1)
                self.Wx.append(self.add_weight(shape=(self.d, units), name=f"Wx{k}", dtype=DTYPE,
                                               initializer=ini))
            else:
                self.Wx.append(None)
            self.b.append(self.add_weight(shape=(units,), initializer="zeros", name=f"b{k}", dtype=DTYPE))

    def network(self, x):
        """N(x), (B,)."""
        return self._forward(x)[:, 0]

    def center_biases(self, omega) -> None:
        """Data-dependent initialisation of the hidden biases: every softplus layer's pre-activation gets zero
        mean over ``omega`` (layer by layer, as in LSUV-style initialisations). Without it the ICNN's
        non-negative z-weights make every deeper pre-activation grow positive, so those layers start in the
        linear part of the softplus and contribute no curvature."""
        self._forward(self.inputs(tf.constant(omega, dtype=DTYPE), self.signs_t[0]), center=True)

    def _forward(self, x, center: bool = False):
        """Output of the last layer, (B, 1); with ``center`` each softplus layer's bias is first shifted so
        that its pre-activation has zero mean over the batch."""
        z = None
        for (_, _, _, act, _), Wz, Wx, b in zip(self.plan, self.Wz, self.Wx, self.b, strict=True):
            a = b
            if Wx is not None:
                a = a + tf.matmul(x, Wx)
            if Wz is not None:
                a = a + tf.matmul(z, Wz)
            if center and act == "softplus":
                shift = tf.reduce_mean(a, axis=0)
                b.assign(b - shift)
                a = a - shift
            z = tf.math.softplus(a) if act == "softplus" else a
        return z

    def call(self, omega, training=False):
        out = 0.0
        for F in self.signs_t:
            out = out + self.network(self.inputs(omega, F))
        return self.out_shift_t[0] + self.out_scale_t * out / len(self.signs_t)

    def to_network(self, **meta) -> Network:
        layers = []
        for (_, _, _, act, nonneg), Wz, Wx, b in zip(self.plan, self.Wz, self.Wx, self.b, strict=True):
            layers.append(DenseLayer(None if Wz is None else np.array(Wz.numpy()).T.copy(),
                                     None if Wx is None else np.array(Wx.numpy()).T.copy(),
                                     np.array(b.numpy()).copy(), act, nonneg))
        return Network(architecture=self.arch, layers=layers, **self._common(), **meta)


class MonotoneNet(_Preprocessed):
    """α̃(ω̃) by a ResNet trained with the monotonicity loss ([B eq. 72–77])."""

    has_entropy = False

    def __init__(self, d: int, width: int, depth: int, signs, input_shift, input_matrix, output_shift=None,
                 output_scale=1.0, seed: int = 0, **kw):
        super().__init__(d, signs, input_shift, input_matrix,
                         np.zeros(d) if output_shift is None else output_shift, output_scale, **kw)
        self.arch, self.width, self.depth = "monotone", int(width), int(depth)
        W, half = self.width, max(1, (self.width + 1) // 2)
        L = keras.layers
        init = keras.initializers

        def dense(units, fan_in, s):
            ini = init.RandomNormal(0.0, init_std(fan_in), seed=s)
            return L.Dense(units, dtype=DTYPE, kernel_initializer=ini)

        def bn():
            return L.BatchNormalization(dtype=DTYPE, momentum=0.99, epsilon=1e-3)

        s = seed * 1000
        self.head = dense(W, self.d, s)
        self.blocks = [(bn(), dense(W, W, s + 10 * k + 1), bn(), dense(W, W, s + 10 * k + 2))
                       for k in range(depth)]
        self.tail = (bn(), dense(half, W, s + 900), bn(), dense(self.d, half, s + 901))

    def network(self, x, training=False):
        sp = tf.math.softplus
        z = self.head(x)
        for bn1, d1, bn2, d2 in self.blocks:
            y = d1(sp(bn1(z, training=training)))
            y = d2(sp(bn2(y, training=training)))
            z = z + y
        bn1, d1, bn2, d2 = self.tail
        return d2(sp(bn2(d1(sp(bn1(z, training=training))), training=training)))

    def call(self, omega, training=False):
        out = 0.0
        for F in self.signs_t:
            out = out + self.network(self.inputs(omega, F), training=training) * F
        return self.out_shift_t + self.out_scale_t * out / len(self.signs_t)

    def to_network(self, **meta) -> Network:
        def fold(bn):
            g, b = np.array(bn.gamma.numpy()), np.array(bn.beta.numpy())
            mean, var = np.array(bn.moving_mean.numpy()), np.array(bn.moving_variance.numpy())
            scale = g / np.sqrt(var + bn.epsilon)
            return scale, b - mean * scale

        def wb(dense):
            return np.array(dense.kernel.numpy()).T.copy(), np.array(dense.bias.numpy()).copy()

        m = {}
        m["head_W"], m["head_b"] = wb(self.head)
        vals = {k: [] for k in MONOTONE_BLOCK}
        for bn1, d1, bn2, d2 in self.blocks:
            for k, v in zip(MONOTONE_BLOCK, (*fold(bn1), *wb(d1), *fold(bn2), *wb(d2)), strict=True):
                vals[k].append(v)
        W = self.width
        for k in MONOTONE_BLOCK:
            m[f"block_{k}"] = np.array(vals[k]) if vals[k] else np.zeros((0, W, W) if k[0] == "W" else (0, W))
        bn1, d1, bn2, d2 = self.tail
        for k, v in zip(MONOTONE_BLOCK, (*fold(bn1), *wb(d1), *fold(bn2), *wb(d2)), strict=True):
            m[f"tail_{k}"] = v
        return Network(architecture="monotone", monotone=m, **self._common(), **meta)


def build(arch: str, d: int, width: int, depth: int, signs, input_shift, input_matrix, output_shift,
          output_scale, seed: int = 0):
    """The Keras model of an architecture, built (weights created) for d inputs."""
    if arch in ("mlp", "icnn"):
        model = EntropyNet(arch, d, width, depth, signs, input_shift, input_matrix, output_shift,
                           output_scale, seed=seed)
    elif arch == "monotone":
        model = MonotoneNet(d, width, depth, signs, input_shift, input_matrix, output_shift, output_scale,
                            seed=seed)
    else:
        raise ValueError(f"unknown architecture {arch!r}")
    model(tf.zeros((1, d), dtype=DTYPE))  # create the weights of the Keras sublayers
    return model


def entropy_and_gradient(model, omega, training=False):
    """(h̃ (B,), α̃ (B, d)) of an entropy network; α̃ by automatic differentiation (works inside an outer
    GradientTape, so losses on α̃ can be trained)."""
    with tf.GradientTape() as tape:
        tape.watch(omega)
        h = model(omega, training=training)
    return h, tape.gradient(h, omega)


def from_network(net: Network):
    """A Keras model carrying the weights of a :class:`Network` (e.g. to compute Hessians by autodiff or to
    continue training). A monotone network comes back with its folded batch norms as the layers' affine
    maps (moving mean 0, variance 1 − ε): exact with ``training=False``."""
    d = net.d
    if net.has_entropy:
        units = [L.units for L in net.layers]
        width, depth = units[0], len(units) - (2 if net.architecture == "mlp" else 3)
    else:
        width, depth = net.monotone["head_W"].shape[0], net.monotone["block_W1"].shape[0]
    model = build(net.architecture, d, width, depth, net.signs, net.input_shift, net.input_matrix,
                  net.output_shift, net.output_scale)
    copy_weights(net, model)
    return model


def copy_weights(net: Network, model) -> None:
    """Assign the weights of a :class:`Network` to a Keras model of the same architecture and layout."""
    if net.architecture != model.arch:
        raise ValueError(f"copy_weights: a {net.architecture} network into a {model.arch} model")
    if not net.has_entropy:
        _copy_monotone(net.monotone, model)
        return
    if len(net.layers) != len(model.b):
        raise ValueError("copy_weights: needs an entropy network of the model's layer plan")
    for L, Wz, Wx, b in zip(net.layers, model.Wz, model.Wx, model.b, strict=True):
        if Wz is not None:
            Wz.assign(L.Wz.T)
        if Wx is not None:
            Wx.assign(L.Wx.T)
        b.assign(L.b)


def _copy_monotone(m: dict, model: MonotoneNet) -> None:
    """Unfold a monotone network's (scale, shift) pairs into its Keras batch norms and set the dense layers."""
    def bn(layer, scale, shift):
        layer.gamma.assign(scale)
        layer.beta.assign(shift)
        layer.moving_mean.assign(np.zeros_like(scale))
        layer.moving_variance.assign(np.full_like(scale, 1.0 - layer.epsilon))

    def dense(layer, W, b):
        layer.kernel.assign(W.T)
        layer.bias.assign(b)

    def block(layers, get):
        bn1, d1, bn2, d2 = layers
        bn(bn1, get("bn1_scale"), get("bn1_shift"))
        dense(d1, get("W1"), get("b1"))
        bn(bn2, get("bn2_scale"), get("bn2_shift"))
        dense(d2, get("W2"), get("b2"))

    if m["block_W1"].shape[0] != len(model.blocks) or m["head_W"].shape != (model.width, model.d):
        raise ValueError("copy_weights: the monotone network's layout differs from the model's")
    dense(model.head, m["head_W"], m["head_b"])
    for k, layers in enumerate(model.blocks):
        block(layers, lambda key, k=k: m[f"block_{key}"][k])
    block(model.tail, lambda key: m[f"tail_{key}"])
