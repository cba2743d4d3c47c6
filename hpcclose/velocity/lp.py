"""The exact realizability test for the discrete measure: the depth of a state in the cone of the nodes,
as a linear programme solved by HiGHS (SciPy), for the few cells the cheap tests of :mod:`.cone` leave.

In coordinates orthonormal under the rule (node vectors q_q with q_0 ≡ 1, normalised moments ω', see
:mod:`.cone`), write the nodal densities as g = t·ŵ + h with h ≥ 0. Then

    t* = max t   subject to   Σ_q h_q q_q + t e_0 = ω',  h ≥ 0        (e_0 = Σ_q ŵ_q q_q = (1, 0, …, 0))

is always feasible (the isotropic direction e_0 is interior) and bounded (Σ h + t = 1). HiGHS solves it to
its feasibility tolerance; a depth that close to zero cannot be told from the boundary, so there the state
is settled by non-negative least squares (exact to round-off): representable with g ≥ 0 to round-off
counts as realizable (the smallest positive margin), otherwise not.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linprog, nnls

#: HiGHS's feasibility tolerance (its smallest); depths closer to zero than BOUNDARY go to the NNLS check.
TOLERANCE = 1e-10
BOUNDARY = 1e-7
#: A least-squares residual up to this (relative to |ω'|) is round-off: the state is representable.
ROUND_OFF = 1e-12


def depth(nodes: np.ndarray, omega: np.ndarray) -> float:
    """t* for the orthonormal node vectors ``nodes`` (Q, n) and the normalised moments ``omega`` (n,)."""
    Q, n = nodes.shape
    cost = np.zeros(Q + 1)
    cost[-1] = -1.0
    a_eq = np.hstack([nodes.T, np.eye(n, 1)])
    bounds = [(0.0, None)] * Q + [(None, None)]
    res = linprog(cost, A_eq=a_eq, b_eq=omega, bounds=bounds, method="highs-ds",
                  options={"primal_feasibility_tolerance": TOLERANCE, "dual_feasibility_tolerance": TOLERANCE})
    if res.status != 0:  # never for a finite ω' (the programme is feasible and bounded); be safe
        return np.nan
    t = float(res.x[-1])
    if abs(t) > BOUNDARY:
        return t
    return max(t, np.finfo(float).tiny) if representable(nodes, omega) else min(t, -np.finfo(float).tiny)


def representable(nodes: np.ndarray, omega: np.ndarray) -> bool:
    """Is ω' = Σ_q g_q q_q with g ≥ 0, to round-off? (non-negative least squares)"""
    _, residual = nnls(nodes.T, omega)
    return residual <= ROUND_OFF * max(1.0, float(np.linalg.norm(omega)))
