"""The performance model behind ``hpcclose bench model``: time per step on P ranks, from 1 to 16 384.

One step on the busiest rank, owning ``n`` cells (the largest block of the decomposition)::

    T(P) = Σ_phase (a_phase + b_phase · n)            closure, flux, halo (local copies), other
         + s · max(0, t_x − o(n) / s)                 the part of each exchange the overlap does not hide
         + r · ⌈log₂ P⌉ · L                           r fused allreduces per step (recursive doubling)
    t_x  = m · L + V / β,   β = β_node / min(P, ranks_per_node)

* ``a_phase + b_phase · n``: per-step cost of each phase on one rank, fitted to measurements at several
  block sizes (:mod:`.calibrate`); ``a`` is what a step costs whatever the cells (interpreter, kernel
  calls, small arrays), ``b`` the cost per cell;
* ``s``: halo exchanges per step (one per stage of the integrator); ``m`` and ``V``: the messages and
  bytes the busiest rank sends to other ranks per exchange (from the block layout, :func:`halo_plan`);
* ``o(n)``: the owned cells' nodal values per step, computed while the halo is in flight
  (``Simulation._rhs``): an exchange costs only what it takes beyond them;
* ``L``, ``β_node``: the network's latency and one node's injection bandwidth, shared by the ranks on
  the node (all of them are assumed to send at once, through one NIC — pessimistic within a node);
* ``r``: one allreduce per step on more than one rank (the fused end-of-step reduction).

Not modelled: load imbalance beyond the ±1-cell blocks, operating-system noise (which the allreduce
amplifies at thousands of ranks), contention between jobs, and Newton iterations that differ between
meshes. Results depend on the number of ranks only through the block layout.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np

from ..errors import InputError
from ..grid import NG
from ..parallel.decomp import block_sizes, choose_dims
from .steps import weak_layout

#: The per-step phases of the model (one rank); "other" holds the reduction's and output's local parts.
MODEL_PHASES = ("closure", "flux", "halo", "other")


@dataclass(frozen=True)
class Linear:
    """A cost ``fixed_s + per_cell_s · n`` seconds (per step) for a block of ``n`` cells."""

    fixed_s: float
    per_cell_s: float

    def __call__(self, n: float) -> float:
        return self.fixed_s + self.per_cell_s * n

    @classmethod
    def fit(cls, cells, seconds) -> Linear:
        """Least squares in relative error (weights 1/t), so small and large blocks count alike; ≥ 0."""
        cells, seconds = np.asarray(cells, dtype=float), np.asarray(seconds, dtype=float)
        slope, intercept = np.polyfit(cells, seconds, 1, w=1.0 / np.maximum(seconds, 1e-12))
        return cls(max(float(intercept), 0.0), max(float(slope), 0.0))


@dataclass(frozen=True)
class Costs:
    """What a step costs on one rank, measured on this machine (see :mod:`.calibrate`)."""

    phases: dict[str, Linear]
    overlap: Linear
    stages: int
    n_components: int
    reductions: int = 1
    itemsize: int = 8

    def local(self, n: float) -> dict[str, float]:
        """Seconds per step of each phase for a block of ``n`` cells."""
        return {k: c(n) for k, c in self.phases.items()}

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict) -> Costs:
        return cls(**{**d, "phases": {k: Linear(**v) for k, v in d["phases"].items()},
                      "overlap": Linear(**d["overlap"])})


@dataclass(frozen=True)
class Network:
    """Latency, one node's injection bandwidth and ranks per node (defaults: HDR InfiniBand, 200 Gb/s)."""

    latency_s: float = 1.5e-6
    bandwidth_Bps: float = 24e9
    ranks_per_node: int = 64

    def __post_init__(self) -> None:
        if not (self.latency_s >= 0 and self.bandwidth_Bps > 0 and self.ranks_per_node >= 1):
            raise InputError(f"bench model: the network needs latency >= 0, bandwidth > 0 and ranks per node "
                             f">= 1, got {self.latency_s}, {self.bandwidth_Bps}, {self.ranks_per_node}")

    def rank_bandwidth(self, ranks: int) -> float:
        """Bytes/s one rank gets when the node's ranks all send at once."""
        return self.bandwidth_Bps / min(ranks, self.ranks_per_node)


@dataclass
class HaloPlan:
    """Every rank's halo traffic per exchange, in rank order (a Cartesian layout without reordering).

    ``messages``/``nbytes``: all sends (a periodic axis on one rank sends to itself); ``remote_*``: the
    sends to other ranks, which the network carries.
    """

    dims: tuple[int, ...]
    cells: np.ndarray
    messages: np.ndarray
    nbytes: np.ndarray
    remote_messages: np.ndarray
    remote_nbytes: np.ndarray = field(repr=False)


def halo_plan(cells: tuple[int, ...], periodic: tuple[bool, ...], ranks: int, n_components: int,
              dims: tuple[int, ...] | None = None, ng: int = NG, itemsize: int = 8) -> HaloPlan:
    """The halo traffic of ``ranks`` ranks on a grid of ``cells`` (array order, as ``Grid.cells``).

    The layout is :func:`~hpcclose.parallel.decomp.choose_dims`'s unless ``dims`` is given; each rank
    sends ``ng`` layers of its block face to each neighbour (none across a wall), ``n_components``
    numbers of ``itemsize`` bytes per cell. Raises :class:`InputError` where the blocks get thinner than
    the ghost layers, as the solver would.
    """
    dims = tuple(dims) if dims is not None else choose_dims(ranks, cells, periodic)
    coords = np.indices(dims).reshape(len(dims), -1)  # row-major: the Cartesian rank order
    block = np.stack([np.asarray(block_sizes(c, p))[coords[d]] for d, (c, p) in enumerate(zip(cells, dims,
                                                                                               strict=True))])
    shape = (len(coords[0]),)
    msgs, nbytes, remote, remote_bytes = (np.zeros(shape, dtype=np.int64) for _ in range(4))
    for d, p in enumerate(dims):
        if (p > 1 or periodic[d]) and block[d].min() < ng:
            raise InputError(f"bench model: {ranks} ranks leave blocks of {block[d].min()} cell(s) along axis {d}, "
                             f"thinner than the {ng} ghost layers")
        face = ng * n_components * itemsize * np.prod(np.delete(block, d, axis=0), axis=0)
        for has in (coords[d] > 0, coords[d] < p - 1):
            send = has | periodic[d]
            to_other = send & (p > 1)
            msgs += send
            nbytes += send * face
            remote += to_other
            remote_bytes += to_other * face
    return HaloPlan(dims, np.prod(block, axis=0), msgs, nbytes, remote, remote_bytes)


def predict(costs: Costs, plan: HaloPlan, net: Network) -> dict:
    """Time per step on the busiest rank of ``plan`` (seconds), with its parts."""
    ranks = len(plan.cells)
    n = int(plan.cells.max())
    local = costs.local(n)
    bandwidth = net.rank_bandwidth(ranks)
    exchange = float(plan.remote_messages.max() * net.latency_s + plan.remote_nbytes.max() / bandwidth)
    hidden = costs.overlap(n) / costs.stages
    exposed = costs.stages * max(0.0, exchange - hidden)
    reduce = costs.reductions * math.ceil(math.log2(ranks)) * net.latency_s if ranks > 1 else 0.0
    total = sum(local.values()) + exposed + reduce
    return {"ranks": ranks, "dims": list(plan.dims), "cells_per_rank": n, "time_per_step_s": total,
            "local_s": local, "exchange_s": exchange, "hidden_s": hidden, "halo_exposed_s": exposed,
            "reduce_s": reduce, "halo_bytes_per_step": int(plan.nbytes.sum()) * costs.stages,
            "messages_per_exchange_max": int(plan.remote_messages.max()),
            "bytes_per_exchange_max": int(plan.remote_nbytes.max())}


def weak_cells(block: tuple[int, ...], ranks: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Global cells and layout (array order) for ``ranks`` ranks each owning ``block`` (as ``bench steps``)."""
    cells, dims = weak_layout(block[0] if len(block) == 1 else (block[1], block[0]), ranks)
    return ((cells,) if isinstance(cells, int) else (cells[1], cells[0])), dims


def series(costs: Costs, cells: tuple[int, ...], periodic: tuple[bool, ...], ranks: list[int], net: Network,
           kind: str) -> list[dict]:
    """Predictions for each rank count: ``strong`` (``cells`` the global grid) or ``weak`` (``cells`` each
    rank's block); efficiency against the first rank count. Infeasible layouts carry their reason."""
    rows = []
    for p in ranks:
        try:
            grid, dims = (cells, None) if kind == "strong" else weak_cells(cells, p)
            plan = halo_plan(grid, periodic, p, costs.n_components, dims=dims, itemsize=costs.itemsize)
        except InputError as exc:
            rows.append({"ranks": p, "infeasible": str(exc)})
            continue
        rows.append(predict(costs, plan, net))
    feasible = [r for r in rows if "infeasible" not in r]
    if feasible:
        t0, p0 = feasible[0]["time_per_step_s"], feasible[0]["ranks"]
        for r in feasible:
            ideal = r["ranks"] / p0 if kind == "strong" else 1.0
            r["efficiency"] = t0 / r["time_per_step_s"] / ideal
    return rows


def thresholds(strong: list[dict], weak: list[dict], floor: float = 0.8, gain: float = 0.9) -> dict:
    """Where scaling stops: the first rank count below ``floor`` efficiency (strong and weak), and the
    cells per rank at which doubling the ranks no longer cuts the time per step below ``gain`` of it."""
    strong_ok = [r for r in strong if "efficiency" in r]

    def first_below(rows):
        hit = next((r for r in rows if "efficiency" in r and r["efficiency"] < floor), None)
        return None if hit is None else {"ranks": hit["ranks"], "cells_per_rank": hit["cells_per_rank"],
                                         "efficiency": hit["efficiency"]}

    stops = next(({"ranks": a["ranks"], "cells_per_rank": a["cells_per_rank"],
                   "time_ratio_when_doubled": b["time_per_step_s"] / a["time_per_step_s"]}
                  for a, b in zip(strong_ok, strong_ok[1:], strict=False) if b["ranks"] == 2 * a["ranks"]
                  and b["time_per_step_s"] > gain * a["time_per_step_s"]), None)
    return {"efficiency_floor": floor, "strong_below_floor": first_below(strong),
            "weak_below_floor": first_below(weak), "doubling_gain": gain, "strong_stops_paying": stops,
            "cells_per_rank_at_floor": cells_at_efficiency(strong_ok, floor)}


def cells_at_efficiency(strong: list[dict], floor: float) -> float | None:
    """Cells per rank where the strong-scaling efficiency crosses ``floor`` (log-linear interpolation)."""
    for a, b in zip(strong, strong[1:], strict=False):
        if a["efficiency"] >= floor > b["efficiency"]:
            w = (a["efficiency"] - floor) / (a["efficiency"] - b["efficiency"])
            return float(np.exp((1 - w) * np.log(a["cells_per_rank"]) + w * np.log(b["cells_per_rank"])))
    return None


def powers_of_two(max_ranks: int) -> list[int]:
    """1, 2, 4, … up to ``max_ranks``."""
    return [2 ** k for k in range(int(math.log2(max_ranks)) + 1)]
