"""Arrow arrays to and from Python and NumPy values through buffers, without importing pandas.

pyarrow imports pandas (about half a second, once per process) the first time a
Python or NumPy value is converted (`pa.scalar`, `pa.array`, `to_numpy`). That is
more than a small `fsql run`, an online read or a training set of a few thousand rows
costs, so the hot paths move int64 data through raw buffers instead, and Python lists
of the common types (`python_array`) are laid out in Arrow's buffers directly.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa

# Arrow type -> (NumPy dtype, the Python types a value may have). bool is an int to
# Python, so integer and float columns name their types exactly and leave bools out.
_FIXED: dict[pa.DataType, tuple[type, tuple[type, ...]]] = {
    pa.int8(): (np.int8, (int,)),
    pa.int16(): (np.int16, (int,)),
    pa.int32(): (np.int32, (int,)),
    pa.int64(): (np.int64, (int,)),
    pa.float32(): (np.float32, (int, float)),
    pa.float64(): (np.float64, (int, float)),
}
# pa.array refuses an int a float type cannot hold exactly; such values go to it.
_EXACT_INTS = {pa.float32(): 2**24, pa.float64(): 2**53}
_VARIABLE: dict[pa.DataType, type] = {pa.string(): str, pa.binary(): bytes}
_OFFSET_LIMIT = 2**31 - 1  # string and binary offsets are int32


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


def _validity(values: Sequence[Any]) -> tuple[pa.Buffer | None, int]:
    valid = np.fromiter((v is not None for v in values), dtype=bool, count=len(values))
    nulls = len(values) - int(valid.sum())
    if not nulls:
        return None, 0
    return pa.py_buffer(np.packbits(valid, bitorder="little")), nulls


def _exactly(values: Sequence[Any], kinds: tuple[type, ...]) -> bool:
    return all(v is None or (type(v) in kinds) for v in values)


def python_array(values: Sequence[Any], dtype: pa.DataType) -> pa.Array:
    """`pa.array(values, type=dtype)`, built from buffers when every value already has
    the type's Python type (int, float, bool, str, bytes or None), so that no pandas
    import happens; any other type or value goes to `pa.array`, whose conversions and
    errors are the rule."""
    if isinstance(values, list | tuple):
        validity, nulls = _validity(values)
        fixed = _FIXED.get(dtype)
        exact = _EXACT_INTS.get(dtype)
        if (
            fixed is not None
            and _exactly(values, fixed[1])
            and (exact is None or all(type(v) is not int or -exact <= v <= exact for v in values))
        ):
            try:
                # A float beyond float32 becomes inf, as pa.array makes it: no warning.
                with np.errstate(over="ignore"):
                    data: np.ndarray | None = np.array(
                        [0 if v is None else v for v in values], dtype=fixed[0]
                    )
            except OverflowError:
                data = None
            if data is not None:
                return pa.Array.from_buffers(
                    dtype, len(values), [validity, pa.py_buffer(data)], null_count=nulls
                )
        if dtype == pa.bool_() and _exactly(values, (bool,)):
            bits = np.packbits(np.array([v is True for v in values], dtype=bool), bitorder="little")
            return pa.Array.from_buffers(
                dtype, len(values), [validity, pa.py_buffer(bits)], null_count=nulls
            )
        kind = _VARIABLE.get(dtype)
        if kind is not None and _exactly(values, (kind,)):
            parts = [b"" if v is None else (v.encode() if kind is str else v) for v in values]
            ends = np.cumsum([len(p) for p in parts], dtype=np.int64)
            if not parts or ends[-1] <= _OFFSET_LIMIT:
                offsets = np.concatenate([np.zeros(1, dtype=np.int32), ends.astype(np.int32)])
                return pa.Array.from_buffers(
                    dtype,
                    len(values),
                    [validity, pa.py_buffer(offsets), pa.py_buffer(b"".join(parts))],
                    null_count=nulls,
                )
    return pa.array(values, type=dtype)


def inferred_array(values: Sequence[Any]) -> pa.Array:
    """`pa.array(values)` (the type inferred), through `python_array` when the values are
    all ints (int64) or all strings, the usual join keys."""
    for dtype, kind in ((pa.int64(), int), (pa.string(), str)):
        present = [v for v in values if v is not None]
        if present and all(type(v) is kind for v in present):
            try:
                return python_array(values, dtype)
            except (pa.ArrowInvalid, OverflowError):
                break  # beyond int64: pa.array infers what it can
    return pa.array(values)


def nested_as_json(table: pa.Table) -> pa.Table:
    """`table` with its array and map columns as JSON text (a map as an object), for
    formats and uploads that hold no nested values (CSV, Snowflake's COPY)."""
    for index, field in enumerate(table.schema):
        kind = field.type
        if not (pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_map(kind)):
            continue
        is_map = pa.types.is_map(kind)
        text = [
            None if v is None else json.dumps(dict(v) if is_map else v)
            for v in table.column(index).to_pylist()
        ]
        table = table.set_column(index, field.name, pa.array(text, pa.string()))
    return table
