"""What ParaView will open: the XDMF series of a 1D and a 2D run read by the official VTK wheel's
vtkXdmfReader (the reader ParaView's "XDMF Reader" is), checked against the HDF5 data it points into:
the grid, every component array (bit-identical), the current as a vector, and the time steps.

vtk is an optional test dependency (the ``test`` extra; ``make test`` installs it): skipped without it.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

pytest.importorskip("vtkmodules.vtkIOXdmf2", reason="vtk is not installed (pip install vtk, or make test)")
from vtkmodules.util.numpy_support import vtk_to_numpy  # noqa: E402
from vtkmodules.vtkCommonExecutionModel import vtkStreamingDemandDrivenPipeline  # noqa: E402
from vtkmodules.vtkIOXdmf2 import vtkXdmfReader  # noqa: E402

from hpcclose.io.attrs import from_attr  # noqa: E402

pytestmark = pytest.mark.slow  # the runs behind small_runs


def _series(run_dir: Path) -> tuple[vtkXdmfReader, list[float]]:
    reader = vtkXdmfReader()
    reader.SetFileName(str(run_dir / "fields.xdmf"))
    reader.UpdateInformation()
    times = reader.GetOutputInformation(0).Get(vtkStreamingDemandDrivenPipeline.TIME_STEPS())
    return reader, list(times or [])


def _at(reader: vtkXdmfReader, t: float):
    reader.UpdateTimeStep(t)
    return reader.GetOutputDataObject(0)


@pytest.mark.parametrize("dim", ["1d", "2d"])
def test_vtk_reads_the_series_as_written(small_runs, dim):
    run_dir = small_runs[dim]
    files = sorted(run_dir.glob("fields_*.h5"))
    reader, times = _series(run_dir)
    assert len(files) >= 3
    expected_times = []
    for path in files:
        with h5py.File(path, "r") as f:
            expected_times.append(float(f.attrs["time"]))
    assert times == expected_times  # one time step per output, in order

    for path, t in zip(files, times, strict=True):
        grid = _at(reader, t)
        assert grid.GetClassName() == "vtkRectilinearGrid"
        with h5py.File(path, "r") as f:
            xe = f["grid/x_edges"][...]
            np.testing.assert_array_equal(vtk_to_numpy(grid.GetXCoordinates()), xe)
            if dim == "2d":
                np.testing.assert_array_equal(vtk_to_numpy(grid.GetYCoordinates()), f["grid/y_edges"][...])
                assert grid.GetDimensions() == (xe.size, f["grid/y_edges"].shape[0], 1)
            else:  # the slab is one cell thick: y from 0 to Δx
                np.testing.assert_array_equal(vtk_to_numpy(grid.GetYCoordinates()), [0.0, xe[1] - xe[0]])
            cells = grid.GetCellData()
            for field in ("u", "alpha"):
                data = f["fields"][field]
                for k, name in enumerate(from_attr(data.attrs["components"])):
                    got = vtk_to_numpy(cells.GetArray(name))
                    np.testing.assert_array_equal(got, data[..., k].ravel())  # x fastest, as C order
            current = cells.GetArray("current")
            if dim == "1d":
                assert current is None  # a 1D current is the scalar u_P1
            else:
                j = vtk_to_numpy(current)
                assert cells.GetVectors().GetName() == "current"
                u = f["fields/u"][...]
                names = list(from_attr(f["fields/u"].attrs["components"]))
                np.testing.assert_array_equal(j[:, 0], u[..., names.index("u_x")].ravel())
                np.testing.assert_array_equal(j[:, 1], u[..., names.index("u_y")].ravel())
                np.testing.assert_array_equal(j[:, 2], 0.0)
