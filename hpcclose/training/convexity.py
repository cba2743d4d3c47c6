"""Convexity check of a network closure [A 4.2]: Hessian eigenvalues of h̃ on a dense test set.

:func:`derivatives` evaluates h̃, α̃ = ∇h̃ and the exact Hessian ∇²h̃ of an entropy network (mlp, icnn) in
plain numpy, from the framework-neutral :class:`~hpcclose.closures.neural.export.Network` (no TensorFlow):
forward-mode differentiation of the hand-written backpropagation. Along a direction v the forward pass
carries ȧ_k = Wz ż_{k−1} + Wx ẋ, ż_k = σ′(a_k) ȧ_k, and the backward pass δ_k = g_k ⊙ σ′(a_k) carries
δ̇_k = ġ_k ⊙ σ′(a_k) + g_k ⊙ σ″(a_k) ȧ_k with σ′ = sigmoid, σ″ = sigmoid (1 − sigmoid); doing this for the
d unit vectors gives the Hessian columns. For the monotone network (α̃ directly) :func:`derivatives` gives
the Jacobian of α̃ by central differences; its symmetric part must be PSD for a monotone map.

:func:`dense_test_set` builds the dense test set: a tensor grid over the bounding box of the training inputs,
kept where the moments are realizable with a margin. :func:`report` summarises the eigenvalues.
"""

from __future__ import annotations

import numpy as np

from ..closures.neural.export import Network
from ..closures.neural.rotation import Rotation, rotation
from ..velocity import Basis


def _sp(a):
    """softplus and sigmoid, stable."""
    e = np.exp(-np.abs(a))
    return np.maximum(a, 0.0) + np.log1p(e), np.where(a >= 0, 1.0, e) / (1.0 + e)


def derivatives(net: Network, omega: np.ndarray, hessian: bool = True, eps: float = 1e-5):
    """(h̃ (B,), α̃ (B, d), H (B, d, d) or None) at the normalised moments ω̃ (B, d).

    Entropy networks: exact. Monotone networks: h̃ is not available here (NaN), α̃ from the numpy
    forward pass, H the central-difference Jacobian of α̃ (step eps).
    """
    omega = np.atleast_2d(np.asarray(omega, dtype=float))
    if not net.has_entropy:
        return _monotone_derivatives(net, omega, hessian, eps)
    B, d = omega.shape
    P, mu = net.input_matrix, net.input_shift
    h = np.zeros(B)
    g_om = np.zeros((B, d))
    H = np.zeros((B, d, d)) if hessian else None
    eye = np.eye(d)
    # the network is the mean over its symmetry sign flips F of N(P (F ω̃ − μ))
    for F in net.signs:
        x = (omega * F - mu) @ P.T
        xdot = (eye * F) @ P.T  # (d_dir, d): ẋ for each unit direction of ω̃
        out, ss, adots = _forward_tangents(net, x, xdot)
        h += out[:, 0]
        gx, gxdot = _backward_tangents(net, ss, adots, B, d)
        g_om += (gx @ P) * F
        if hessian:
            H += (gxdot @ P) * F[None, None, :]  # ẋ already carries F for the direction
    c = net.output_scale / net.signs.shape[0]
    h = float(net.output_shift[0]) + c * h
    if hessian:
        H = 0.5 * c * (H + np.swapaxes(H, 1, 2))
    return h, c * g_om, H


def _forward_tangents(net: Network, x: np.ndarray, xdot: np.ndarray) -> tuple[np.ndarray, list, list]:
    """Forward pass of an entropy network at inputs x (B, d) with the tangents along the directions
    ``xdot`` (d_dir, d): (output (B, 1), softplus slopes per layer, pre-activation tangents per layer)."""
    B, d = x.shape[0], xdot.shape[0]
    ss, adots = [], []
    z, zdot = None, None
    for L in net.layers:
        a = x @ L.Wx.T if L.Wx is not None else 0.0
        adot = np.broadcast_to(xdot @ L.Wx.T, (B, d, L.units)) if L.Wx is not None else 0.0
        if L.Wz is not None:
            a = a + z @ L.Wz.T
            adot = adot + zdot @ L.Wz.T
        a = a + L.b
        if L.activation == "softplus":
            z, s = _sp(a)
            zdot = s[:, None, :] * adot
        else:
            z, s = a, np.ones_like(a)
            zdot = np.asarray(adot)
        ss.append(s)
        adots.append(np.asarray(adot))
    return z, ss, adots


def _backward_tangents(net: Network, ss: list, adots: list, B: int, d: int) -> tuple[np.ndarray, np.ndarray]:
    """Backpropagation of :func:`_forward_tangents`' pass: the gradient of the output with respect to the
    inputs x (B, d) and its tangents (B, d_dir, d)."""
    g = np.ones((B, 1))
    gdot = np.zeros((B, d, 1))
    gx = np.zeros((B, d))
    gxdot = np.zeros((B, d, d))
    for k in range(len(net.layers) - 1, -1, -1):
        L = net.layers[k]
        if L.activation == "softplus":
            s = ss[k]
            delta = g * s
            ddot = gdot * s[:, None, :] + (g * s * (1.0 - s))[:, None, :] * adots[k]
        else:
            delta, ddot = g, gdot
        if L.Wx is not None:
            gx = gx + delta @ L.Wx
            gxdot = gxdot + ddot @ L.Wx
        if L.Wz is not None:
            g = delta @ L.Wz
            gdot = ddot @ L.Wz
    return gx, gxdot


def _monotone_derivatives(net: Network, omega: np.ndarray, hessian: bool, eps: float):
    """:func:`derivatives` of a monotone network: (NaN, α̃, central-difference Jacobian of α̃ or None)."""
    B, d = omega.shape
    at = _monotone_forward(net, omega)
    H = None
    if hessian:
        H = np.empty((B, d, d))
        for j in range(d):
            e = np.zeros(d)
            e[j] = eps
            fp, fm = _monotone_forward(net, omega + e), _monotone_forward(net, omega - e)
            H[:, :, j] = (fp - fm) / (2 * eps)
    return np.full(B, np.nan), at, H


def _monotone_forward(net: Network, omega: np.ndarray) -> np.ndarray:
    m = net.monotone
    out = np.zeros_like(omega)

    def sp(a):
        return _sp(a)[0]

    for F in net.signs:
        x = (omega * F - net.input_shift) @ net.input_matrix.T
        z = x @ m["head_W"].T + m["head_b"]
        for k in range(m["block_W1"].shape[0]):
            y = sp(m["block_bn1_scale"][k] * z + m["block_bn1_shift"][k]) @ m["block_W1"][k].T
            y = y + m["block_b1"][k]
            y = sp(m["block_bn2_scale"][k] * y + m["block_bn2_shift"][k]) @ m["block_W2"][k].T
            y = y + m["block_b2"][k]
            z = z + y
        t = sp(m["tail_bn1_scale"] * z + m["tail_bn1_shift"]) @ m["tail_W1"].T + m["tail_b1"]
        o = sp(m["tail_bn2_scale"] * t + m["tail_bn2_shift"]) @ m["tail_W2"].T + m["tail_b2"]
        out += o * F
    return net.output_shift + net.output_scale / net.signs.shape[0] * out


def realizability_margin(basis: Basis, pts: np.ndarray, frame: Rotation | None = None) -> np.ndarray:
    """Realizability margin of normalised moments (B, d); reduced coordinates when a ``frame`` is given."""
    full = pts if frame is None else frame.expand(pts)
    return basis.realizability_margin(np.concatenate([np.ones((full.shape[0], 1)), full], axis=1))


#: Fewer grid points per axis than this do not test the interior: random segments of the data instead.
MIN_PER_AXIS = 5


def dense_test_set(basis: Basis, omega_train: np.ndarray, per_axis: int = 200, margin: float = 1e-3,
                   max_points: int = 200_000, frame: Rotation | None = None) -> np.ndarray:
    """Dense test set, realizable with realizability margin > ``margin`` (d columns: the reduced coordinates
    of ``frame`` if given): a tensor grid over the bounding box of ``omega_train``, coarsened so at most
    ``max_points`` are kept — or, where that grid would have fewer than :data:`MIN_PER_AXIS` points per axis,
    ``max_points`` random points on segments between training points."""
    omega_train = np.atleast_2d(omega_train)
    d = omega_train.shape[1]
    per_axis = max(2, min(per_axis, int(max_points ** (1.0 / d))))
    if per_axis >= MIN_PER_AXIS:
        lo, hi = omega_train.min(axis=0), omega_train.max(axis=0)
        axes = [np.linspace(a, b, per_axis) for a, b in zip(lo, hi, strict=True)]
        pts = np.stack([g.ravel() for g in np.meshgrid(*axes, indexing="ij")], axis=1)
    else:
        # in many dimensions a box has (almost) no realizable point (2D M3, 8 reduced inputs: none of 4 096
        # Sobol points of the training data's box has margin > 1e-3, 0.1 % has margin > 0); the realizable
        # set is convex (and so is its slice v_y = 0, v_x ≥ 0 in the reduced frame), so points between two
        # training points are realizable and fill the hull of the data
        rng = np.random.default_rng(0)
        i, j = rng.integers(0, omega_train.shape[0], size=(2, max_points))
        lam = rng.uniform(size=(max_points, 1))
        pts = lam * omega_train[i] + (1.0 - lam) * omega_train[j]
    return pts[realizability_margin(basis, pts, frame) > margin]


def random_realizable(basis: Basis, omega_train: np.ndarray, count: int, margin: float = 5e-4,
                      pad: float = 0.02, seed: int = 0, frame: Rotation | None = None) -> np.ndarray:
    """``count`` random points, uniform over a slightly larger region than :func:`dense_test_set`'s (the
    bounding box of ``omega_train`` widened by ``pad`` of its size on each side, realizable with margin
    > ``margin``, half the grid's): where the local monotonicity term is imposed beyond the training data
    (it needs no labels). The extra width puts points on and past the grid's edges, where a network
    extrapolates and would otherwise turn back unseen."""
    omega_train = np.atleast_2d(omega_train)
    lo, hi = omega_train.min(axis=0), omega_train.max(axis=0)
    lo, hi = lo - pad * (hi - lo), hi + pad * (hi - lo)
    rng = np.random.default_rng(seed)
    kept: list[np.ndarray] = []
    total = 0
    for _ in range(1000):  # rejection sampling; the realizable share of the box is far above 1e-3
        pts = rng.uniform(lo, hi, size=(max(4 * count, 1024), lo.size))
        pts = pts[realizability_margin(basis, pts, frame) > margin]
        kept.append(pts)
        total += pts.shape[0]
        if total >= count:
            break
    return np.concatenate(kept)[:count]


def report(net: Network, omega: np.ndarray, chunk: int = 20_000) -> dict:
    """Eigenvalues of ∇²h̃ (entropy networks) or of the symmetric part of ∇α̃ (monotone) at ``omega``:
    min, the fraction below −1e−10·max(1, max eigenvalue), the worst point."""
    quantity = "hessian of h" if net.has_entropy else "symmetric jacobian of alpha (central differences)"
    return _summary([derivatives(net, omega[s:s + chunk])[2] for s in range(0, omega.shape[0], chunk)], omega,
                    quantity)


def extension_report(net: Network, basis: Basis, reduced: np.ndarray, eps: float = 1e-6,
                     chunk: int = 20_000) -> dict:
    """:func:`report` for a rotation-invariant network in all n − 1 coordinates of ω̃: the symmetric part of
    the Jacobian of its completed α̃ (α_y from the invariance, turned back), by central differences, at the
    reduced-frame points ``reduced`` (their v_x ≥ 0). The network is convex (monotone) in its own inputs;
    this checks the rotation-invariant function it defines on the whole moment space."""
    frame = rotation(basis)

    def alpha(om):
        c, s, v = frame.reduce(om)
        return frame.to_frame(c, s, frame.complete_alpha(v, derivatives(net, v[:, frame.keep], hessian=False)[1]))

    def jacobian(omega):
        d = omega.shape[1]
        J = np.empty((omega.shape[0], d, d))
        for j in range(d):
            e = np.zeros(d)
            e[j] = eps
            J[:, :, j] = (alpha(omega + e) - alpha(omega - e)) / (2 * eps)
        return J

    full = frame.expand(reduced)
    return _summary([jacobian(full[s:s + chunk]) for s in range(0, full.shape[0], chunk)], full,
                    "symmetric jacobian of the completed alpha in all coordinates (central differences)")


def _summary(jacobians: list[np.ndarray], omega: np.ndarray, quantity: str) -> dict:
    """Smallest and largest eigenvalue of the symmetric parts of the stacked ``jacobians`` (rows of ``omega``)."""
    ev = [np.linalg.eigvalsh(0.5 * (H + np.swapaxes(H, 1, 2))) for H in jacobians]
    lmin = np.concatenate([e[:, 0] for e in ev]) if ev else np.zeros(0)
    lmax = np.concatenate([e[:, -1] for e in ev]) if ev else np.zeros(0)
    if lmin.size == 0:
        return {"points": 0}
    tol = -1e-10 * max(1.0, float(lmax.max()))
    worst = int(np.argmin(lmin))
    return {"points": int(lmin.size), "min_eigenvalue": float(lmin.min()),
            "max_eigenvalue": float(lmax.max()),
            "negative_fraction": float(np.mean(lmin < tol)), "worst_point": omega[worst].tolist(),
            "convex": bool(lmin.min() >= tol), "quantity": quantity}
