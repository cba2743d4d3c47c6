"""The step's memory per cell does not grow with the number of quadrature nodes (issue 22): nodal values
exist only per tile of the fused flux, never for the whole block (measured with tracemalloc)."""

from __future__ import annotations

import tracemalloc

from conftest import ROOT

from hpcclose import config
from hpcclose.scheme.tiling import TILE_BYTES
from hpcclose.solver import Simulation

CELLS = 96


def _bytes_per_cell(nodes: tuple[int, int]) -> tuple[float, float]:
    """(bytes per cell allocated by a Simulation and two steps, at the peak, without the flux's per-thread
    work rows; those work rows per thread)."""
    cfg = config.load(ROOT / "inputs" / "periodic_2d_m1.toml",
                      [f"mesh.cells=[{CELLS},{CELLS}]", f"velocity.quadrature=[{nodes[0]},{nodes[1]}]",
                       "scheme.max_steps=2", "output.progress=false"])
    Simulation(cfg).step()  # compiled and cached before the measurement
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        sim = Simulation(cfg)
        while not sim.done():
            sim.step()
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    return (peak - sum(a.nbytes for a in sim.divergence.workspace)) / CELLS**2, sim.divergence.tile_bytes


def test_allocated_bytes_per_cell_do_not_grow_with_the_nodes():
    few, tile_few = _bytes_per_cell((4, 8))  # 32 nodes
    many, tile_many = _bytes_per_cell((20, 20))  # 400 nodes: the stored nodal values were 8 × 400 B a cell
    assert many - few < 32.0, (few, many)  # the per-run tables of the nodes (basis values, weights), not cells
    assert many < 60 * 3 * 8  # O(n): a few dozen copies of the 3 moments
    assert tile_few <= tile_many <= TILE_BYTES * 1.1  # the tile's budget, independent of the cells
