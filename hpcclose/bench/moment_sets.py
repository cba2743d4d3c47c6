"""Normalised slab moment sets for closure benchmarks ([B] Table 2, [A] Tables 4–5).

Monomial moments ω = (1, ω1[, ω2]) of 1D M1/M2, in three flavours:
- ``uniform``: uniform in the normalised realizable set (rejection from its bounding box);
- ``interior``: uniform over the points at Euclidean distance ≥ 0.1 (M2) / |ω1| ≤ 0.5 (M1) from ∂R;
- ``boundary``: at Euclidean distance ``distance`` from ∂R (a boundary point moved inward along the
  normal, kept when its distance is that value: corners would otherwise be over-sampled).
"""

from __future__ import annotations

import numpy as np

from ..velocity.realizability import m2_boundary_distance

KINDS = ("uniform", "interior", "boundary")
INTERIOR_DISTANCE = 0.1


def _until(count: int, draw) -> np.ndarray:
    """Call ``draw()`` (returns accepted rows) until ``count`` rows are collected."""
    parts, have = [], 0
    while have < count:
        rows = draw()
        parts.append(rows)
        have += len(rows)
    return np.concatenate(parts)[:count]


def m1_set(kind: str, count: int, rng: np.random.Generator, distance: float = 1e-2) -> np.ndarray:
    """(count, 2) normalised M1 moments."""
    if kind == "uniform":
        w1 = rng.uniform(-1.0, 1.0, count)
    elif kind == "interior":
        w1 = rng.uniform(-0.5, 0.5, count)
    elif kind == "boundary":
        w1 = rng.choice([-1.0, 1.0], count) * (1.0 - distance)
    else:
        raise ValueError(f"unknown moment set {kind!r}; choose one of {', '.join(KINDS)}")
    return np.stack([np.ones(count), w1], axis=1)


def m2_set(kind: str, count: int, rng: np.random.Generator, distance: float = 1e-2) -> np.ndarray:
    """(count, 3) normalised M2 moments (monomial basis: 1, μ, μ²)."""
    batch = max(2 * count, 1000)
    if kind in ("uniform", "interior"):
        def draw():
            w1, w2 = rng.uniform(-1.0, 1.0, batch), rng.uniform(0.0, 1.0, batch)
            d = m2_boundary_distance(w1, w2)
            keep = d > (0.0 if kind == "uniform" else INTERIOR_DISTANCE)
            return np.stack([w1[keep], w2[keep]], axis=1)
    elif kind == "boundary":
        def draw():
            # boundary points by arc length: top segment (length 2) or parabola (length ≈ 2.9579)
            top = rng.uniform(0.0, 2.0 + 2.9579, batch) < 2.0
            s = rng.uniform(-1.0, 1.0, batch)
            normal = np.stack([2 * s, -np.ones(batch)], axis=1) / np.hypot(2 * s, 1.0)[:, None]
            base = np.stack([s, np.where(top, 1.0, s * s)], axis=1)
            inward = np.where(top[:, None], [0.0, -1.0], -normal)
            pts = base + distance * inward
            d = m2_boundary_distance(pts[:, 0], pts[:, 1])
            return pts[np.abs(d - distance) < 1e-6 * distance + 1e-14]
    else:
        raise ValueError(f"unknown moment set {kind!r}; choose one of {', '.join(KINDS)}")
    w = _until(count, draw)
    return np.concatenate([np.ones((count, 1)), w], axis=1)


def moment_set(order: int, kind: str, count: int, seed: int = 0, distance: float = 1e-2) -> np.ndarray:
    """Normalised monomial moments of 1D M1 (order 1) or M2 (order 2)."""
    rng = np.random.default_rng(seed)
    if order == 1:
        return m1_set(kind, count, rng, distance)
    if order == 2:
        return m2_set(kind, count, rng, distance)
    raise ValueError(f"closure benchmark moment sets exist for 1D M1 and M2, not order {order}")


def perturb(u: np.ndarray, rel: float, rng: np.random.Generator, realizable) -> np.ndarray:
    """u with every higher moment changed by a relative ±``rel``; non-realizable rows stay unperturbed."""
    v = u.copy()
    v[:, 1:] *= 1.0 + rel * rng.uniform(-1.0, 1.0, v[:, 1:].shape)
    ok = realizable(v)
    v[~ok] = u[~ok]
    return v
