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


FLOAT_TYPES = frozenset({FeatureType.FLOAT32, FeatureType.FLOAT64})
NAN = float("nan")
# SQLite stores a float NaN as NULL; fsql stores it as this text (a REAL column keeps
# text that is not a number as text) and reads it back as NaN, as Redis does.
NAN_TEXT = "NaN"

# --- Arrow -> Python columns ----------------------------------------------------------


def feature_values(col: pa.ChunkedArray) -> list[Any]:
    """One feature column as SQLite-ready Python values (timestamps as micros, dates as days)."""
    col = plain(col)
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
