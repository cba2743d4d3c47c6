"""The names of moment components: one scheme for field files, XDMF, plots and the diagnostics.

A component is named after its basis function m_k(v), so the same quantity has the same name in every
basis that has it:

==========================  ===========================  ============================================
basis                       names                        component
==========================  ===========================  ============================================
every basis (m_0 ≡ 1)       ``u0``                       ⟨ψ⟩, the density (scalar flux)
monomial, 1D and 2D         ``u_x``, ``u_y``, ``u_xx``,  ⟨v_x^a v_y^b ψ⟩: one letter per factor
                            ``u_xy``, …                  (1D: v_x = μ, so ``u_xx`` is ⟨μ²ψ⟩)
Legendre (1D)               ``u_P1``, ``u_P2``, …        ⟨P_k(μ) ψ⟩
spherical harmonics (2D)    ``u_Y1c1``, ``u_Y1s1``,      ⟨Y ψ⟩ with Y the real harmonic of degree l
                            ``u_Y2c0``, …                ∝ cos(mφ) (``c``, m ≥ 0) or sin(mφ) (``s``)
==========================  ===========================  ============================================

Names are letters, digits and underscores only, so ParaView's Calculator takes them as they are. The
multipliers are named alike (``alpha0``, ``alpha_x``, …: α_k multiplies m_k). The first moments are the
current J = ⟨v ψ⟩ where a basis holds it exactly (monomial and Legendre: ``u_x``, ``u_y``, or ``u_P1``);
the harmonics of degree 1 are √3 J, and are not offered as the current.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class _BasisLike(Protocol):
    kind: str
    dim: int
    exponents: tuple


@dataclass(frozen=True)
class Component:
    """One moment component: ``name`` in files, XDMF and plots' legends; ``long_name`` in words (the
    CF attribute); ``symbol`` as matplotlib mathtext for axis labels."""

    name: str
    long_name: str
    symbol: str


def _moment(words: str, symbol: str, degree: int, axis: str) -> tuple[str, str]:
    """(long_name, symbol) of the moment ⟨f ψ⟩, f given in words and in mathtext."""
    current = f" (current along {axis})" if degree == 1 else ""
    return (f"{'first moment' if degree == 1 else 'moment'} ⟨{words} ψ⟩{current}",
            rf"$\langle {symbol}\,\psi \rangle$")


def _power(base: str, p: int, tex: bool) -> str:
    return base if p == 1 else (f"{base}^{{{p}}}" if tex else f"{base}^{p}")


def _monomial(exps: tuple[int, ...], dim: int) -> Component:
    a, b = (exps[0], 0) if dim == 1 else exps
    factors = [("μ", r"\mu", a)] if dim == 1 else [("vx", "v_x", a), ("vy", "v_y", b)]
    words = " ".join(_power(w, p, False) for w, _, p in factors if p)
    symbol = " ".join(_power(t, p, True) for _, t, p in factors if p)
    return Component("u_" + "x" * a + "y" * b, *_moment(words, symbol, a + b, "x" if a else "y"))


def _legendre(k: int) -> Component:
    long_name, symbol = _moment(f"P{k}(μ)", rf"P_{{{k}}}(\mu)", k, "x")
    return Component(f"u_P{k}", long_name, symbol)


def _harmonic(l: int, m: int) -> Component:
    trig = "constant in φ" if m == 0 else f"{'cos' if m > 0 else 'sin'}({abs(m)}φ)"
    kind = f"real spherical harmonic of degree {l}, {trig}"
    return Component(f"u_Y{l}{'c' if m >= 0 else 's'}{abs(m)}", f"moment ⟨Y{l},{m} ψ⟩ ({kind})",
                     rf"$\langle Y_{{{l}}}^{{{m}}}\,\psi \rangle$")


def components(basis: _BasisLike) -> list[Component]:
    """The components of ``basis`` in its order (the first is always ``u0``)."""
    out = [Component("u0", "zeroth moment ⟨ψ⟩ (density, scalar flux)", r"$\langle \psi \rangle$")]
    for exps in basis.exponents[1:]:
        if basis.kind == "monomial":
            out.append(_monomial(exps, basis.dim))
        elif basis.kind == "legendre":
            out.append(_legendre(exps[0]))
        else:
            out.append(_harmonic(*exps))
    return out


def multiplier_names(basis: _BasisLike) -> list[str]:
    """``alpha0``, ``alpha_x``, …: the multiplier of each basis function, named after its moment."""
    return ["alpha" + c.name[1:] for c in components(basis)]


def current_components(basis: _BasisLike) -> list[int] | None:
    """The positions of J_x (, J_y) among the components, where the basis holds the current exactly
    (monomial, Legendre); None otherwise (spherical harmonics, or N = 0)."""
    if basis.kind == "spherical_harmonics":
        return None
    firsts = [(1,)] if basis.dim == 1 else [(1, 0), (0, 1)]
    if not all(e in basis.exponents for e in firsts):
        return None
    return [basis.exponents.index(e) for e in firsts]
