"""How far a product rule is from rotation-invariant: the moment error a rotation-invariant closure cannot avoid.

    .venv/bin/python drivers/rule_invariance.py [--rules 20x20,20x40,10x40,16x64] [--order 2]
        [--basis monomial] [--max-norm 30] [--tau 1e-6] [--count 1500] [--seed 3]

For each rule: Sobol points of B_{M,τ} in the reduced frame (hpcclose.data.reduced_sampling, exact for the rule),
their exact multipliers with α_y replaced by what rotation invariance gives from the other components
(closures/neural/rotation.py, Rotation.complete_alpha), and the moments that α reproduces under the rule: the
error ‖w(α) − u‖₂ (u0 = 1) is zero for an invariant rule and is the floor of any rotation-invariant closure's
moment error under the rule. Printed per band of ‖α̃‖: median and largest error.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from hpcclose.closures.neural.rotation import rotation
from hpcclose.data.reduced_sampling import sample_sobol_reduced
from hpcclose.errors import InputError, script_main
from hpcclose.training.samples import normalise
from hpcclose.velocity import make_basis, sphere_product

BANDS = ((0.0, 5.0), (5.0, 10.0), (10.0, 20.0), (20.0, 40.0))


def floor(basis, quad, max_norm: float, tau: float, count: int, seed: int) -> list[str]:
    """One cell per band: 'median / max (points)' of the invariance floor under ``quad``."""
    rot = rotation(basis)
    s = normalise(sample_sobol_reduced(basis, quad, count, max_norm, tau, seed=seed), rot)
    alpha = rot.complete_alpha(rot.expand(s.omega), np.delete(s.alpha, rot.y, axis=1))
    m = basis.evaluate(quad)
    z = alpha @ m[:, 1:].T
    z -= z.max(axis=1, keepdims=True)
    G = np.exp(z) / (np.exp(z) @ quad.weights)[:, None]
    err = np.linalg.norm((G * quad.weights) @ m - s.w, axis=1)
    norm = np.linalg.norm(s.alpha, axis=1)
    cells = []
    for lo, hi in BANDS:
        k = (norm >= lo) & (norm < hi)
        cells.append(f"{np.median(err[k]):.1e} / {err[k].max():.1e} ({k.sum()})" if k.any() else "-")
    return cells


@script_main("rule_invariance")
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rules", default="20x20,20x40,10x40,16x64", help="n_mu x n_phi, comma-separated")
    ap.add_argument("--order", type=int, default=2)
    ap.add_argument("--basis", default="monomial", choices=("monomial", "spherical_harmonics"))
    ap.add_argument("--max-norm", type=float, default=30.0)
    ap.add_argument("--tau", type=float, default=1e-6)
    ap.add_argument("--count", type=int, default=1500)
    ap.add_argument("--seed", type=int, default=3)
    args = ap.parse_args(argv)
    try:
        rules = [tuple(int(v) for v in r.split("x")) for r in args.rules.split(",")]
    except ValueError:
        raise InputError(f"--rules {args.rules!r}: expected n_mu x n_phi, comma-separated") from None
    basis = make_basis(args.basis, 2, args.order)
    print(f"{basis.describe()}: moment error of the invariance-completed exact alpha, B_(M={args.max_norm:g}, "
          f"tau={args.tau:g}), median / max (points) per band of |alpha~|")
    print(f"{'rule':>8}  " + "  ".join(f"{f'[{lo:g}, {hi:g})':>24}" for lo, hi in BANDS))
    for nm, nphi in rules:
        cells = floor(basis, sphere_product(nm, nphi), args.max_norm, args.tau, args.count, args.seed)
        print(f"{nm:>3}x{nphi:<4}  " + "  ".join(f"{c:>24}" for c in cells), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
