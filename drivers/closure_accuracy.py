"""[A]-style test errors e_h, e_w, e_α of a fitted closure on [A] §4.1.1's test sets ([A] eq. 49, Tables 1–3).

    .venv/bin/python drivers/closure_accuracy.py --closure spline --option size=130 [--option alpha0=normalisation] \\
        [--order 1] [--basis monomial] [--quadrature 30] [--w0-count 160] [--subsample K] [--json out.json]
    .venv/bin/python drivers/closure_accuracy.py --closure mlp --option model=PATH --order 2

Test set ([A] 4.1.1, sampled in multiplier space, exact under the quadrature): N=1: 52 000 α̃ uniform in
[−65, 65]; N=2: 200 × 200 α̃ on a uniform grid of [−10, 10]²; every α̃ (every K-th with ``--subsample K``)
at each of ``--w0-count`` values of u0 = w0 evenly spaced in [1e−8, 8] (un-normalised moments, as [A]).

Errors (relative RMSE over all points and components, e_x = ‖x_a − x‖₂ / ‖x‖₂, [A] eq. 49), with α the
closure's multipliers for the test moments u (``closure.multipliers``):
  e_h  ``closure.entropy(u, α)`` against the exact h = α·u − u0 — the fitted h_a = u0 h̃(ω̃) + u0 log u0 for
       entropy networks (mlp, icnn) and the spline with the "gradient" α0 (as [A]); otherwise (spline with
       "normalisation", monotone, Newton) the dual form α·u − ⟨exp(α·m)⟩, whose error is second order in
       that of α (not comparable with [A]'s e_h);
  e_w  the moments w_a = ⟨m exp(α·m)⟩ under the same quadrature against u;
  e_α  the full α (α0 included: [A]'s α̂) against the exact α; e_α̃ the same without α0.
Convexity ([A] 4.2): the smallest Hessian eigenvalue of h̃ over the normalised test points (w0 = 1) —
h̃″ for the spline, ``hpcclose.training.convexity.report`` for network closures (symmetric Jacobian of α̃
for the monotone network); "n/a" for other closures.
Bad input prints one line and exits with status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import tomllib

from hpcclose.closures import Closure, get_closure
from hpcclose.data import sampling
from hpcclose.data.datasets import Dataset
from hpcclose.errors import InputError, script_main
from hpcclose.velocity import Basis, Quadrature, ansatz, gauss_legendre, make_basis

# [A] 4.1.1 test grids of α̃ per moment order N: (points per axis, bounds)
TEST_GRIDS = {1: (52_000, (-65.0, 65.0)), 2: (200, (-10.0, 10.0))}
# Test points per closure call: bounds the (chunk, Q) ansatz temporaries (2e5 × 30 nodes ≈ 50 MB).
CHUNK = 200_000
QUANTITIES = ("h", "w", "alpha", "alpha_tilde")


def normalised_test_set(basis: Basis, quad: Quadrature, subsample: int = 1) -> Dataset:
    """[A] 4.1.1's α̃ grid for the basis's N (every ``subsample``-th point), completed with w0 = 1."""
    if basis.dim != 1 or basis.N not in TEST_GRIDS:
        raise InputError(f"--order: [A] 4.1.1 defines test sets for the 1D N = 1 and N = 2 closures only, "
                         f"got the {basis.describe()}")
    size, bounds = TEST_GRIDS[basis.N]
    at = ansatz.grid_alpha(basis.n - 1, size, bounds)[::subsample]
    return sampling.complete(at, basis, quad, sampler="grid", bounds=list(bounds), subsample=subsample)


def accuracy(closure: Closure, base: Dataset, w0: np.ndarray, chunk: int = CHUNK) -> dict:
    """e_h, e_w, e_α, e_α̃ of ``closure`` over ``base`` scaled to every u0 in ``w0``, plus counts and timing."""
    num = dict.fromkeys(QUANTITIES, 0.0)
    den = dict.fromkeys(QUANTITIES, 0.0)
    regularised = failed = 0
    t_closure = 0.0
    # whole w0 values per chunk: the test set (up to 8.3 M points) is never held in memory at once
    per = max(1, chunk // base.count)
    for s in range(0, w0.size, per):
        test = sampling.vary_u0(base, w0[s:s + per])
        t0 = time.perf_counter()
        alpha, stats = closure.multipliers(test.u)
        h = closure.entropy(test.u, alpha)
        t_closure += time.perf_counter() - t0
        regularised += stats.regularised.size
        failed += stats.failed.size
        # every quantity as (approximation, exact) pairs; sums of squares accumulate over the chunks
        pairs = {"h": (h, test.h), "w": (closure.moments(alpha), test.u),
                 "alpha": (alpha, test.alpha), "alpha_tilde": (alpha[:, 1:], test.alpha[:, 1:])}
        for q, (approx, exact) in pairs.items():
            num[q] += float(np.sum((approx - exact) ** 2))
            den[q] += float(np.sum(exact**2))
    errors = {f"e_{q}": float(np.sqrt(num[q] / den[q])) for q in QUANTITIES}
    return {**errors, "points": base.count * w0.size, "regularised": regularised, "failed": failed,
            "closure_wall_s": t_closure}


def convexity(closure: Closure, base: Dataset) -> dict | None:
    """Smallest Hessian eigenvalue of h̃ at the normalised test points ω̃ ([A] 4.2); None if not applicable."""
    omega = base.u[:, 1:] / base.u[:, :1]
    # the spline: h̃″ in closed form, on the points inside its sampled range (outside it is the exact closure)
    spline = getattr(closure, "spline", None)
    if spline is not None:
        lo, hi = spline.domain
        x = omega[:, 0][(omega[:, 0] >= lo) & (omega[:, 0] <= hi)]
        return {"quantity": "spline h''", "points": int(x.size), "min_eigenvalue": float(spline(x, nu=2).min())}
    # network closures (also inside the hybrid): exact Hessian of the network entropy
    for obj in (closure, getattr(closure, "network", None)):
        net = getattr(obj, "net", None)
        if net is not None:
            from hpcclose.training.convexity import report

            rep = report(net, omega)
            return {k: rep[k] for k in ("quantity", "points", "min_eigenvalue", "negative_fraction")}
    return None


def parse_options(items: list[str]) -> dict:
    """``key=value`` pairs (TOML values; a bare word is a string, as for ``hpcclose run --set``)."""
    opts = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise InputError(f"--option {item!r}: expected key=value")
        try:
            opts[key.strip()] = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            opts[key.strip()] = raw
    return opts


def run(args: argparse.Namespace) -> dict:
    """Build basis, quadrature and closure from the parsed arguments, evaluate, and return the results."""
    # validate the numbers here so that every bad input is one InputError line
    for name in ("order", "quadrature", "w0_count", "subsample"):
        if getattr(args, name) < 1:
            raise InputError(f"--{name.replace('_', '-')} must be ≥ 1, got {getattr(args, name)}")
    try:
        basis = make_basis(args.basis, 1, args.order)
    except ValueError as exc:
        raise InputError(f"--basis: {exc}") from None
    quad = gauss_legendre(args.quadrature)
    base = normalised_test_set(basis, quad, args.subsample)
    options = parse_options(args.option)
    t0 = time.perf_counter()
    closure = get_closure(args.closure, basis, quad, **options)
    if closure.linear:
        raise InputError(f"--closure {args.closure}: a linear closure has no entropy multipliers to test")
    t_build = time.perf_counter() - t0
    w0 = sampling.w0_grid(args.w0_count)
    t0 = time.perf_counter()
    result = accuracy(closure, base, w0)
    result["convexity"] = convexity(closure, base)
    result["wall_s"] = time.perf_counter() - t0
    result["build_s"] = t_build
    result["settings"] = {"closure": args.closure, "options": options, "basis": basis.describe(),
                          "quadrature": quad.name, "alpha_tilde_points": base.count, "w0_count": int(w0.size),
                          "subsample": args.subsample}
    return result


def format_table(r: dict) -> str:
    """One line per quantity."""
    s = r["settings"]
    opts = ", ".join(f"{k}={v}" for k, v in s["options"].items())
    lines = [f"closure {s['closure']}({opts}) | {s['basis']} | {s['quadrature']} | "
             f"{s['alpha_tilde_points']} α̃ × {s['w0_count']} w0 = {r['points']} points"]
    lines += [f"{label:<12} {r[key]:.3e}" for label, key in
              (("e_h", "e_h"), ("e_w", "e_w"), ("e_alpha", "e_alpha"), ("e_alpha~", "e_alpha_tilde"))]
    c = r["convexity"]
    lines.append(f"{'lambda_min':<12} " + (f"{c['min_eigenvalue']:.3e}  ({c['quantity']}, {c['points']} points)"
                                            if c else "n/a"))
    lines.append(f"{'regularised':<12} {r['regularised']}   failed {r['failed']}")
    lines.append(f"{'wall':<12} build {r['build_s']:.2f} s, closure calls {r['closure_wall_s']:.2f} s, "
                 f"all {r['wall_s']:.2f} s")
    return "\n".join(lines)


@script_main("closure_accuracy")
def main(argv: list[str] | None = None) -> int:
    """Parse ``argv``, evaluate, print the table (and write JSON); 0 on success, 2 on bad input."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--closure", required=True)
    ap.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                    help="an option of the closure (TOML value), repeatable: size=130, model=PATH, alpha0=…")
    ap.add_argument("--order", type=int, default=1, help="moment order N (1 or 2)")
    ap.add_argument("--basis", default="monomial", help="1D basis: monomial or legendre")
    ap.add_argument("--quadrature", type=int, default=30, help="Gauss–Legendre nodes")
    ap.add_argument("--w0-count", type=int, default=160, help="values of u0 in [1e-8, 8]")
    ap.add_argument("--subsample", type=int, default=1, metavar="K", help="use every K-th α̃")
    ap.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    args = ap.parse_args(argv)
    result = run(args)
    print(format_table(result), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
