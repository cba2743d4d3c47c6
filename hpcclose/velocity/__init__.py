"""Velocity space: quadrature rules, moment bases, realizability, the ansatz completed from its multipliers."""

from .basis import Basis, make_basis
from .quadrature import Quadrature, gauss_legendre, sphere_product

__all__ = ["Basis", "Quadrature", "gauss_legendre", "make_basis", "sphere_product"]
