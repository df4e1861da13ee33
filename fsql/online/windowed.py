"""Windowed aggregations online: each key's rows kept in the store, aggregated at read time.

An online read at time t equals the training-set value at t (SPEC §2), window edges
included, only if the read sees the rows themselves. So for a view with `aggregations:`
the store holds one value per key, `__fsql_rows`: that key's rows with `event_ts` after
the run's END minus the longest window (fsql.compile.window_rows), as compact JSON
(`[event_us, created_us, version, value...]` per row). A read decodes them and computes
each feature at its time t (rounded down to the view's interval) by the same rules as
the training-set SQL (fsql.compile.windows): `t - w < event_ts <= t`, NULLs ignored but
by `last` and a count of rows, sample stddev, `last` by (event, created, version), with
`visible_at: created_timestamp` only rows created by t, and the declared type.

The stored value's `__event_ts` is the run's END (its as-of time): a later run replaces
it, a backfill to an older END never does. Memory per key is the rows of the longest
window: bounded by the window, measured in bench/RESULTS.md.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import statistics
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pyarrow as pa

from fsql.definitions.aggregations import Aggregation
from fsql.definitions.models import FeatureView
from fsql.definitions.types import FeatureType
from fsql.online.base import CREATED_TS, EVENT_TS, VERSION
from fsql.online.times import datetime_to_us, us_to_datetime

ROWS_COLUMN = "__fsql_rows"


# -- the stored value ----------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """A value as JSON holds it: numbers, text, booleans and NULL as they are; others tagged."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, datetime):
        return {"t": datetime_to_us(value)}
    if isinstance(value, date):
        return {"d": value.isoformat()}
    if isinstance(value, (bytes, bytearray)):
        return {"b": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"a value of type {type(value).__name__} cannot be kept for aggregation")


def _value(stored: Any) -> Any:
    if not isinstance(stored, dict):
        return stored
    if "t" in stored:
        return us_to_datetime(stored["t"])
    if "d" in stored:
        return date.fromisoformat(stored["d"])
    return base64.b64decode(stored["b"])


def encode(rows: Sequence[Sequence[Any]]) -> bytes:
    """`[event_us, created_us | None, version, value...]` rows as compact JSON."""
    plain = [[*row[:3], *map(_plain, row[3:])] for row in rows]
    return json.dumps(plain, separators=(",", ":")).encode()


def decode(blob: bytes | None) -> list[list[Any]]:
    if not blob:
        return []
    return [[*row[:3], *map(_value, row[3:])] for row in json.loads(blob)]


def _version(blob: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(blob, digest_size=8).digest(), "big", signed=True)


def store_batches(
    batches: Iterable[pa.RecordBatch], view: FeatureView, as_of_us: int
) -> Iterator[tuple[pa.RecordBatch, int | None]]:
    """Store batches (keys, `__event_ts` = as-of, `__created_ts` NULL, `__fsql_rows`,
    `__version`) from window-row batches sorted by key; each with the newest event time
    among its rows. A key's rows may span input batches: it is written once complete."""
    keys = list(view.join_keys)
    columns = [EVENT_TS, CREATED_TS, VERSION, *view.row_columns]
    pending_key: tuple[Any, ...] | None = None
    pending: list[list[Any]] = []
    out_keys: list[tuple[Any, ...]] = []
    out_rows: list[list[list[Any]]] = []

    def flush() -> Iterator[tuple[pa.RecordBatch, int | None]]:
        if not out_keys:
            return
        blobs = [encode(rows) for rows in out_rows]
        newest = max(row[0] for rows in out_rows for row in rows)
        arrays: list[pa.Array] = [
            pa.array([key[i] for key in out_keys]) for i in range(len(keys))
        ]
        arrays += [
            pa.array([as_of_us] * len(blobs), pa.int64()),
            pa.nulls(len(blobs), pa.int64()),
            pa.array(blobs, pa.binary()),
            pa.array([_version(b) for b in blobs], pa.int64()),
        ]
        names = [*keys, EVENT_TS, CREATED_TS, ROWS_COLUMN, VERSION]
        out_keys.clear()
        out_rows.clear()
        yield pa.RecordBatch.from_arrays(arrays, names=names), newest

    for batch in batches:
        data = batch.to_pydict()
        lower = {name.casefold(): name for name in data}
        key_cols = [data[lower[k.casefold()]] for k in keys]
        value_cols = [data[lower[c.casefold()]] for c in columns]
        for i in range(batch.num_rows):
            key = tuple(col[i] for col in key_cols)
            event, created, version, *values = (col[i] for col in value_cols)
            row = [datetime_to_us(event), datetime_to_us(created), version, *values]
            if key != pending_key and pending:
                out_keys.append(pending_key)  # type: ignore[arg-type]
                out_rows.append(pending)
                pending = []
            pending_key = key
            pending.append(row)
        yield from flush()
    if pending:
        out_keys.append(pending_key)  # type: ignore[arg-type]
        out_rows.append(pending)
    yield from flush()


# -- reading -------------------------------------------------------------------------------------


def _order(row: Sequence[Any]) -> tuple[Any, ...]:
    """Latest first by (event, created with NULL lowest, version)."""
    return (row[0], row[1] is not None, row[1] or 0, row[2])


def _numbers(values: list[Any]) -> list[Any]:
    return [v for v in values if v is not None]


_CASTS: dict[FeatureType, Callable[[Any], Any]] = {
    FeatureType.INT32: int,
    FeatureType.INT64: int,
    FeatureType.FLOAT32: float,
    FeatureType.FLOAT64: float,
}


def _aggregate(agg: Aggregation, rows: list[list[Any]], column: int | None) -> Any:
    if agg.function == "last":
        return max(rows, key=_order)[column] if rows and column is not None else None
    if agg.function == "count" and column is None:
        return len(rows)
    values = _numbers([row[column] for row in rows]) if column is not None else []
    if agg.function == "count":
        return len(values)
    if agg.function == "count_distinct":
        return len(set(values))
    if not values:
        return None
    if agg.function == "sum":
        return math.fsum(values) if any(isinstance(v, float) for v in values) else sum(values)
    if agg.function == "avg":
        return math.fsum(values) / len(values)
    if agg.function == "min":
        return min(values)
    if agg.function == "max":
        return max(values)
    if agg.function == "stddev":
        return statistics.stdev(values) if len(values) > 1 else None
    raise ValueError(f"unknown function {agg.function}")


def evaluate(
    view: FeatureView, wanted: Sequence[str], blob: bytes | None, now_us: int
) -> list[Any]:
    """The features `wanted` of one key at time `now_us`, from its stored rows."""
    at = now_us
    if view.aggregation_interval is not None:
        step = int(view.aggregation_interval.total_seconds()) * 1_000_000
        at -= at % step  # Python's % floors: rounds down before 1970 too
    rows = decode(blob)
    if view.visible_at == "created_timestamp":
        rows = [row for row in rows if row[1] is None or row[1] <= at]
    positions = {name: 3 + i for i, name in enumerate(view.row_columns)}
    by_name = {agg.name: agg for agg in view.aggregations}
    out = []
    for name in wanted:
        agg = by_name[name]
        low = at - agg.window_micros
        inside = [row for row in rows if low < row[0] <= at]
        value = _aggregate(agg, inside, positions.get(agg.column) if agg.column else None)
        cast = _CASTS.get(agg.type)
        out.append(cast(value) if cast is not None and value is not None else value)
    return out
