"""Closure data: samplers in multiplier space (no optimisation) and HDF5 datasets."""

from .datasets import Dataset, load, save
from .sampling import complete, sample_grid, sample_sobol, vary_u0, w0_grid

__all__ = ["Dataset", "complete", "load", "sample_grid", "sample_sobol", "save", "vary_u0", "w0_grid"]
