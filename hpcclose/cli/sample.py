"""`hpcclose sample …`: sample closure training/test data and write it as HDF5.

    hpcclose sample --basis monomial --dim 1 --order 2 --quadrature 30 --sampler sobol --count 100000 \\
        --max-norm 20 --tau 1e-7 --seed 0 -o data.h5
    hpcclose sample --order 1 --sampler grid --size 10000 --bounds -65 65 -o m1.h5
    hpcclose sample --order 2 --sampler grid --size 100 50 --bounds -10 10 -o m2.h5   # [A 4.1.1]
    hpcclose sample --order 1 --sampler grid --size 52000 --vary-u0 160 -o m1_test.h5  # [A] test set
    hpcclose sample --order 2 --sampler moments --eps 0.06 --count 20000 -o m2_u.h5  # uniform in u, [B]'s data

Serial: under mpiexec only rank 0 samples and writes. The options' types, the quadrature and the output
file (not there yet, unless ``--overwrite``; writable) are checked before any sampling; the samplers check
the ranges of their own parameters.
"""

from __future__ import annotations

import numpy as np

from ..config import Quadrature
from ..errors import InputError
from ..validation import Options, check_options
from .outputs import new_file


class SampleOptions(Options):
    """Finite numbers and a quadrature within the input files' limits (the samplers check the ranges)."""

    max_norm: float
    tau: float
    eps: float
    bounds: list[float] | None
    quadrature: Quadrature | None


def add_arguments(parser) -> None:
    parser.add_argument("--basis", default="monomial",
                        help="monomial (default), legendre, spherical_harmonics")
    parser.add_argument("--dim", type=int, default=1, help="velocity dimension: 1 (slab) or 2 (default 1)")
    parser.add_argument("--order", type=int, default=1, help="moment order N (default 1)")
    parser.add_argument("--quadrature", type=int, nargs="+", default=None, metavar="Q",
                        help="Gauss–Legendre points (1D, default 30) or n_mu n_phi (2D, default 20 40)")
    parser.add_argument("--sampler", choices=("sobol", "grid", "moments"), default="sobol",
                        help="sobol: B_{M,tau} rejection sampling [B eq. 110]; "
                             "grid: uniform alpha grid [A 4.1.1]; moments: uniform in the slab's normalised "
                             "moments, eps inside the realizable set, alpha by Newton (monomial N = 1, 2)")
    parser.add_argument("--count", type=int, default=100_000,
                        help="sobol, moments: samples to keep (default 100000)")
    parser.add_argument("--max-norm", type=float, default=20.0,
                        help="sobol: ball radius M of alpha (default 20)")
    parser.add_argument("--tau", type=float, default=1e-7,
                        help="sobol: Hessian eigenvalue bound (default 1e-7)")
    parser.add_argument("--eps", type=float, default=0.06,
                        help="moments: distance inside the realizable set (default 0.06, [B]'s M2 data)")
    parser.add_argument("--seed", type=int, default=0, help="sobol, moments: scrambling seed (default 0)")
    parser.add_argument("--size", type=int, nargs="+", default=None, metavar="S",
                        help="grid: points per multiplier axis, one for all or one per axis (default 10000 "
                             "for N=1, else 100 50 … as [A])")
    parser.add_argument("--bounds", type=float, nargs=2, default=None, metavar=("LO", "HI"),
                        help="grid: multiplier interval (default -65 65 for one multiplier, else -10 10)")
    parser.add_argument("--vary-u0", type=int, default=0, metavar="K",
                        help="test set: repeat every sample for K values of u0 evenly in [1e-8, 8] [A 4.1.1]")
    parser.add_argument("-o", "--output", required=True, help="HDF5 file to write")
    parser.add_argument("--overwrite", action="store_true", help="replace the output file if it exists")


def build(args):
    """The basis, quadrature and dataset the arguments describe (validation errors → InputError)."""
    from ..data import moment_sampling, sampling
    from ..velocity import gauss_legendre, make_basis, sphere_product

    try:
        basis = make_basis(args.basis, args.dim, args.order)
    except ValueError as exc:
        raise InputError(f"sample: {exc}") from None
    q = args.quadrature or ([30] if basis.dim == 1 else [20, 40])
    if len(q) != basis.dim:
        raise InputError(f"sample: --quadrature needs {basis.dim} number(s) in {basis.dim}D, got {q}")
    quad = gauss_legendre(q[0]) if basis.dim == 1 else sphere_product(*q)
    if args.sampler == "sobol":
        ds = sampling.sample_sobol(basis, quad, args.count, args.max_norm, args.tau, args.seed)
    elif args.sampler == "moments":
        ds = moment_sampling.sample_moments(basis, quad, args.count, args.eps, args.seed)
    else:
        dims = basis.n - 1
        size = args.size or ([10_000] if dims == 1 else [100, 50] + [20] * (dims - 2))
        if len(size) not in (1, dims):
            raise InputError(f"sample: --size needs 1 or {dims} numbers (one per multiplier), "
                             f"got {len(size)}")
        bounds = args.bounds or ((-65.0, 65.0) if dims == 1 else (-10.0, 10.0))
        ds = sampling.sample_grid(basis, quad, size[0] if len(size) == 1 else tuple(size), tuple(bounds))
    if args.vary_u0 < 0:
        raise InputError(f"sample: --vary-u0 must be ≥ 0, got {args.vary_u0}")
    if args.vary_u0:
        ds = sampling.vary_u0(ds, sampling.w0_grid(args.vary_u0))
    return basis, quad, ds


def main(args) -> int:
    from ..data import datasets
    from ..parallel import mpi

    if mpi.rank() != 0:
        return 0
    q = args.quadrature
    check_options(SampleOptions, {"max_norm": args.max_norm, "tau": args.tau, "eps": args.eps, "bounds": args.bounds,
                                  "quadrature": q[0] if q and len(q) == 1 else q}, "sample")
    new_file(args.output, "--output", "sample", args.overwrite)
    basis, quad, ds = build(args)
    path = datasets.save(args.output, ds)
    a = ds.attrs
    how = {"sobol": lambda: f"‖α̃‖ < {a['max_norm']:g}, λ_min > {a['tau']:g}, seed {a['seed']}, "
                            f"{a['draws']} draws",
           "moments": lambda: f"ũ/u0 at least {a['eps']:g} inside the realizable set, seed {a['seed']}, "
                              f"{a['draws']} draws",
           "grid": lambda: f"α̃ grid {'×'.join(map(str, a['size']))} in [{a['bounds'][0]:g}, "
                           f"{a['bounds'][1]:g}]"}[a["sampler"]]()
    if "w0" in a:
        how += f", {len(a['w0'])} values of u0 in [{a['w0'][0]:g}, {a['w0'][-1]:g}]"
    print(f"wrote {path}: {ds.count} samples ({a['sampler']}: {how})\n"
          f"  {basis.describe()}, quadrature {quad.name}\n"
          f"  u0 in [{ds.u[:, 0].min():.3g}, {ds.u[:, 0].max():.3g}], |u~/u0| max "
          f"{np.abs(ds.u[:, 1:] / ds.u[:, :1]).max():.6f}, h in [{ds.h.min():.4g}, {ds.h.max():.4g}]",
          flush=True)
    return 0
