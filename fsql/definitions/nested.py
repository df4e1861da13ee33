"""Composite feature values (`array<T>`, `map<string,T>`, `json`) in one Arrow form,
whatever an engine returned.

Engines hand them back differently: DuckDB as lists and maps of its own element types
(`DECIMAL` for a literal `[0.5]`), Snowflake's connector as JSON text (ARRAY, OBJECT and
VARIANT alike), BigQuery as lists, and its maps (kept as JSON) as text. Every path that
reads feature values from an engine (training sets, materialization, pushes) passes
them through `conform`, so training sets, online stores and comparisons between them
(parity, skew) see one representation: `FeatureType.arrow()`, with JSON as canonical
text (`json_text`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, TypeVar

import pyarrow as pa
import pyarrow.compute as pc

from fsql.definitions.types import FeatureType, json_text

Columns = TypeVar("Columns", pa.Table, pa.RecordBatch)


def conform(data: Columns, types: Mapping[str, FeatureType]) -> Columns:
    """`data` with each column of a composite type in `types` in its Arrow form; other
    columns untouched (no copy when nothing is composite)."""
    names = data.schema.names
    arrays = list(data.columns)
    changed = False
    for index, name in enumerate(names):
        ftype = types.get(name)
        if ftype is None or not ftype.composite:
            continue
        arrays[index] = conform_column(arrays[index], ftype)
        changed = True
    if not changed:
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.RecordBatch.from_arrays(arrays, names=names)
    return pa.Table.from_arrays(arrays, names=names)


def conform_column(column: Any, ftype: FeatureType) -> Any:
    """One column of composite type `ftype` in its Arrow form; ValueError when its
    values cannot be (a string that is not JSON, a list where a map is declared)."""
    want = ftype.arrow()
    have = column.type
    if ftype.kind == "json":
        return _as_array(column, [json_text(v) for v in _python(column)], want)
    if have == want:
        return column
    if pa.types.is_null(have):
        return pc.cast(column, want)
    if _is_text(have):  # JSON text: Snowflake's semi-structured types, BigQuery's JSON
        return _as_array(column, [_parsed(v, ftype) for v in column.to_pylist()], want)
    if ftype.kind == "map" and pa.types.is_struct(have):  # a JSON object read as a row
        return _as_array(column, [_parsed(v, ftype) for v in column.to_pylist()], want)
    try:
        return pc.cast(column, want)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return _as_array(column, [_parsed(v, ftype) for v in column.to_pylist()], want)


def _is_text(dtype: pa.DataType) -> bool:
    return (
        pa.types.is_string(dtype)
        or pa.types.is_large_string(dtype)
        or pa.types.is_binary(dtype)
        or pa.types.is_large_binary(dtype)
    )


def _python(column: Any) -> list[Any]:
    """A column's values as Python values, maps as dicts (Arrow gives pairs)."""
    values = column.to_pylist()
    if pa.types.is_map(column.type):
        return [None if v is None else dict(v) for v in values]
    return values


def _parsed(value: Any, ftype: FeatureType) -> Any:
    """One value as Arrow builds an array of `ftype` from: a list, or a map's pairs."""
    if value is None:
        return None
    if isinstance(value, str | bytes):
        try:
            value = json.loads(value)
        except ValueError:
            raise ValueError(f"{str(value)[:40]!r} is not JSON, nor an {ftype.value}") from None
    if ftype.kind == "map":
        if isinstance(value, list):  # Arrow's own pairs
            value = dict(value)
        if not isinstance(value, dict):
            raise ValueError(f"{json.dumps(value)[:40]} is not a {ftype.value} (an object)")
        return list(value.items())
    if not isinstance(value, list):
        raise ValueError(f"{json.dumps(value)[:40]} is not an {ftype.value} (a list)")
    return value


def _as_array(column: Any, values: list[Any], want: pa.DataType) -> Any:
    try:
        built = pa.array(values, type=want)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError) as err:
        raise ValueError(f"values cannot be read as {want}: {err}") from None
    if isinstance(column, pa.ChunkedArray):
        return pa.chunked_array([built], type=want)
    return built


def python_value(value: Any, ftype: FeatureType) -> Any:
    """A composite value as users get it from an online read: a list, a dict for a map,
    JSON text for json (as training sets hold it)."""
    if value is None:
        return None
    if ftype.kind == "map" and isinstance(value, list):
        return dict(value)
    return value
