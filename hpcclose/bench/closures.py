"""``hpcclose bench closures``: moments per second of every closure on [B] Table 2-style moment sets.

For each order (1D M1, M2; monomial basis, Gauss–Legendre rule), each moment set (uniform, interior,
near the boundary at the given distances) and each size, every closure computes the multipliers of the
whole batch; the best of ``repeat`` timings is kept. The timings go round-robin (every measurement once
per round, ``repeat`` rounds), so a slow drift of the machine's speed (a neighbour's load, clock changes)
reaches every closure, set and size alike instead of whichever was timed during it: ratios between rows
are what the benchmark is for. With ``copies`` > 1 each batch is also timed as that many separately
allocated, shuffled copies of the same moments and the best over all of them is kept: where an array
lands in memory alone moves a network closure's rate by up to 15 % here (docs/benchmarks.md), as much as
the moment sets differ. ``newton_warm`` starts from the α of the same
moments perturbed by 1 % (the situation inside a time step). Network closures run on each of the given
backends ("cpu": Numba, "gpu": TensorFlow/XLA, on the CPU when no GPU is visible) and are labelled
``name@backend``. Results: JSON, a PNG plot and a table.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..closures import get_closure
from ..errors import InputError
from ..velocity import gauss_legendre, make_basis
from .moment_sets import moment_set, perturb
from .output import pyplot, save_figure, write_json
from .provenance import provenance


@dataclass
class Row:
    order: int
    closure: str
    moment_set: str
    size: int
    seconds: float
    moments_per_s: float
    moments_per_s_per_thread: float
    iterations_mean: float
    iterations_max: int
    regularised: int
    failed: int
    threads: int
    backend: str = "cpu"  # network closures: "cpu" (Numba) or "gpu" (TensorFlow); the others run on Numba

    @property
    def label(self) -> str:
        """``icnn@gpu`` for network closures, the bare name for the others."""
        return f"{self.closure}@{self.backend}" if self.closure in NETWORKS else self.closure


NETWORKS = ("icnn", "mlp", "monotone", "hybrid")


def _model_file(model: str, arch: str, basis, quad, tmpdir: Path) -> str:
    """``random:WxD`` → a network file with random weights (throughput does not depend on them)."""
    if not model.startswith("random:"):
        return model
    from ..closures.neural import export
    from ..closures.neural.layout import random_network

    width, depth = (int(v) for v in model.removeprefix("random:").split("x"))
    path = tmpdir / f"{arch}_{basis.N}_{width}x{depth}.h5"
    if not path.exists():
        export.save(path, random_network(arch, basis, width, depth, quadrature=quad.name))
    return str(path)


def run(orders=(1, 2), sizes=(10**3, 10**4, 10**5, 10**6), sets=("uniform", "interior", "boundary:1e-2",
        "boundary:1e-3"), closures=("newton", "newton_warm", "m1_exact", "pn"), quadrature: int = 30,
        tol: float = 1e-9, repeat: int = 3, seed: int = 0, log=print, model: str | None = None,
        backends: tuple[str, ...] = ("cpu",), copies: int = 1) -> list[Row]:
    """Measure every combination; returns one :class:`Row` each.

    Network closures (icnn, mlp, monotone, hybrid) need ``model``: a model file, or ``random:WxD`` for a
    randomly initialised network of width W and depth D (for throughput only); they are measured once per
    entry of ``backends`` ("cpu", "gpu"), the other closures once. ``repeat`` rounds, ``copies`` arrays per
    batch (module docstring); every closure and batch is built before the first timing, so all are held in
    memory at once.
    """
    import tempfile

    from ..closures.neural.closure import BACKENDS

    # refuse a bad backend before any (long) measurement starts
    bad = [b for b in backends if b not in BACKENDS]
    if bad or not backends:
        raise InputError(f"--backends must be a comma-separated list of {', '.join(BACKENDS)}, "
                         f"got {','.join(backends)!r}")
    if repeat < 1 or copies < 1:
        raise InputError(f"--repeat and --copies must be ≥ 1, got {repeat} and {copies}")

    tmpdir = Path(tempfile.mkdtemp(prefix="hpcclose-bench-"))
    import numba

    threads = numba.get_num_threads()
    # build every measurement first (closure, batch, compiled), then time them round-robin
    cases = []
    for order in orders:
        basis, quad = make_basis("monomial", 1, order), gauss_legendre(quadrature)
        for spec in sets:
            kind, _, dist = spec.partition(":")
            for size in sizes:
                u = moment_set(order, kind, size, seed, float(dist or 1e-2))
                shuffle = np.random.default_rng(seed + 2)
                batches = [u] + [u[shuffle.permutation(size)] for _ in range(copies - 1)]
                for name in closures:
                    if name == "m1_exact" and order != 1:
                        continue
                    base = "newton" if name.startswith("newton") else name
                    # only the network closures have a backend; the others run once, on Numba
                    for backend in backends if base in NETWORKS else ("cpu",):
                        fns = [_prepare(name, base, backend, basis, quad, b, tol, seed, model, tmpdir)
                               for b in batches]
                        cases.append(((order, name, spec, size, backend), fns))
    best = [np.inf] * len(cases)
    stats = [None] * len(cases)
    for r in range(repeat):
        for i, (_, fns) in enumerate(cases):
            for fn in fns:
                t0 = time.perf_counter()
                _, stats[i] = fn()
                best[i] = min(best[i], time.perf_counter() - t0)
        if r + 1 < repeat:
            log(f"round {r + 1}/{repeat} of {len(cases)} measurements done")
    rows = []
    for ((order, name, spec, size, backend), _), sec, st in zip(cases, best, stats, strict=True):
        row = Row(order, name, spec, size, sec, size / sec, size / sec / threads, st.iterations_mean,
                  st.iterations_max, int(st.regularised.size), int(st.failed.size), threads, backend)
        rows.append(row)
        log(format_row(row))
    return rows


def _prepare(name: str, base: str, backend: str, basis, quad, u: np.ndarray, tol: float, seed: int,
             model: str | None, tmpdir: Path):
    """Build closure ``name`` (on ``backend`` if it is a network) and return the call to time on the batch
    ``u`` (it returns (α, stats)), compiled and warmed up."""
    opts = {"tol": tol} if base == "newton" else {}
    if base in NETWORKS:
        if model is None:
            raise InputError(f"closure {base!r} needs --model (a file or random:WxD)")
        arch = "icnn" if base == "hybrid" else base
        opts = {"model": _model_file(model, arch, basis, quad, tmpdir), "backend": backend}
    closure = get_closure(base, basis, quad, **opts)
    if name == "newton_warm":
        rng = np.random.default_rng(seed + 1)
        start, _ = closure.multipliers(perturb(u, 0.01, rng, basis.is_realizable))
        fn = lambda c=closure, s=start, v=u: c.multipliers(v, s)  # noqa: E731
    else:
        fn = lambda c=closure, v=u: c.multipliers(v)  # noqa: E731
    # compile outside the timing: Numba compiles once for any size, but XLA compiles once per batch shape
    # (tf.function also retraces at the second shape), so the gpu backend warms up on the timed batch itself
    closure.multipliers(u if backend == "gpu" else u[:100])
    return fn


def format_row(r: Row) -> str:
    return (f"M{r.order} {r.label:<12} {r.moment_set:<14} {r.size:>9d} {r.seconds:10.4f} s "
            f"{r.moments_per_s_per_thread:11.3e}/s/thread  it {r.iterations_mean:6.2f}/{r.iterations_max:<4d} "
            f"reg {r.regularised:<7d} fail {r.failed}")


HEADER = (f"{'order':<2} {'closure':<12} {'set':<14} {'size':>9} {'time':>12} {'rate':>21}  "
          f"iterations mean/max, regularised, failed")


def save(rows: list[Row], out: Path, settings: dict) -> tuple[Path, Path]:
    """Write ``closures.json`` (with the provenance of the measurement) and ``closures.png`` into ``out``."""
    js = write_json(out / "closures.json", {"settings": settings, "provenance": provenance(),
                                            "rows": [asdict(r) for r in rows]})
    png = out / "closures.png"
    _plot(rows, png)
    return js, png


def _plot(rows: list[Row], path: Path) -> None:
    plt = pyplot()
    orders = sorted({r.order for r in rows})
    fig, axes = plt.subplots(1, len(orders), figsize=(6 * len(orders), 4.5), squeeze=False)
    for ax, order in zip(axes[0], orders, strict=True):
        for key in sorted({(r.label, r.moment_set) for r in rows if r.order == order}):
            sel = sorted((r for r in rows if (r.order, r.label, r.moment_set) == (order, *key)), key=lambda r: r.size)
            ax.loglog([r.size for r in sel], [r.moments_per_s_per_thread for r in sel], "o-", label=" ".join(key))
        ax.set(title=f"1D M{order}", xlabel="moments in the batch", ylabel="moments / s / thread")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, path)
