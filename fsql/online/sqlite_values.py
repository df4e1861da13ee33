"""Value conversions of the SQLite online store, between Python and storage.

Owns how values are stored in `fsql.online.sqlite`: timestamps as int64
microseconds since the epoch (UTC), dates as days since the epoch, bools as 0/1,
arrays and maps as JSON text (NaN written as JSON's `NaN`, which Python reads back).
Reading turns stored values back (`DECODERS`, `us_to_datetime`) and read keys into
stored ones (`key_value`); writing Arrow batches is fsql.online.sqlite_rows', so that a
read imports no Arrow.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from fsql.definitions.types import FeatureType
from fsql.online.times import days_to_date, us_to_datetime

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


# A null created_ts is stored as the smallest int64 so that it sorts before any
# real value in the row-value comparison (SQL NULL would make the guard NULL).
NULL_CREATED_TS = -(2**63)

FLOAT_TYPES = frozenset({FeatureType.FLOAT32, FeatureType.FLOAT64})
NAN = float("nan")
# SQLite stores a float NaN as NULL; fsql stores it as this text (a REAL column keeps
# text that is not a number as text) and reads it back as NaN, as Redis does.
NAN_TEXT = "NaN"

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
