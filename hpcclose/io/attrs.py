"""Python values <-> HDF5 attributes, the same way in every hpcclose file.

Numbers and strings are stored as they are (strings as variable-length UTF-8: no size limit, and
parallel HDF5 accepts them in attributes); sequences of numbers as arrays, of strings as string
arrays; mappings and mixed sequences as a JSON string. None is not stored.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from numbers import Number
from typing import Any

import h5py
import numpy as np


def to_attr(value: Any) -> Any:
    """An HDF5-storable form of ``value``, or None to skip it (None values are not stored)."""
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)):
        return np.bool_(value)
    if isinstance(value, (str, Number, np.generic)):
        return value
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, np.ndarray) and value.dtype.kind not in "UO":
        return value
    if isinstance(value, (Sequence, np.ndarray)) and not isinstance(value, (bytes, bytearray)):
        items = np.asarray(value).tolist() if isinstance(value, np.ndarray) else list(value)
        if items and all(isinstance(v, str) for v in items):
            return np.array(items, dtype=h5py.string_dtype())
        if items and all(isinstance(v, Number) and not isinstance(v, bool) for v in items):
            return np.asarray(items)
    return json.dumps(value, default=str)


def from_attr(value: Any) -> Any:
    """A plain python value from an HDF5 attribute (bytes decoded, numpy scalars unwrapped)."""
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.ndarray) and value.dtype.kind in "SO":
        return [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in value.ravel()]
    if isinstance(value, np.ndarray) and value.dtype.kind == "U":
        return [str(v) for v in value.ravel()]
    if isinstance(value, np.generic):
        return value.item()
    return value


def set_attrs(obj: h5py.HLObject, attrs: Mapping[str, Any]) -> None:
    """Set every storable entry of ``attrs`` on an HDF5 group/dataset (skipping None)."""
    for key, value in attrs.items():
        v = to_attr(value)
        if v is not None:
            obj.attrs[key] = v


def get_attrs(obj: h5py.HLObject) -> dict[str, Any]:
    """All attributes of an HDF5 object as plain python values."""
    return {k: from_attr(v) for k, v in obj.attrs.items()}
