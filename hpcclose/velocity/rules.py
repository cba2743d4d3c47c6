"""Which quadrature a run uses: the rule an input asks for (or the default for its moment order), the
exactness a closure of order N needs, and the rule named in a model file.

**The degree an M_N closure needs.** The closure integrates m mᵀ e^{α·m} and the flux v m e^{α·m}: products
of basis functions (degree 2N) with an exponential that no rule integrates exactly. Measured (docs/
benchmarks.md) on the plane source (1D, 100 cells, ρ against the exact solution, N = 2…9) and on the line
source (2D, 50 × 50 cells, t = 0.6, ρ against a Lebedev rule of degree 47, N = 1…4), M_N results stay
within ~1 % of their limit in the rule once it integrates degree

    D(N) = 6N + 5      (Gauss–Legendre: 3N + 3 points; M1: 11, M2: 17, M4: 29, M7: 47)

while coarser rules drift by several percent and more (line source M1 at degree 7: 10 %, M2 at 11: 5 %;
plane source M7 on 10 points: +35 %, M5: −14 %). D(N) is the default when the input names no rule, and a
rule of lower degree is reported as a warning with the size that suffices. 2D: a Lebedev rule of order ≥ D(N),
folded to the hemisphere.
"""

from __future__ import annotations

import math
import re

from .hemisphere import NAME as HEMISPHERE_NAME
from .hemisphere import hemisphere as fold
from .lebedev import MAX_DEGREE as LEBEDEV_MAX
from .lebedev import lebedev
from .quadrature import Quadrature, gauss_legendre, sphere_product

#: Rule names an input may give in ``velocity.quadrature`` (besides the sizes of a rule), by dimension.
KINDS = {1: ("gauss_legendre",), 2: ("lebedev", "product")}
_CALL = re.compile(r"(gauss_legendre|lebedev|sphere_product)\((\d+)(?:x(\d+))?\)")


def needed_degree(N: int) -> int:
    """The polynomial degree a rule must integrate exactly for the M_N closure (module docstring)."""
    return 6 * N + 5


def product_sizes(degree: int) -> tuple[int, int]:
    """[n_mu, n_phi] of the smallest product rule exact to ``degree`` with n_phi divisible by 4 (so the
    rule is invariant under quarter turns about Ωz, like the problems)."""
    return math.ceil((degree + 1) / 2), 4 * math.ceil((degree + 1) / 4)


def build(dim: int, N: int, quadrature: int | tuple[int, int] | str | None = None, degree: int | None = None,
          hemisphere: bool | None = None) -> Quadrature:
    """The rule of a ``[velocity]`` table: ``quadrature`` gives sizes (Gauss–Legendre points in 1D,
    [n_mu, n_phi] of the product rule in 2D) or a rule's kind (:data:`KINDS`), sized by ``degree``
    (default :func:`needed_degree` (N)); None picks Gauss–Legendre (1D) or Lebedev (2D; the product rule beyond
    Lebedev order 131, N > 21). 2D rules are folded
    to the hemisphere unless ``hemisphere`` is False. ValueError for a combination that does not exist."""
    kind, size = check(dim, N, quadrature, degree, hemisphere)
    if kind == "sizes":
        rule = gauss_legendre(size) if dim == 1 else sphere_product(*size)
    elif kind == "gauss_legendre":
        rule = gauss_legendre(math.ceil((size + 1) / 2))
    elif kind == "lebedev":
        rule = lebedev(size)
    else:
        rule = sphere_product(*product_sizes(size))
    return rule if dim == 1 or hemisphere is False else fold(rule)


def check(dim: int, N: int, quadrature: int | tuple[int, int] | str | None = None, degree: int | None = None,
          hemisphere: bool | None = None) -> tuple[str, int | tuple[int, int]]:
    """What :func:`build` would build, without building it: ("sizes", the sizes) or (kind, degree);
    ValueError, naming the key, for a combination that does not exist."""
    if dim == 1 and hemisphere:
        raise ValueError("velocity.hemisphere: a 1D (slab) rule has no hemisphere form; leave it out in 1D")
    if quadrature is not None and not isinstance(quadrature, str):
        if degree is not None:
            raise ValueError("velocity.degree: give either the rule's sizes (velocity.quadrature) or its degree, "
                             "not both")
        if (dim == 2) != isinstance(quadrature, tuple):
            raise ValueError("velocity.quadrature must be [n_mu, n_phi] on a 2D mesh and an integer in 1D")
        return "sizes", quadrature
    degree = needed_degree(N) if degree is None else degree
    # by default the Lebedev rule in 2D, and the product rule beyond the largest Lebedev order (N > 21)
    kind = quadrature or (KINDS[dim][0] if dim == 1 or degree <= LEBEDEV_MAX else "product")
    if kind not in KINDS[dim]:
        raise ValueError(f"velocity.quadrature: {kind!r} is not a {dim}D rule; choose "
                         + " or ".join(repr(k) for k in KINDS[dim]) + " (or give the rule's sizes)")
    if kind == "lebedev" and degree > LEBEDEV_MAX:
        raise ValueError(f"velocity.degree: no Lebedev rule integrates degree {degree} exactly (the largest is "
                         f"{LEBEDEV_MAX}); use velocity.quadrature = \"product\"")
    return kind, degree


def default(dim: int, N: int) -> Quadrature:
    """The rule a run of moment order N uses when its input names none."""
    return build(dim, N)


def coarse_warning(quad: Quadrature, N: int) -> str | None:
    """A warning if ``quad`` integrates less than the M_N closure needs (None if it suffices or is unknown)."""
    need = needed_degree(N)
    if quad.degree is None or quad.degree >= need:
        return None
    if quad.dim == 1:
        better = f"{math.ceil((need + 1) / 2)} Gauss–Legendre points"
    else:
        folded = HEMISPHERE_NAME.fullmatch(quad.name) is not None
        leb = fold(lebedev(need)) if folded else lebedev(need)
        better = (f"[n_mu, n_phi] = {list(product_sizes(need))}, or velocity.quadrature = \"lebedev\" "
                  f"({leb.size} nodes{' on the hemisphere' if folded else ''})")
    return (f"velocity.quadrature: {quad.name} integrates polynomials of degree ≤ {quad.degree} exactly, the "
            f"M{N} closure needs degree {need} (results still change with the rule): use {better}, or leave "
            "velocity.quadrature out for the default")


def from_name(name: str) -> Quadrature:
    """The rule a :attr:`Quadrature.name` names (model files record it): ``gauss_legendre(30)``,
    ``sphere_product(20x40)``, ``lebedev(19)``, ``hemisphere(…)`` of a sphere rule."""
    inner = HEMISPHERE_NAME.fullmatch(name)
    if inner:
        return fold(from_name(inner[1]))
    call = _CALL.fullmatch(name)
    if call is None or (call[1] == "sphere_product") != (call[3] is not None):
        raise ValueError(f"unknown quadrature {name!r}")
    if call[1] == "gauss_legendre":
        return gauss_legendre(int(call[2]))
    if call[1] == "lebedev":
        rule = lebedev(int(call[2]))
        if rule.name != name:
            raise ValueError(f"unknown quadrature {name!r} (Lebedev orders: see hpcclose.velocity.lebedev)")
        return rule
    return sphere_product(int(call[2]), int(call[3]))


def same_measure(a: str, b: str) -> bool:
    """Do the rules named ``a`` and ``b`` integrate the functions of a 2D run alike (one may be the other's
    hemisphere form)?"""
    def full(name: str) -> str:
        inner = HEMISPHERE_NAME.fullmatch(name)
        return full(inner[1]) if inner else name

    return full(a) == full(b)
