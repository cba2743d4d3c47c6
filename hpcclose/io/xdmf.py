"""XDMF 3 sidecars so ParaView / VisIt open hpcclose field files directly (as mpi4py-fft's generate_xdmf).

The XML only points into the HDF5 file (paths relative to the ``.xdmf`` file, so a run directory
can be moved); it is generated from what the file holds, so it always matches it.

Choices:

- 2D: a ``2DRectMesh`` (``Dimensions="ny+1 nx+1"``, points) with ``VXVY`` geometry from
  ``/grid/x_edges`` and ``/grid/y_edges``; fields are cell data (``Center="Cell"``).
- 1D: ParaView has no 1D structured mesh worth using, so the slab is a ``2DRectMesh`` one cell
  thick (``Dimensions="2 nx+1"``): x from ``/grid/x_edges``, y the inline pair ``0 dx``. Fields
  stay cell data; "Plot Over Line" or "Plot Data" gives the profile.
- Components: one scalar ``Attribute`` per component (``u0``, ``u1``, … from the dataset's
  ``components`` attribute), each a ``HyperSlab`` that picks component ``k`` out of the
  ``(…, n)`` dataset without copying data; its declared shape is the mesh's cell shape (``ny nx``,
  or ``1 nx`` in 1D). A field with no component axis is one attribute (an identity HyperSlab).
  Checked with VTK's XDMF reader (vtkXdmfReader): 1D, 2D and a temporal collection read back as
  ``vtkRectilinearGrid`` cell data with the right values and time steps (tests/unit/test_xdmf_vtk.py).
- The current: in 2D, where the dataset's ``current_components`` attribute names two neighbouring
  components (J_x, J_y: the monomial basis' ``u_x``, ``u_y``), a ``Vector`` attribute ``current`` too:
  one HyperSlab of both, which the reader pads with J_z = 0, ready for Glyph and Stream Tracer. (XDMF
  ``Function`` items, which could join or scale components, are read wrongly by vtkXdmfReader: not used;
  so a basis whose degree-1 moments are not J itself, the harmonics' √3 J, gets no vector.)
- Time: a ``<Time Value=…>`` from the file's ``time`` attribute; :func:`write_xdmf_series` wraps
  several files in a temporal ``Collection`` (ParaView's time slider).
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

import h5py
import numpy as np

from .attrs import from_attr
from .files import atomic_write_text

_HEADER = '<?xml version="1.0" ?>\n<!DOCTYPE Xdmf SYSTEM "Xdmf.dtd" []>\n'
#: The vector attribute of the current J = (u_x, u_y), for glyphs and stream lines in ParaView
CURRENT = "current"


def _dims(shape) -> str:
    return " ".join(str(int(n)) for n in shape)


def _number_type(dtype: np.dtype) -> dict[str, str]:
    kind = {"f": "Float", "i": "Int", "u": "UInt", "b": "UChar"}.get(dtype.kind)
    if kind is None:
        raise ValueError(f"write_xdmf: cannot describe dtype {dtype} in XDMF")
    return {"NumberType": kind, "Precision": str(dtype.itemsize)}


def _hdf_item(parent: ET.Element, ref: str, dset: h5py.Dataset) -> ET.Element:
    item = ET.SubElement(parent, "DataItem", Dimensions=_dims(dset.shape), Format="HDF",
                         **_number_type(dset.dtype))
    item.text = f"{ref}:{dset.name}"
    return item


def _xml_item(parent: ET.Element, values, number_type: str = "Float") -> ET.Element:
    values = np.asarray(values)
    item = ET.SubElement(parent, "DataItem", Dimensions=_dims(values.shape), Format="XML",
                         NumberType=number_type, Precision="8" if number_type == "Float" else "4")
    item.text = " ".join(repr(v) for v in values.ravel().tolist())
    return item


def _attribute(grid_el: ET.Element, name: str, ref: str, dset: h5py.Dataset, ndim: int,
               k: int | None, count: int = 1) -> None:
    """A cell-centred scalar: the whole dataset, or component ``k`` of its last axis (HyperSlab); with
    ``count`` = 2 a vector of components k and k + 1 (2D)."""
    kind = "Vector" if count > 1 else "Scalar"
    att = ET.SubElement(grid_el, "Attribute", Name=name, AttributeType=kind, Center="Cell")
    # Always a HyperSlab (the identity for a field with no component axis) whose declared shape
    # is the mesh's cell shape ((1, nx) in 1D): VTK's XDMF reader wants the attribute's rank to
    # match the mesh and rejects a plain (nx,) item on the one-cell-thick 1D mesh.
    count = tuple(dset.shape[:ndim]) + (() if k is None else (count,))
    start = [0] * ndim + ([] if k is None else [k])
    cells = ((1,) if ndim == 1 else ()) + tuple(dset.shape[:ndim]) + ((count[-1],) if kind == "Vector" else ())
    slab = ET.SubElement(att, "DataItem", ItemType="HyperSlab", Type="HyperSlab", Dimensions=_dims(cells))
    _xml_item(slab, np.array([start, [1] * len(count), list(count)]), "Int")  # start, stride, count
    _hdf_item(slab, ref, dset)


def _grid_element(h5_path: Path, ref: str) -> ET.Element:
    """The uniform ``<Grid>`` describing one field file; ``ref`` is its name as the XML refers to it."""
    with h5py.File(h5_path, "r") as f:
        g = f["grid"]
        axes = list(from_attr(g.attrs["axes"]))
        ndim = len(axes)
        el = ET.Element("Grid", Name=h5_path.stem, GridType="Uniform")
        if "time" in f.attrs:
            ET.SubElement(el, "Time", Value=repr(float(f.attrs["time"])))
        npts = [g[f"{ax}_edges"].shape[0] for ax in axes]  # array order (y, x)
        if ndim == 1:
            npts = [2] + npts
        ET.SubElement(el, "Topology", TopologyType="2DRectMesh", Dimensions=_dims(npts))
        geo = ET.SubElement(el, "Geometry", GeometryType="VXVY")
        _hdf_item(geo, ref, g["x_edges"])
        if ndim == 2:
            _hdf_item(geo, ref, g["y_edges"])
        else:
            xe = g["x_edges"][...]
            _xml_item(geo, [0.0, float(xe[1] - xe[0])])
        for name, dset in f["fields"].items():
            trailing = dset.shape[ndim:]
            if len(trailing) == 0:
                _attribute(el, name, ref, dset, ndim, None)
                continue
            if len(trailing) != 1:
                continue  # tensors per cell: not described (none are written today)
            comps = from_attr(dset.attrs.get("components", [f"{name}{k}" for k in range(trailing[0])]))
            for k, cname in enumerate(comps):
                _attribute(el, str(cname), ref, dset, ndim, k)
            current = np.ravel(dset.attrs.get("current_components", [])).tolist()
            if ndim == 2 and len(current) == 2 and current[1] == current[0] + 1:
                _attribute(el, CURRENT, ref, dset, ndim, current[0], count=2)
    return el


def _ref(h5_path: Path, xdmf_path: Path) -> str:
    return os.path.relpath(h5_path.resolve(), xdmf_path.resolve().parent)


def _write(root: ET.Element, xdmf_path: Path) -> Path:
    ET.indent(root)
    return atomic_write_text(xdmf_path, _HEADER + ET.tostring(root, encoding="unicode") + "\n")


def _document() -> tuple[ET.Element, ET.Element]:
    root = ET.Element("Xdmf", Version="3.0")
    return root, ET.SubElement(root, "Domain")


def write_xdmf(h5_path: str | os.PathLike, xdmf_path: str | os.PathLike | None = None) -> Path:
    """Write the XDMF sidecar of one field file (default: same name with ``.xdmf``); one process only."""
    h5_path = Path(h5_path)
    xdmf_path = h5_path.with_suffix(".xdmf") if xdmf_path is None else Path(xdmf_path)
    root, domain = _document()
    domain.append(_grid_element(h5_path, _ref(h5_path, xdmf_path)))
    return _write(root, xdmf_path)


def write_xdmf_series(h5_paths: Sequence[str | os.PathLike], xdmf_path: str | os.PathLike,
                      name: str = "fields") -> Path:
    """One XDMF file with a temporal collection of field files (in the order given); one process only."""
    xdmf_path = Path(xdmf_path)
    root, domain = _document()
    coll = ET.SubElement(domain, "Grid", Name=name, GridType="Collection", CollectionType="Temporal")
    for p in h5_paths:
        p = Path(p)
        coll.append(_grid_element(p, _ref(p, xdmf_path)))
    return _write(root, xdmf_path)
