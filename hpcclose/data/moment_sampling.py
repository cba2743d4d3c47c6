"""Training and test data sampled in the moments (uniform in the normalised realizable set), α by Newton.

The samplers of :mod:`.sampling` draw multipliers and need no optimisation; this one draws what [B]'s
published M2 networks were trained on. Its code (github.com/ScSteffen/neuralEntropyClosures, run scripts
``--alphasampling=0``) reads data that KiT-RT's generator sampled uniformly in the normalised moments of
the slab, a distance ε inside the realizable set:

    N = 1:  ω1 ∈ (−1 + ε, 1 − ε)
    N = 2:  ω1 ∈ (−1 + ε, 1 − ε),  ω2 ∈ (ω1² + ε, 1 − ε)

(ω = u/u0, monomial basis). The α̃ range this gives at ε = 0.06, α̃1 ∈ [−7.5, 7.5] and α̃2 ∈ [−8.3, 17.2],
is the range [B]'s shipped M2 1D monotone network records for its training data (its
``scaling_data/min_max_scaler.csv``: −8.33, 17.22), see docs/closures.md.

The points are a scrambled Sobol sequence on the box, rejected outside the region; the multipliers come
from the Newton closure, and the data are then completed from α̃ exactly as in :mod:`.sampling`, so (α, u,
h) agree to quadrature accuracy and u differs from the drawn moments only by the Newton tolerance.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from ..velocity import Basis, Quadrature
from .datasets import Dataset
from .sampling import complete, sobol_rejection

NEWTON_TOL = 1e-10  # on ‖⟨m G⟩ − u‖ / u0: far below any network's error


def _check_basis(basis: Basis, eps: float) -> None:
    if basis.dim != 1 or basis.kind != "monomial" or basis.N not in (1, 2):
        raise InputError(f"sampling: moment sampling is defined for the slab monomial basis with N = 1 or 2, "
                         f"not the {basis.describe()}")
    if not 0.0 < eps < 0.5:
        raise InputError(f"sampling: eps (distance inside the realizable set) must be in (0, 0.5), got {eps}")


def realizable_with_margin(omega: np.ndarray, eps: float) -> np.ndarray:
    """Mask of normalised slab moments ω̃ = (ω1[, ω2]) at least ε inside the realizable set (KiT-RT's rule)."""
    omega = np.atleast_2d(omega)
    ok = np.abs(omega[:, 0]) < 1.0 - eps
    if omega.shape[1] > 1:
        ok &= (omega[:, 1] > omega[:, 0] ** 2 + eps) & (omega[:, 1] < 1.0 - eps)
    return ok


def sample_moments(basis: Basis, quad: Quadrature, count: int, eps: float, seed: int = 0,
                   max_draws: int = 1 << 24) -> Dataset:
    """``count`` normalised samples with ω̃ uniform in the slab's realizable set shrunk by ``eps``.

    Reproducible (``seed`` scrambles the Sobol sequence; the first ``count`` accepted points are kept).
    Raises InputError for a basis other than the slab monomial N = 1, 2, or if Newton fails at a point.
    """
    from ..closures.newton import NewtonClosure  # Numba kernels: compiled only when this sampler runs

    _check_basis(basis, eps)
    if count < 1 or seed < 0:
        raise InputError(f"sampling: need count ≥ 1 and seed ≥ 0, got {count}, {seed}")
    lo = np.array([-1.0 + eps, eps][:basis.N])
    hi = np.array([1.0 - eps, 1.0 - eps][:basis.N])

    def keep(unit: np.ndarray) -> np.ndarray:
        omega = lo + (hi - lo) * unit
        return omega[realizable_with_margin(omega, eps)]

    omega, drawn = sobol_rejection(basis.N, count, seed, keep, max_draws, f"eps = {eps:g}")

    newton = NewtonClosure(basis, quad, tol=NEWTON_TOL)
    u = np.concatenate([np.ones((count, 1)), omega], axis=1)
    alpha, stats = newton.multipliers(u)
    bad = stats.failed.size + stats.regularised.size  # a regularised solve is for other moments
    if bad:
        raise InputError(f"sampling: Newton did not solve {bad} of {count} sampled moments to {NEWTON_TOL:g} "
                         f"(eps = {eps:g})")
    return complete(alpha[:, 1:], basis, quad, sampler="moments", eps=float(eps), seed=int(seed), draws=drawn)
