"""Value conversions of the SQLite online store, between Arrow, Python and storage.

Owns how values are stored in `fsql.online.sqlite`: timestamps as int64
microseconds since the epoch (UTC), dates as days since the epoch, bools as 0/1.
Writing turns Arrow columns into SQLite-ready Python lists (`to_micros`,
`feature_values`); reading turns stored values back (`DECODERS`, `us_to_datetime`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from fsql.definitions.types import FeatureType

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_ONE_US = timedelta(microseconds=1)


# --- timestamps and dates ---------------------------------------------------------------


def us_to_datetime(us: int) -> datetime:
    return _EPOCH + timedelta(0, 0, us)  # positional: 40% faster than keywords


def days_to_date(days: int) -> date:
    return date.fromordinal(_EPOCH_ORDINAL + days)


def datetime_to_us(value: datetime | None) -> int | None:
    if value is None:
        return None
    if value.tzinfo is None:  # naive timestamps are UTC throughout fsql
        value = value.replace(tzinfo=UTC)
    return (value - _EPOCH) // _ONE_US


# Feature types whose stored value is not already the Python value.
DECODERS: dict[FeatureType, Callable[[Any], Any]] = {
    FeatureType.BOOL: bool,
    FeatureType.TIMESTAMP: us_to_datetime,
    FeatureType.DATE: days_to_date,
}


# --- Arrow -> Python columns ----------------------------------------------------------


def plain(col: pa.ChunkedArray) -> pa.ChunkedArray:
    """A dictionary-encoded column decoded to its value type; others as they are."""
    if pa.types.is_dictionary(col.type):
        return col.cast(col.type.value_type)
    return col


def to_micros(col: pa.ChunkedArray) -> pa.ChunkedArray:
    """Timestamp (any unit or zone) -> int64 microseconds UTC; integers pass as they are."""
    col = plain(col)
    if pa.types.is_timestamp(col.type):
        col = pc.cast(col, pa.timestamp("us", tz=col.type.tz), safe=False)
        return col.cast(pa.int64())
    if pa.types.is_date(col.type):
        return pc.cast(col.cast(pa.timestamp("us")), pa.int64())
    return col


def feature_values(col: pa.ChunkedArray) -> list[Any]:
    """One feature column as SQLite-ready Python values (timestamps as micros, dates as days)."""
    col = plain(col)
    if pa.types.is_timestamp(col.type):
        return to_micros(col).to_pylist()
    if pa.types.is_date(col.type):
        return col.cast(pa.date32()).cast(pa.int32()).to_pylist()
    # bools bind as 0/1: Python's bool is an int to sqlite3.
    return col.to_pylist()


def as_table(batch: pa.RecordBatch | pa.Table) -> pa.Table:
    if isinstance(batch, pa.RecordBatch):
        return pa.Table.from_batches([batch])
    return batch
