"""Test errors of an exported network on a set of normalised samples, in our units and in [B] Table 1's.

The network is evaluated from the model file's arrays with numpy (:func:`.convexity.derivatives`: no
TensorFlow, no compilation), which agrees with both closure backends to ~1e−13, so the errors reported
are those of the file a simulation will load.
"""

from __future__ import annotations

import numpy as np

from ..closures import scaling
from ..closures.neural import export
from ..closures.neural.rotation import rotation
from ..velocity import Basis, Quadrature
from . import convexity
from .samples import Prepared, Samples


def validation_report(net: export.Network, prep: Prepared, convexity_points: int) -> tuple[dict, dict]:
    """(:func:`errors` on the validation set, the convexity report on a dense grid of ``convexity_points``
    over the training set's region, empty when 0)."""
    tr = prep.train
    test = errors(net, prep.basis, prep.quad, prep.val, h_range=float(tr.h.max() - tr.h.min()),
                  alpha_range=(float(tr.alpha.min()), float(tr.alpha.max())))
    conv = {}
    if convexity_points:
        pts = convexity.dense_test_set(prep.basis, tr.omega, max_points=convexity_points, frame=prep.frame)
        conv = convexity.report(net, pts)
        if net.rotation:  # the network is convex in its inputs; the function it defines on all of ω̃ too?
            conv["extension"] = convexity.extension_report(net, prep.basis, pts)
    return test, conv


def errors(net: export.Network, basis: Basis, quad: Quadrature, s: Samples, h_range: float = 1.0,
           alpha_range: tuple[float, float] | None = None) -> dict:
    """MSE/MAE of h̃, α̃ and the reconstructed moments w, relative RMSEs ([A eq. 49], relative to the
    data), and the errors in [B] Table 1's units (:func:`paper_units`; ``h_range`` = h̃_max − h̃_min and
    ``alpha_range`` = (min, max) over all α̃ components of the training set), of the exported network
    (numpy evaluation of the file's arrays: no TensorFlow, no compilation; it agrees with both closure
    backends to ~1e−13). A rotation-invariant network is evaluated in the reduced frame of the samples: its
    α̃ completed by the invariance (:meth:`~hpcclose.closures.neural.rotation.Rotation.complete_alpha`)."""
    h, at, _ = convexity.derivatives(net, s.omega, hessian=False)
    omega, reduced = s.omega, {}
    if net.rotation:  # the network's own components too: the α_y error is theirs amplified near v_x = 0
        frame = rotation(basis)
        reduced = {"mse_alpha_reduced": float(np.mean(np.sum((at - s.alpha[:, frame.keep]) ** 2, axis=1)))}
        omega = frame.expand(s.omega)
        at = frame.complete_alpha(omega, at)
    m = basis.evaluate(quad)
    ones = np.ones(s.count)
    if net.alpha0 == "gradient":
        a0 = scaling.alpha0_from_gradient(h, omega, at, ones)
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
        **reduced,
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
