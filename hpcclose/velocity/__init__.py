"""Velocity space: quadrature rules (Gauss–Legendre, sphere product, Lebedev, hemisphere forms; the rule a
run uses: :mod:`.rules`), moment bases, realizability (continuous conditions, and the discrete measure of a
rule: :mod:`.cone`, :mod:`.lp`), the ansatz completed from its multipliers."""

from . import rules
from .basis import Basis, make_basis
from .quadrature import Quadrature, gauss_legendre, sphere_product

__all__ = ["Basis", "Quadrature", "gauss_legendre", "make_basis", "rules", "sphere_product"]
