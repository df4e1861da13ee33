"""Value conversions of the SQLite online store, between Arrow, Python and storage.

Owns how values are stored in `fsql.online.sqlite`: timestamps as int64
microseconds since the epoch (UTC), dates as days since the epoch, bools as 0/1,
arrays and maps as JSON text (NaN written as JSON's `NaN`, which Python reads back).
Writing turns Arrow columns into SQLite-ready Python lists (`to_micros`,
`feature_values`); reading turns stored values back (`DECODERS`, `us_to_datetime`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from fsql.definitions.types import FeatureType
from fsql.online.times import days_to_date, plain, to_micros, us_to_datetime

# --- timestamps and dates ---------------------------------------------------------------


# Feature types whose stored value is not already the Python value.
DECODERS: dict[FeatureType, Callable[[Any], Any]] = {
    FeatureType.BOOL: bool,
    FeatureType.TIMESTAMP: us_to_datetime,
    FeatureType.DATE: days_to_date,
}


def decoder(ftype: FeatureType) -> Callable[[Any], Any] | None:
    """How a stored value of `ftype` is read back: arrays and maps are stored as JSON
    text (a map as an object), read back as a list or a dict; None: as stored."""
    if ftype.kind in ("array", "map"):
        return json.loads
    return DECODERS.get(ftype)


FLOAT_TYPES = frozenset({FeatureType.FLOAT32, FeatureType.FLOAT64})
NAN = float("nan")
# SQLite stores a float NaN as NULL; fsql stores it as this text (a REAL column keeps
# text that is not a number as text) and reads it back as NaN, as Redis does.
NAN_TEXT = "NaN"

# --- Arrow -> Python columns ----------------------------------------------------------


def feature_values(col: pa.ChunkedArray) -> list[Any]:
    """One feature column as SQLite-ready Python values (timestamps as micros, dates as days)."""
    col = plain(col)
    if pa.types.is_list(col.type) or pa.types.is_large_list(col.type):
        return [None if v is None else json.dumps(v) for v in col.to_pylist()]
    if pa.types.is_map(col.type):
        return [None if v is None else json.dumps(dict(v)) for v in col.to_pylist()]
    if pa.types.is_timestamp(col.type):
        return to_micros(col).to_pylist()
    if pa.types.is_date(col.type):
        return col.cast(pa.date32()).cast(pa.int32()).to_pylist()
    values = col.to_pylist()
    if pa.types.is_floating(col.type) and pc.any(pc.is_nan(col)).as_py():
        values = [NAN_TEXT if v is not None and v != v else v for v in values]
    # bools bind as 0/1: Python's bool is an int to sqlite3.
    return values


def as_table(batch: pa.RecordBatch | pa.Table) -> pa.Table:
    if isinstance(batch, pa.RecordBatch):
        return pa.Table.from_batches([batch])
    return batch


def key_column(col: pa.ChunkedArray) -> pa.ChunkedArray:
    """A join-key column as stored: timestamps as UTC instants (naive ones are UTC, as
    everywhere in fsql), so a key written naive and read aware (or the reverse) is one
    key; dictionaries decoded."""
    col = plain(col)
    if pa.types.is_timestamp(col.type) and col.type.tz != "UTC":
        return pc.cast(col, pa.timestamp(col.type.unit, tz="UTC"))
    return col


def key_value(key: tuple[Any, ...]) -> tuple[Any, ...] | None:
    """A read key as stored (see key_column) and as SQLite returns it: datetimes as the
    text of their UTC instant and dates as ISO text (what sqlite3 binds them as), numpy
    and other scalars as the Python values they hold; None for a value no key can be."""
    out = []
    for value in key:
        if hasattr(value, "item") and not isinstance(value, (bytes, str, date)):
            value = value.item()
        if isinstance(value, datetime):
            value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
            value = value.isoformat(" ")
        elif isinstance(value, date):
            value = value.isoformat()
        elif not isinstance(value, (int, str, float, bytes)) and value is not None:
            return None
        out.append(value)
    return tuple(out)
