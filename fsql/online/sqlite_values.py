"""Value conversions of the SQLite online store, between Arrow, Python and storage.

Owns how values are stored in `fsql.online.sqlite`: timestamps as int64
microseconds since the epoch (UTC), dates as days since the epoch, bools as 0/1.
Writing turns Arrow columns into SQLite-ready Python lists (`to_micros`,
`feature_values`); reading turns stored values back (`DECODERS`, `us_to_datetime`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pyarrow as pa

from fsql.definitions.types import FeatureType
from fsql.online.times import days_to_date, plain, to_micros, us_to_datetime

# --- timestamps and dates ---------------------------------------------------------------


# Feature types whose stored value is not already the Python value.
DECODERS: dict[FeatureType, Callable[[Any], Any]] = {
    FeatureType.BOOL: bool,
    FeatureType.TIMESTAMP: us_to_datetime,
    FeatureType.DATE: days_to_date,
}


# --- Arrow -> Python columns ----------------------------------------------------------


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
