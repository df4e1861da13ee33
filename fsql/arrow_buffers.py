"""Arrow int64 values to and from NumPy through buffers, without importing pandas.

pyarrow imports pandas (about half a second, once per process) the first time a
Python or NumPy value is converted (`pa.scalar`, `pa.array`, `to_numpy`). That is
more than a small `fsql run` or a training set of a few thousand rows costs, so
the hot paths move int64 data through raw buffers instead.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa


def int64_array(values: np.ndarray) -> pa.Array:
    """A NumPy int64 vector as an Arrow array (no nulls), sharing its memory."""
    values = np.ascontiguousarray(values, dtype=np.int64)
    return pa.Array.from_buffers(pa.int64(), len(values), [None, pa.py_buffer(values)])


def int64_scalar(value: int) -> pa.Scalar:
    """An Arrow int64 scalar, for compute kernels such as `fill_null`."""
    return int64_array(np.array([value], dtype=np.int64))[0]


def int64_values(col: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """A null-free int64 column as a NumPy array, read from its buffer."""
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    if arr.null_count:
        raise ValueError("int64_values needs a column without nulls")
    if len(arr) == 0:
        return np.empty(0, dtype=np.int64)
    return np.frombuffer(arr.buffers()[1], dtype=np.int64, count=len(arr), offset=arr.offset * 8)
