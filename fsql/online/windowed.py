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
import itertools
import json
import math
import statistics
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from fsql.definitions.aggregations import Aggregation
from fsql.definitions.models import FeatureView
from fsql.definitions.types import FeatureType
from fsql.online.base import CREATED_TS, EVENT_TS, VERSION
from fsql.online.times import datetime_to_us, to_micros, us_to_datetime

if TYPE_CHECKING:  # storing imports it; reading (`evaluate`) works on Python values
    import pyarrow as pa

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


def _json_ready(dtype: pa.DataType) -> bool:
    """Columns whose Python values JSON holds as they are."""
    import pyarrow as pa

    return (
        pa.types.is_integer(dtype)
        or pa.types.is_floating(dtype)
        or pa.types.is_boolean(dtype)
        or pa.types.is_string(dtype)
        or pa.types.is_large_string(dtype)
        or pa.types.is_null(dtype)
    )


def encode(rows: Sequence[Sequence[Any]]) -> bytes:
    """`[event_us, created_us | None, version, value...]` rows (values already plain) as
    compact JSON."""
    return json.dumps(rows, separators=(",", ":")).encode()


def decode(blob: bytes | None) -> list[list[Any]]:
    if not blob:
        return []
    rows: list[list[Any]] = json.loads(blob)
    if b"{" not in blob:  # plain numbers, text and NULLs: nothing tagged to convert
        return rows
    return [[*row[:3], *map(_value, row[3:])] for row in rows]


def _version(blob: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(blob, digest_size=8).digest(), "big", signed=True)


def store_batches(
    batches: Iterable[pa.RecordBatch], view: FeatureView, as_of_us: int
) -> Iterator[tuple[pa.RecordBatch, int | None]]:
    """Store batches (keys, `__event_ts` = as-of, `__created_ts` NULL, `__fsql_rows`,
    `__version`) from window-row batches sorted by key; each with the newest event time
    among its rows. A key's rows may span input batches: it is written once complete."""
    import pyarrow as pa

    from fsql.arrow_buffers import inferred_array, python_array

    keys = list(view.join_keys)
    columns = [EVENT_TS, CREATED_TS, VERSION, *view.row_columns]
    pending_key: tuple[Any, ...] | None = None
    pending: list[Sequence[Any]] = []
    out_keys: list[tuple[Any, ...]] = []
    out_rows: list[list[Sequence[Any]]] = []

    def flush() -> Iterator[tuple[pa.RecordBatch, int | None]]:
        if not out_keys:
            return
        blobs = [encode(rows) for rows in out_rows]
        newest = max(row[0] for rows in out_rows for row in rows)
        arrays = [inferred_array([key[i] for key in out_keys]) for i in range(len(keys))]
        arrays += [
            python_array([as_of_us] * len(blobs), pa.int64()),
            pa.nulls(len(blobs), pa.int64()),
            python_array(blobs, pa.binary()),
            python_array([_version(b) for b in blobs], pa.int64()),
        ]
        names = [*keys, EVENT_TS, CREATED_TS, ROWS_COLUMN, VERSION]
        out_keys.clear()
        out_rows.clear()
        yield pa.RecordBatch.from_arrays(arrays, names=names), newest

    for batch in batches:
        found = {name.casefold(): batch.column(i) for i, name in enumerate(batch.schema.names)}
        # Engines may return names in another case (Snowflake folds unquoted names).
        named = {name: found[name.casefold()] for name in (*keys, *columns)}
        # Times as microseconds and rows as tuples, converted by Arrow column by column;
        # only values JSON cannot hold as they are go through `_plain`.
        times = [to_micros(pa.chunked_array([named[c]])).to_pylist() for c in columns[:2]]
        values = [
            col if _json_ready(named[name].type) else [_plain(v) for v in col]
            for name in columns[2:]
            for col in [named[name].to_pylist()]
        ]
        rows = list(zip(*times, *values, strict=True))
        batch_keys = list(zip(*(named[k].to_pylist() for k in keys), strict=True))
        start = 0
        for key, group in itertools.groupby(range(batch.num_rows), key=batch_keys.__getitem__):
            size = sum(1 for _ in group)
            if key != pending_key and pending:
                out_keys.append(pending_key)  # type: ignore[arg-type]
                out_rows.append(pending)
                pending = []
            pending_key = key
            pending.extend(rows[start : start + size])
            start += size
        yield from flush()
    if pending:
        out_keys.append(pending_key)  # type: ignore[arg-type]
        out_rows.append(pending)
    yield from flush()


# -- reading -------------------------------------------------------------------------------------


def _order(row: Sequence[Any]) -> tuple[Any, ...]:
    """Latest first by (event, created with NULL lowest, version)."""
    return (row[0], row[1] is not None, row[1] or 0, row[2])


_CASTS: dict[FeatureType, Callable[[Any], Any]] = {
    FeatureType.INT32: int,
    FeatureType.INT64: int,
    FeatureType.FLOAT32: float,
    FeatureType.FLOAT64: float,
}


def _aggregate(function: str, rows: list[list[Any]], values: list[Any], column: int | None) -> Any:
    """One function over a window's `rows`; `values` are its column's non-NULL values."""
    if function == "count":
        return len(values) if column is not None else len(rows)
    if function == "last":
        return max(rows, key=_order)[column] if rows and column is not None else None
    if function == "count_distinct":
        return len(set(values))
    if not values:
        return None
    if function == "sum":
        return math.fsum(values) if any(isinstance(v, float) for v in values) else sum(values)
    if function == "avg":
        return math.fsum(values) / len(values)
    if function == "min":
        return min(values)
    if function == "max":
        return max(values)
    if function == "stddev":
        return statistics.stdev(values) if len(values) > 1 else None
    raise ValueError(f"unknown function {function}")


@dataclass(frozen=True)
class _Reader:
    """What reading some features of a view needs, worked out once per view and list."""

    step: int | None  # the aggregation interval in microseconds
    visible: bool  # visible_at: created_timestamp
    windows: tuple[int, ...]  # the distinct windows, in microseconds
    # (index into `windows`, function, value position or None, cast or None) per feature
    features: tuple[tuple[int, Aggregation, int | None, Callable[[Any], Any] | None], ...]


_READERS: dict[tuple[str, str, tuple[str, ...]], _Reader] = {}


def _reader(view: FeatureView, wanted: tuple[str, ...]) -> _Reader:
    key = (view.name, view.content_hash, wanted)
    found = _READERS.get(key)
    if found is not None:
        return found
    positions = {name: 3 + i for i, name in enumerate(view.row_columns)}
    by_name = {agg.name: agg for agg in view.aggregations}
    windows: list[int] = []
    features = []
    for name in wanted:
        agg = by_name[name]
        if agg.window_micros not in windows:
            windows.append(agg.window_micros)
        position = positions[agg.column] if agg.column else None
        features.append((windows.index(agg.window_micros), agg, position, _CASTS.get(agg.type)))
    step = view.aggregation_interval
    reader = _Reader(
        step=int(step.total_seconds()) * 1_000_000 if step is not None else None,
        visible=view.visible_at == "created_timestamp",
        windows=tuple(windows),
        features=tuple(features),
    )
    if len(_READERS) > 4096:  # projects do not have that many; a long-lived server might
        _READERS.clear()
    _READERS[key] = reader
    return reader


def evaluate(
    view: FeatureView, wanted: Sequence[str], blob: bytes | None, now_us: int
) -> list[Any]:
    """The features `wanted` of one key at time `now_us`, from its stored rows."""
    reader = _reader(view, tuple(wanted))
    at = now_us
    if reader.step is not None:
        at -= at % reader.step  # Python's % floors: rounds down before 1970 too
    rows = decode(blob)
    if reader.visible:
        rows = [row for row in rows if row[1] is None or row[1] <= at]
    inside = [[row for row in rows if at - micros < row[0] <= at] for micros in reader.windows]
    columns: dict[tuple[int, int | None], list[Any]] = {}  # non-NULL values, found once
    out = []
    for window, agg, position, cast in reader.features:
        values = columns.get((window, position))
        if values is None:
            values = columns[(window, position)] = (
                [v for row in inside[window] if (v := row[position]) is not None]
                if position is not None
                else []
            )
        value = _aggregate(agg.function, inside[window], values, position)
        out.append(cast(value) if cast is not None and value is not None else value)
    return out
