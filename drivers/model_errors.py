"""[B] Table 1-style errors of a network closure file on fresh Sobol points of its training set B_{M,τ}.

    .venv/bin/python drivers/model_errors.py MONO50x2_M2_1D [--count 2000] [--seed 2024]
        [--tau 1e-6,1e-4,1e-2 | --moments 0.06] [--max-norm 12] [--bands] [--grid 41] [--json PATH]

The points are drawn as in training ([B] eq. 110: scrambled Sobol in the ball ‖α̃‖ < M, kept where
λ_min(∇²φ) > τ), with another seed than the training data's, so none of them was seen. M and τ default to
the model's own training data (from its file); a list of τ values gives one line each, which shows how the
errors change towards the realizable boundary (small τ) or away from it. Reported: MSE of h̃, α̃ and the
moments, and MAE of α̃, in the units of [B] Table 1 as [B]'s code computes them
(hpcclose.training.evaluation.paper_units: averaged over components; ICNN h̃ and α̃ divided by the training
set's h̃ range, monotone α̃ scaled to [−1, 1] by the training set's α̃ range and h̃ unscaled), as in
`hpcclose train`'s validation report and tests/unit/test_shipped_models.py.

``--moments EPS`` (a list too) draws the points instead uniformly in the slab's normalised moments, EPS inside
the realizable set (hpcclose.data.moment_sampling; α by Newton): the distribution of [B]'s own M2 data.
The units stay the model's (its training set's ranges).

A rotation-invariant 2D network (its file's ``rotation``) is evaluated on points drawn in the reduced frame
(hpcclose.data.reduced_sampling: the same two distributions, with the first moment along Ωx), the errors of
its completed α̃ (α_y from the invariance) against the full turned multipliers.

``--bands`` adds, for every τ, where the errors sit: the points split by decades of λ_min(∇²φ) (how close
to the realizable boundary a point is), with each band's share of the total squared error of α̃ and of u.

``--grid N`` adds the structure check on a finer grid than the file's own report (an 11⁴-point grid at
realizability margin 1e−3 for four inputs): an N^d tensor grid over the bounding box of the fresh points
(reduced coordinates for a rotation network), kept where the moments are realizable with margin
> ``--grid-margin`` (1e−4); Hessian eigenvalues of h̃ (entropy networks) or of the symmetric part of the
central-difference Jacobian of α̃ (monotone) — no TensorFlow, independent of the training's autodiff.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from hpcclose.closures.neural import export
from hpcclose.closures.neural.rotation import rotation
from hpcclose.data import moment_sampling, reduced_sampling, sampling
from hpcclose.errors import InputError, script_main
from hpcclose.training import convexity
from hpcclose.training.evaluation import errors
from hpcclose.training.samples import normalise


def parse_floats(text: str, flag: str) -> list[float]:
    """A comma-separated list of positive numbers (``--tau 1e-6,1e-4``)."""
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise InputError(f"{flag} {text!r}: expected comma-separated numbers") from None
    if not values or any(not v >= 0 for v in values):
        raise InputError(f"{flag} {text!r}: expected numbers ≥ 0")
    return values


#: Largest --grid before its realizability filter (the grid is built whole: 2e7 points of 4 inputs, 640 MB).
MAX_GRID_POINTS = 20_000_000


def training_alpha_range(basis, quad, data: dict) -> tuple[float, float]:
    """(min, max) over all α̃ components of a Sobol training set, redrawn from its provenance (files
    written before the training recorded it): the main ball's points; extra balls lie inside it."""
    main = data["count"] - sum(count for _, count in data.get("extra", []))
    alpha = sampling.sample_sobol(basis, quad, main, data["max_norm"], data["tau"], seed=data["seed"]).alpha[:, 1:]
    return float(alpha.min()), float(alpha.max())


def run(args: argparse.Namespace) -> dict:
    """Load the model, draw the fresh points for every τ and evaluate; returns the results."""
    if args.grid and not (2 <= args.grid <= 200 and args.grid_margin >= 0):
        raise InputError(f"--grid {args.grid} --grid-margin {args.grid_margin:g}: expected 2 ≤ N ≤ 200 and a "
                         "margin ≥ 0")
    if args.count < 1 or args.seed < 0:
        raise InputError(f"--count must be ≥ 1 and --seed ≥ 0, got {args.count}, {args.seed}")
    net = export.load(args.model)
    basis, quad = net.velocity()
    data = net.meta.get("training", {}).get("data", {})
    if args.moments and (args.tau or args.max_norm is not None):
        raise InputError("--moments draws in the moments: it takes no --tau or --max-norm")
    max_norm = args.max_norm if args.max_norm is not None else data.get("max_norm")
    validation = net.meta.get("test_errors", {}).get("validation", {})
    h_range = validation.get("h_range")
    if h_range is None or (not args.moments and (max_norm is None or (not args.tau and data.get("tau") is None))):
        raise InputError(f"model {args.model!r}: its file does not record the training data's max_norm, tau "
                         "and h range (a Sobol-trained network is needed; give --max-norm and --tau, or --moments)")
    alpha_range = validation.get("alpha_range") or training_alpha_range(basis, quad, data)
    # the fresh point sets: one per τ of B_{M,τ}, or one per ε of the moment sampler (in the reduced frame
    # for a rotation-invariant network)
    reduced = bool(net.rotation)
    moments = reduced_sampling.sample_moments_reduced if reduced else moment_sampling.sample_moments
    sobol = reduced_sampling.sample_sobol_reduced if reduced else sampling.sample_sobol
    if args.moments:
        sets = [("eps", eps, moments(basis, quad, args.count, eps, seed=args.seed))
                for eps in parse_floats(args.moments, "--moments")]
    else:
        taus = parse_floats(args.tau, "--tau") if args.tau else [data["tau"]]
        sets = [("tau", tau, sobol(basis, quad, args.count, max_norm, tau, seed=args.seed)) for tau in taus]
    frame = rotation(basis) if reduced else None
    rows = []
    for key, value, fresh in sets:
        s = normalise(fresh, frame)
        e = errors(net, basis, quad, s, h_range=h_range, alpha_range=alpha_range)
        if args.bands:
            lam = sampling.hessian_min_eig(fresh.alpha, basis, quad)
            e["bands"] = bands(net, basis, quad, s, lam, e, h_range, alpha_range)
        rows.append({key: value, **e})
    structure = None
    if args.grid:  # over the region of the first fresh set (the network's own input coordinates)
        omega = normalise(sets[0][2], frame).omega
        if args.grid ** omega.shape[1] > MAX_GRID_POINTS:
            raise InputError(f"--grid {args.grid}: {args.grid}^{omega.shape[1]} points before the realizability "
                             f"filter, more than {MAX_GRID_POINTS:.0e}; give a smaller N")
        pts = convexity.dense_test_set(basis, omega, per_axis=args.grid, margin=args.grid_margin,
                                       max_points=args.grid ** omega.shape[1], frame=frame)
        structure = {"per_axis": args.grid, "margin": args.grid_margin, **convexity.report(net, pts)}
    where = ("points uniform in the moments, eps inside the realizable set" if args.moments
             else f"Sobol points of B_(M={max_norm:g}, tau)")
    return {"model": net.name, "describe": net.describe(), "max_norm": max_norm, "count": args.count,
            "seed": args.seed, "quadrature": quad.name, "where": where, "rows": rows, "structure": structure}


def bands(net, basis, quad, s, lam, total: dict, h_range: float, alpha_range) -> list[dict]:
    """The points split by decades of λ_min(∇²φ) (the last band open above): count, the band's MSEs in
    [B]'s units and its share of the total squared error of α̃ and of u (share = n_band·MSE_band / n·MSE)."""
    # decades from the one holding the smallest λ_min (λ_min ≤ 1 for normalised moments: ⟨m0²f⟩ = 1)
    edges = [*10.0 ** np.arange(np.floor(np.log10(max(lam.min(), 1e-300))), 0.0), np.inf]
    out = []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        idx = np.flatnonzero((lam >= lo) & (lam < hi))
        if idx.size == 0:
            continue
        e = errors(net, basis, quad, s.take(idx), h_range=h_range, alpha_range=alpha_range)
        share = idx.size / s.count
        out.append({"lambda_min": [lo, hi], "samples": int(idx.size),
                    "b_mse_alpha": e["b_mse_alpha"], "b_mse_u": e["b_mse_u"],
                    "share_alpha": share * e["b_mse_alpha"] / max(total["b_mse_alpha"], 1e-300),
                    "share_u": share * e["b_mse_u"] / max(total["b_mse_u"], 1e-300)})
    return out


def format_table(r: dict) -> str:
    """A header line and one line per τ."""
    key = "eps" if "eps" in r["rows"][0] else "tau"
    lines = [f"{r['describe']} | {r['quadrature']} | {r['count']} fresh {r['where']}, seed {r['seed']}",
             "errors in [B] Table 1's units (Keras means over components; ICNN: h, alpha / h range; "
             "monotone: alpha to [-1, 1] by its range, h unscaled)",
             f"{key:>8}  {'MSE(h*)':>9}  {'MSE(alpha*)':>11}  {'MSE(u)':>9}  {'MAE(alpha*)':>11}"]
    for row in r["rows"]:
        lines.append(f"{row[key]:8.0e}  {row['b_mse_h']:9.3e}  {row['b_mse_alpha']:11.3e}  "
                     f"{row['b_mse_u']:9.3e}  {row['b_mae_alpha']:11.3e}")
        for b in row.get("bands", []):
            lo, hi = b["lambda_min"]
            lines.append(f"{'':8}  lambda_min in [{lo:.0e}, {hi:.0e}): {b['samples']:5d} points, "
                         f"MSE(alpha*) {b['b_mse_alpha']:9.3e} ({100 * b['share_alpha']:5.1f} % of the total), "
                         f"MSE(u) {b['b_mse_u']:9.3e} ({100 * b['share_u']:5.1f} %)")
    c = r.get("structure")
    if c:
        lines.append(f"{c['quantity']} on a {c['per_axis']}-per-axis grid (margin > {c['margin']:g}): "
                     f"{c['points']} points, min eigenvalue {c.get('min_eigenvalue', 0):.3g} (largest "
                     f"{c.get('max_eigenvalue', 0):.3g}), {100 * c.get('negative_fraction', 0):.3f} % below "
                     f"-1e-10 x the largest -> {'holds' if c.get('convex') else 'FAILS'}")
    return "\n".join(lines)


@script_main("model_errors")
def main(argv: list[str] | None = None) -> int:
    """Parse ``argv``, evaluate, print the table (and write JSON); 0 on success, 2 on bad input."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", help="a shipped model's name or a model file")
    ap.add_argument("--count", type=int, default=2000, help="fresh points per τ")
    ap.add_argument("--seed", type=int, default=2024, help="Sobol scrambling seed (training uses 0)")
    ap.add_argument("--max-norm", type=float, help="M (default: the model's training data)")
    ap.add_argument("--tau", help="τ, or a comma-separated list (default: the model's training data)")
    ap.add_argument("--moments", metavar="EPS",
                    help="draw the points uniformly in the slab's moments, EPS inside the realizable set "
                         "(a comma-separated list gives one line each; 0.06: [B]'s M2 data)")
    ap.add_argument("--bands", action="store_true",
                    help="also split the errors by decades of λ_min(∇²φ), the distance to the realizable boundary")
    ap.add_argument("--grid", type=int, default=0, metavar="N",
                    help="also check convexity / monotonicity on an N^d grid over the fresh points' region")
    ap.add_argument("--grid-margin", type=float, default=1e-4, help="realizability margin of the --grid points")
    ap.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    args = ap.parse_args(argv)
    result = run(args)
    print(format_table(result), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
