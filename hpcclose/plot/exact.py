"""Exact solutions the figures overlay, looked up by problem name: None where none is known.

The plane source (1D, the delta variant) has Ganapol's density at every t > 0. A radially symmetric
2D problem (the line source) is drawn as a radial profile next to its maps; its exact u0(r, t) is
taken from :data:`RADIAL` through :func:`radial` (the line source: its ``Problem.exact``, Ganapol's kernel
convolved with the initial Gaussian, where the parameters have one).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

#: 2D problems whose solution depends on the distance r from the origin only (drawn against r too).
RADIALLY_SYMMETRIC = ("line_source",)


def _from_problem(problem, t: float, where: np.ndarray) -> np.ndarray | None:
    """The problem's own exact profile (``Problem.exact``) at ``where``, or None where it has none at ``t``."""
    exact = problem.exact(t)
    return None if exact is None else exact.profile(where)


#: problem name → exact u0 at distances r and time t: ``f(problem, t, r) -> array`` (or None at that t)
RADIAL: dict[str, Callable[[Any, float, np.ndarray], np.ndarray | None]] = {"line_source": _from_problem}


def problem_of(attrs: Mapping[str, Any]):
    """The problem a field file was computed for, with its parameters (from the input text it keeps)."""
    from .. import config
    from ..problems import get_problem

    cfg = config.parse(attrs["input_text"], "input_text", list(attrs.get("input_overrides", [])))
    return get_problem(cfg.problem.name, cfg.problem.params)


def _plane_source(problem, t: float, x_edges: np.ndarray) -> np.ndarray | None:
    """Ganapol's cell averages of ρ = u0 for the delta pulse (t > 0), in units where σt = σs + σa."""
    from ..problems.ganapol import plane_source_cell_averages

    p = problem.p
    sigma_t = p.sigma_s + p.sigma_a
    if p.variant != "delta" or t <= 0 or sigma_t <= 0:
        return None
    # lengths and times scale with 1/σt, the density with σt; c = σs/σt is the scattering ratio
    return sigma_t * plane_source_cell_averages(sigma_t * x_edges, sigma_t * t, p.sigma_s / sigma_t)


#: problem name → exact cell averages of u0 on a 1D grid: ``f(problem, t, x_edges) -> array | None``
PROFILE_1D: dict[str, Callable[[Any, float, np.ndarray], np.ndarray | None]] = {"plane_source": _plane_source}


def profile_1d(problem, t: float, x_edges: np.ndarray) -> np.ndarray | None:
    """Exact cell averages of u0 at time ``t`` of a 1D problem, or None where none is known."""
    exact = PROFILE_1D.get(problem.name)
    return None if exact is None else exact(problem, t, x_edges)


def radial(problem, t: float, r: np.ndarray) -> np.ndarray | None:
    """Exact u0 at distances ``r`` and time ``t`` of a radially symmetric 2D problem, or None."""
    exact = RADIAL.get(problem.name)
    return None if exact is None else exact(problem, t, r)
