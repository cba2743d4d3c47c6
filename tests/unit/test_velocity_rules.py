"""Issue 22, velocity space: Lebedev rules, the hemisphere fold, the rule of a [velocity] table and its
default for the moment order, the warning for a rule too coarse for the order, rule names in model files."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import pytest
from mpi4py import MPI

from hpcclose import config
from hpcclose.errors import InputError
from hpcclose.solver import Simulation
from hpcclose.velocity import gauss_legendre, lebedev, make_basis, rules, sphere_product
from hpcclose.velocity.hemisphere import hemisphere

INPUTS = Path(__file__).resolve().parents[2] / "inputs"


def sphere_monomial_integral(a: int, b: int, c: int) -> float:
    """∫_{S²} x^a y^b z^c dΩ: 0 if an exponent is odd, else 2 Π Γ((e+1)/2) / Γ((a+b+c+3)/2)."""
    if a % 2 or b % 2 or c % 2:
        return 0.0
    return 2.0 * math.gamma((a + 1) / 2) * math.gamma((b + 1) / 2) * math.gamma((c + 1) / 2) / math.gamma(
        (a + b + c + 3) / 2)


def _monomials(degree: int):
    return [(a, b, c) for d in range(degree + 1) for a in range(d + 1) for b in range(d + 1 - a) for c in [d - a - b]]


def _integrate(quad, a, b, c):
    z = quad.mu
    return quad.integrate(quad.velocity[:, 0] ** a * quad.velocity[:, 1] ** b * z**c)


# --- Lebedev rules and the hemisphere ------------------------------------------------------------------
@pytest.mark.parametrize("order", lebedev.ORDERS[:12])
def test_lebedev_integrates_the_polynomials_it_claims(order):
    q = lebedev.lebedev(order)
    assert q.degree == order and q.name == f"lebedev({order})" and np.all(q.weights > 0)
    np.testing.assert_allclose(np.hypot(np.hypot(*q.velocity.T), q.mu), 1.0, atol=1e-14)
    for a, b, c in _monomials(order):
        assert abs(_integrate(q, a, b, c) - sphere_monomial_integral(a, b, c)) < 1e-12, (a, b, c)
    # and not the next degree: some monomial of degree order + 1 is missed (the claim is sharp)
    assert max(abs(_integrate(q, a, b, c) - sphere_monomial_integral(a, b, c))
               for a, b, c in _monomials(order + 1) if a + b + c == order + 1) > 1e-10


def test_lebedev_skips_orders_with_negative_weights():
    from scipy.integrate import lebedev_rule

    for order in (13, 25, 27):  # SciPy's rules of these orders have a negative weight
        assert lebedev_rule(order)[1].min() < 0
        assert lebedev.order_for(order) > order and lebedev.lebedev(order).weights.min() > 0
    assert lebedev.lebedev(19).size == 146
    with pytest.raises(ValueError, match="largest is 131"):
        lebedev.lebedev(132)


@pytest.mark.parametrize("rule", [lambda: lebedev.lebedev(19), lambda: lebedev.lebedev(7),
                                  lambda: sphere_product(20, 20), lambda: sphere_product(7, 12)])
def test_hemisphere_integrates_even_functions_as_the_sphere_does(rule):
    full = rule()
    half = hemisphere(full)
    assert half.name == f"hemisphere({full.name})" and half.degree == full.degree
    assert half.size == np.sum(full.mu >= -1e-12) and np.all(half.mu >= 0)
    assert half.size == (full.size + np.sum(np.abs(full.mu) <= 1e-12)) // 2
    for a, b, c in _monomials(full.degree):
        if c % 2 == 0:
            assert abs(_integrate(half, a, b, c) - _integrate(full, a, b, c)) < 1e-12, (a, b, c)
    assert hemisphere(half) is half


def test_hemisphere_refuses_an_asymmetric_rule():
    q = sphere_product(4, 8)
    tilted = type(q)(q.velocity, q.weights, q.mu + 0.01 * (q.mu > 0), q.phi, "tilted")
    with pytest.raises(ValueError, match="not symmetric"):
        hemisphere(tilted)
    with pytest.raises(ValueError, match="sphere rule"):
        hemisphere(gauss_legendre(4))


# --- rules by name, degree and default ---------------------------------------------------------------
@pytest.mark.parametrize("quad", [gauss_legendre(30), sphere_product(20, 40), lebedev.lebedev(19),
                                  hemisphere(sphere_product(20, 20)), hemisphere(lebedev.lebedev(11))])
def test_a_rule_is_rebuilt_from_its_name(quad):
    back = rules.from_name(quad.name)
    assert back.name == quad.name and back.degree == quad.degree
    np.testing.assert_array_equal(back.weights, quad.weights)
    np.testing.assert_array_equal(back.velocity, quad.velocity)


def test_unknown_rule_names_are_refused():
    for name in ("lebedev(13)", "sphere_product(20)", "gauss(3)", "hemisphere(gauss_legendre(4))"):
        with pytest.raises(ValueError):
            rules.from_name(name)
    assert rules.same_measure("sphere_product(20x20)", "hemisphere(sphere_product(20x20))")
    assert not rules.same_measure("sphere_product(20x20)", "hemisphere(lebedev(19))")


@pytest.mark.parametrize("N", range(0, 8))
def test_default_rule_integrates_the_degree_the_order_needs(N):
    need = rules.needed_degree(N)
    one, two = rules.default(1, N), rules.default(2, N)
    assert one.name == f"gauss_legendre({3 * N + 3})" and one.degree >= need
    assert two.name.startswith("hemisphere(lebedev(") and two.degree >= need
    assert rules.coarse_warning(one, N) is None and rules.coarse_warning(two, N) is None
    prod = rules.build(2, N, "product", hemisphere=False)
    assert prod.degree >= need
    assert int(prod.name.split("x")[1][:-1]) % 4 == 0  # n_phi divisible by 4: quarter turns


def test_the_issue_case_warns_with_the_size_that_suffices():
    msg = rules.coarse_warning(gauss_legendre(10), 7)
    assert "degree ≤ 19" in msg and "needs degree 47" in msg and "24 Gauss–Legendre points" in msg
    assert rules.coarse_warning(gauss_legendre(10), 2) is None  # the shipped plane source input: silent
    assert "lebedev" in rules.coarse_warning(hemisphere(sphere_product(6, 8)), 4)


# --- the [velocity] table ------------------------------------------------------------------------------
def _sim(path: str, *overrides: str) -> Simulation:
    cells = ["mesh.cells=[6,6]"] if "line" in path or "periodic_2d" in path else ["mesh.cells=8"]
    return Simulation(config.load(INPUTS / path, [*cells, *overrides]), comm=MPI.COMM_SELF)


@pytest.mark.parametrize("path, overrides, name", [
    ("line_source_m2.toml", [], "hemisphere(sphere_product(20x20))"),                      # shipped: folded
    ("line_source_m2.toml", ["velocity.hemisphere=false"], "sphere_product(20x20)"),
    ("line_source_m2.toml", ['velocity.quadrature="lebedev"'], "hemisphere(lebedev(17))"),  # 6N + 5 = 17
    ("line_source_m2.toml", ['velocity.quadrature="lebedev"', "velocity.degree=19"], "hemisphere(lebedev(19))"),
    ("line_source_m2.toml", ['velocity.quadrature="product"', "velocity.hemisphere=false"],
     "sphere_product(9x20)"),
    ("plane_source_m2.toml", [], "gauss_legendre(10)"),
    ("plane_source_m2.toml", ['velocity.quadrature="gauss_legendre"', "velocity.order=7"], "gauss_legendre(24)"),
])
def test_velocity_table_picks_the_rule(path, overrides, name):
    sim = _sim(path, *overrides)
    assert sim.quad.name == name
    assert sim.basis.measure is sim.quad  # the guard judges states by the run's own rule
    assert f"{name}: {sim.quad.size} nodes, exact to degree {sim.quad.degree}" in sim.describe()


def test_a_rule_left_out_is_the_default_of_the_order():
    text = (INPUTS / "line_source_m2.toml").read_text().replace("quadrature = [20, 20]\n", "")
    cfg = config.parse(text, "ls.toml", ["mesh.cells=[6,6]", "velocity.order=4"])
    assert cfg.velocity.quadrature is None
    assert Simulation(cfg, comm=MPI.COMM_SELF).quad.name == rules.default(2, 4).name == "hemisphere(lebedev(29))"


@pytest.mark.parametrize("path, override, key", [
    ("plane_source_m2.toml", "velocity.hemisphere=true", "velocity.hemisphere"),
    ("plane_source_m2.toml", 'velocity.quadrature="lebedev"', "velocity.quadrature"),
    ("line_source_m2.toml", 'velocity.quadrature="gauss_legendre"', "velocity.quadrature"),
    ("line_source_m2.toml", "velocity.degree=7", "velocity.degree"),  # sizes and a degree
    ("line_source_m2.toml", "velocity.quadrature=10", "velocity.quadrature"),
    ("line_source_m2.toml", 'velocity.quadrature="simpson"', "velocity.quadrature"),
])
def test_rules_that_do_not_exist_are_refused_naming_the_key(path, override, key):
    with pytest.raises(InputError, match=key):
        config.load(INPUTS / path, [override])


def test_big_degrees_are_refused_before_anything_is_built():
    with pytest.raises(InputError, match="largest is 131"):
        config.load(INPUTS / "line_source_m2.toml", ['velocity.quadrature="lebedev"', "velocity.degree=141"])
    with pytest.raises(InputError, match="velocity.degree: the product rule of degree 3000"):
        config.load(INPUTS / "line_source_m2.toml", ['velocity.quadrature="product"', "velocity.degree=3000"])


def test_a_coarse_rule_is_a_warning_and_a_rule_that_cannot_resolve_the_basis_an_error(caplog):
    with caplog.at_level(logging.WARNING, logger="hpcclose"):
        _sim("plane_source_m2.toml", "velocity.order=7")
    assert "needs degree 47" in caplog.text and "24 Gauss–Legendre points" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="hpcclose"):
        _sim("plane_source_m2.toml")
    assert "needs degree" not in caplog.text
    with pytest.raises(InputError, match="10 nodes cannot resolve 31 basis functions"):
        _sim("plane_source_m2.toml", "velocity.order=30")


def test_every_shipped_input_keeps_its_rule():
    """Shipped inputs give sizes: their rules are as before (2D folded to the hemisphere, same measure)."""
    for path in sorted(INPUTS.glob("*.toml")):
        if path.name.startswith("train_"):
            continue
        cfg = config.load(path)
        v = cfg.velocity
        quad = v.rule(cfg.mesh.dim)
        before = gauss_legendre(v.quadrature) if cfg.mesh.dim == 1 else sphere_product(*v.quadrature)
        assert rules.same_measure(quad.name, before.name), path.name
        assert rules.coarse_warning(quad, v.order) is None, path.name


def test_quadrature_describe_and_basis_measure_identity():
    q = hemisphere(lebedev.lebedev(19))
    assert q.describe() == "hemisphere(lebedev(19)): 77 nodes, exact to degree 19"
    b = make_basis("monomial", 2, 2)
    assert b.on(q) == b and hash(b.on(q)) == hash(b) and b.on(q).measure is q and b.measure is None
    with pytest.raises(ValueError, match="does not fit"):
        b.on(gauss_legendre(4))


def test_beyond_the_largest_lebedev_order_the_default_is_the_product_rule():
    assert rules.default(2, 21).name == "hemisphere(lebedev(131))"
    rule = rules.default(2, 22)
    assert rule.name.startswith("hemisphere(sphere_product(") and rule.degree >= rules.needed_degree(22)
    config.load(INPUTS / "line_source_m2.toml", ["velocity.order=30", 'velocity.quadrature="product"'])
