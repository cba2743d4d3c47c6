"""The network closures "icnn", "mlp" and "monotone" (registered by name).

Options (as an input file passes them, ``[closure.icnn] model = "…"``)
---------------------------------------------------------------------
model : a shipped model name (hpcclose/models/<name>.h5) or a path to a network file (required). The file
    must be for the run's basis kind, dimension and N (refused with a message naming the mismatch).
backend : "cpu" (Numba, default; no TensorFlow needed) or "gpu" (TensorFlow with XLA, on the rank's GPU,
    or the CPU when none is visible).
alpha0 : "gradient" ([A eq. 37], exact gradient of the extended entropy h_a, entropy networks only) or
    "normalisation" ([B eq. 44, 47], ⟨G⟩ = u0 exactly); default: the convention the network was trained with.

Multipliers for moments u (ncells, n) with u0 > 0: ω̃ = ũ/u0, α̃ from the network, α0 by the convention
(SCIENCE.md §3); a rotation-invariant 2D network sees the moments turned so that their first moment lies
along Ωx (:mod:`.rotated`), so the closure commutes with rotations about Ωz. Warm starts are ignored, no
iterations, nothing regularised; non-finite moments or u0 ≤ 0 raise :class:`RealizabilityError`
(realizability itself is not checked: a network extrapolates; the "hybrid" closure checks the reconstructed
moments instead).

Entropy. For the entropy networks :meth:`entropy` returns the extended network entropy
h_a(u) = u0 h̃(ω̃) + u0 log u0 [A eq. 33] — the entropy this closure dissipates (it is the closure of h_a
when α0 follows "gradient") — instead of the dual form α·u − ⟨e^{α·m}⟩ of the base class.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from ...errors import InputError
from ...velocity import Basis, Quadrature
from ..base import Closure, ClosureOptions, ClosureStats
from ..scaling import extend_entropy
from . import export

BACKENDS = ("cpu", "gpu")


class NetworkOptions(ClosureOptions):
    """``[closure.icnn]``, ``[closure.mlp]``, ``[closure.monotone]``."""

    model: str = Field(description="a shipped model name or the path of a network file (hpcclose train)")
    backend: Literal[BACKENDS] = "cpu"
    alpha0: Literal[export.ALPHA0_CONVENTIONS] | None = Field(None, description="default: the model file's")


class NetworkClosure(Closure):
    """Common part of the network closures; subclasses set ``name`` (= the architecture)."""

    architecture = ""
    Options = NetworkOptions

    def __init__(self, basis: Basis, quad: Quadrature, **options):
        o = self.parse_options(options)
        where, model, backend, alpha0 = f"closure.{self.name}", o.model, o.backend, o.alpha0
        super().__init__(basis, quad)
        net = export.load(model, basis=basis, quad=quad)
        if net.architecture != self.architecture:
            raise InputError(f"{where}.model: {model!r} is a {net.architecture!r} network; use closure "
                             f"{net.architecture!r} for it (or 'hybrid' with network = {net.architecture!r})")
        alpha0 = alpha0 or net.alpha0
        if alpha0 == "gradient" and not net.has_entropy:
            raise InputError(f"{where}.alpha0: 'gradient' needs an entropy network (mlp, icnn); the monotone "
                             "network gives α̃ only: use 'normalisation'")
        self.net, self.alpha0, self.backend = net, alpha0, backend
        if net.rotation:  # a rotation-invariant network: turned into its reduced frame and back
            from .rotated import RotatedNetwork

            self.impl = RotatedNetwork(net, basis, quad, backend)
        elif backend == "cpu":
            from .cpu import CpuNetwork

            self.impl = CpuNetwork(net, basis, quad)
        else:
            from .gpu import TFNetwork

            self.impl = TFNetwork(net, basis, quad)
        self.last_h = np.zeros(0)
        self._last_u: np.ndarray | None = None  # the moments of the last multipliers() call (for entropy())

    def describe(self) -> str:
        return f"{self.net.describe()} on {self.backend}"

    def network_multipliers(self, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(α (ncells, n), h̃(ω̃) (ncells,)) straight from the network (u checked, 2D)."""
        return self.impl.evaluate(u, self.alpha0)

    def multipliers(self, u: np.ndarray, alpha0: np.ndarray | None = None) -> tuple[np.ndarray, ClosureStats]:
        """α (ncells, n) from the network; ``alpha0`` (warm start) is ignored."""
        u2, shape = self.as_cells(u, f"{self.name} closure", positive=True)
        alpha, h = self.network_multipliers(u2)
        self.last_h, self._last_u = h, u2.copy()
        stats = ClosureStats(ncells=u2.shape[0])
        return alpha.reshape(shape), stats

    def entropy(self, u: np.ndarray, alpha: np.ndarray | None = None) -> np.ndarray:
        """h_a(u) = u0 h̃(ω̃) + u0 log u0 (entropy networks); the dual form for the monotone network."""
        if not self.net.has_entropy:
            return super().entropy(u, alpha)
        u2, _ = self.as_cells(u, f"{self.name} closure", positive=True)
        # the solver asks for the entropy of the moments it has just closed: reuse that network pass
        if self._last_u is not None and self._last_u.shape == u2.shape and np.array_equal(self._last_u, u2):
            h = self.last_h
        else:
            _, h = self.network_multipliers(u2)
        out = extend_entropy(h, u2[:, 0])
        return out[0] if np.ndim(u) == 1 else out


class ICNNClosure(NetworkClosure):
    """Input-convex network of the entropy [B 3.2.1]; α̃ = ∇h̃ (convex by construction)."""

    name = "icnn"
    architecture = "icnn"


class MLPClosure(NetworkClosure):
    """Softplus MLP of the entropy [A 3.2.2] (convexity checked on a test set, not guaranteed)."""

    name = "mlp"
    architecture = "mlp"


class MonotoneClosure(NetworkClosure):
    """Monotone ResNet for α̃ [B 3.2.2]; α0 by normalisation."""

    name = "monotone"
    architecture = "monotone"
