"""Network layouts (shared by the TensorFlow models and the framework-neutral file) and random networks.

Layouts, with d = n − 1 inputs (SCIENCE.md §5):

* ``mlp`` [A eq. 41–42], "NN{D}x{W}_{N}": D + 1 softplus layers of width W (the first sees the input, the
  other D are W × W) and a linear scalar output — D W² + (n + D + 1) W + 1 parameters, as in [A]. (The
  paper writes σ on the output layer too; the restricted entropy takes negative values, h̃(0) = −1 − log 2
  in 1D, so the output is linear.)
* ``icnn`` [B eq. 63–68 and §5.1], "ICNN{W}x{D}": a dense softplus head (W, sees the input), D convex
  layers of width W, one convex layer of width ⌈W/2⌉ and a linear scalar output; every layer after the
  head sees the input through free weights Wx and the previous layer through Wz ≥ 0. (The paper ends with
  a ReLU on the [0, 1]-scaled output; it is left out because it would make h̃ non-differentiable.)
* ``monotone`` [B eq. 74 and §5.1], "MONO{W}x{D}": a linear head (W), D ResNet blocks
  (BN → softplus → dense → BN → softplus → dense, plus skip), a tail BN → softplus → dense(⌈W/2⌉) → BN →
  softplus and a linear output of size d (α̃).

Initialisation [A eq. 44]: biases 0, weights N(0, s²) with s² = 1/(fan_in σ′(0)² (1 + σ(0)²)),
σ(0) = log 2, σ′(0) = ½. The non-negative ICNN weights Wz start uniform in [0, 2/fan_in] (mean 1/fan_in, so
the mean activation neither explodes nor vanishes with depth; a half-normal of the eq. 44 variance grows
it by ≈ 5 per layer at width 15).
"""

from __future__ import annotations

import numpy as np

from ...velocity import Basis
from .export import MONOTONE_BLOCK, DenseLayer, Network
from .rotation import reduced_signs

SIGMA0 = float(np.log(2.0))
DSIGMA0 = 0.5


def init_std(fan_in: int) -> float:
    """[A eq. 44]: s = (fan_in σ′(0)² (1 + σ(0)²))^(−1/2)."""
    return float(1.0 / np.sqrt(fan_in * DSIGMA0**2 * (1.0 + SIGMA0**2)))


def plan(arch: str, d: int, width: int, depth: int) -> list[tuple[int, int, bool, str, bool]]:
    """Dense layers of an entropy network: (units, inputs from the previous layer (0: none), sees x,
    activation, Wz non-negative)."""
    if width < 1 or depth < 0 or d < 1:
        raise ValueError(f"need width ≥ 1, depth ≥ 0 and at least one input, got {width}, {depth}, {d}")
    if arch == "mlp":
        return ([(width, 0, True, "softplus", False)] + [(width, width, False, "softplus", False)] * depth
                + [(1, width, False, "linear", False)])
    if arch == "icnn":
        half = max(1, (width + 1) // 2)
        return ([(width, 0, True, "softplus", False)] + [(width, width, True, "softplus", True)] * depth
                + [(half, width, True, "softplus", True), (1, half, True, "linear", True)])
    raise ValueError(f"no dense plan for architecture {arch!r}")


def default_name(arch: str, width: int, depth: int, basis: Basis, symmetric: bool = False) -> str:
    """[A]'s NN{D}x{W}_{N} for MLPs ("sym" prefix when symmetrised); ICNN/MONO{W}x{D}_M{N}_{dim}D else."""
    if arch == "mlp":
        return f"{'sym' if symmetric else ''}NN{depth}x{width}_{basis.N}"
    tag = "ICNN" if arch == "icnn" else "MONO"
    return f"{tag}{width}x{depth}_M{basis.N}_{basis.dim}D"


def layout_string(arch: str, width: int, depth: int) -> str:
    return f"depth {depth} x width {width}" if arch == "mlp" else f"width {width} x depth {depth}"


def symmetry_signs(basis: Basis, symmetric: bool) -> np.ndarray:
    """(S, d) sign flips of ω̃ averaged over: the identity, and with ``symmetric`` every combination of the
    basis's reflections v_k → −v_k ([A eq. 45]: ω̃*_i = (−1)^i ω̃_i in 1D)."""
    d = basis.n - 1
    signs = [np.ones(d)]
    if symmetric:
        flips = basis.flips[:, 1:]
        for mask in range(1, 2 ** flips.shape[0]):
            s = np.ones(d)
            for k in range(flips.shape[0]):
                if mask >> k & 1:
                    s = s * flips[k]
            signs.append(s)
    return np.array(signs)


def random_network(arch: str, basis: Basis, width: int, depth: int, seed: int = 0, symmetric: bool = False,
                   alpha0: str | None = None, input_scale: float = 1.0, quadrature: str = "",
                   rotation: bool = False) -> Network:
    """A network with random weights drawn like the initialisation (tests, benchmarks): biases are drawn
    too (N(0, 0.1²)) so every code path is exercised; a random orthogonal input map and a non-trivial
    output scaling are used for icnn/monotone. ``rotation``: a rotation-invariant 2D network on the n − 2
    reduced coordinates (:mod:`.rotation`)."""
    rng = np.random.default_rng(seed)
    d = basis.n - (2 if rotation else 1)
    if arch == "mlp":
        P, mu = np.eye(d), np.zeros(d)
        out_shift, out_scale = np.zeros(1), 1.0
    else:
        P = np.linalg.qr(rng.standard_normal((d, d)))[0].T * input_scale
        mu = 0.1 * rng.standard_normal(d)
        out_shift = np.array([-1.5]) if arch == "icnn" else 0.3 * rng.standard_normal(d)
        out_scale = 2.5
    signs = reduced_signs(basis, symmetric) if rotation else symmetry_signs(basis, symmetric)
    if arch == "monotone":  # a symmetrised α̃ is odd in the flipped components: so must its shift be
        out_shift = np.mean(signs * out_shift, axis=0)
    common = dict(architecture=arch, basis_kind=basis.kind, basis_dim=basis.dim, basis_N=basis.N,
                  input_shift=mu, input_matrix=P,
                  signs=signs,
                  rotation="first_moment" if rotation else "",
                  output_shift=out_shift, output_scale=out_scale,
                  alpha0=alpha0 or ("gradient" if arch == "mlp" else "normalisation"),
                  name=default_name(arch, width, depth, basis, symmetric),
                  layout=layout_string(arch, width, depth),
                  quadrature=quadrature)
    if arch in ("mlp", "icnn"):
        layers = []
        for units, nz, sees_x, act, nonneg in plan(arch, d, width, depth):
            Wz = None
            if nz:
                Wz = (rng.uniform(0.0, 2.0 / nz, (units, nz)) if nonneg
                      else rng.normal(0.0, init_std(nz), (units, nz)))
            Wx = rng.normal(0.0, init_std(d), (units, d)) if sees_x else None
            layers.append(DenseLayer(Wz, Wx, 0.1 * rng.standard_normal(units), act, nonneg))
        return Network(layers=layers, **common)
    if arch == "monotone":
        W, half = width, max(1, (width + 1) // 2)

        def dense(o, i):
            return rng.normal(0.0, init_std(i), (o, i)), 0.1 * rng.standard_normal(o)

        def bn(k):
            return 1.0 + 0.1 * rng.standard_normal(k), 0.1 * rng.standard_normal(k)

        m = {}
        m["head_W"], m["head_b"] = dense(W, d)
        blocks = {k: [] for k in MONOTONE_BLOCK}
        for _ in range(depth):
            for pre in ("1", "2"):
                s, t = bn(W)
                Wk, bk = dense(W, W)
                blocks[f"bn{pre}_scale"].append(s)
                blocks[f"bn{pre}_shift"].append(t)
                blocks[f"W{pre}"].append(Wk)
                blocks[f"b{pre}"].append(bk)
        for k, v in blocks.items():
            shape = {"W1": (0, W, W), "W2": (0, W, W)}.get(k, (0, W))
            m[f"block_{k}"] = np.array(v) if v else np.zeros(shape)
        m["tail_bn1_scale"], m["tail_bn1_shift"] = bn(W)
        m["tail_W1"], m["tail_b1"] = dense(half, W)
        m["tail_bn2_scale"], m["tail_bn2_shift"] = bn(half)
        m["tail_W2"], m["tail_b2"] = dense(d, half)
        return Network(monotone=m, **common)
    raise ValueError(f"unknown architecture {arch!r}")
