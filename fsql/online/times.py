"""Time values as every online store keeps them: microseconds and days since the epoch,
UTC; and the Arrow column conversions into that form."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the column conversions import it; reads use the scalar ones only
    import pyarrow as pa

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_ONE_US = timedelta(microseconds=1)


def us_to_datetime(us: int) -> datetime:
    return EPOCH + timedelta(0, 0, us)  # positional: faster than keywords


def days_to_date(days: int) -> date:
    return date.fromordinal(EPOCH_ORDINAL + days)


def datetime_to_us(value: datetime | None) -> int | None:
    if value is None:
        return None
    if value.tzinfo is None:  # naive timestamps are UTC throughout fsql
        value = value.replace(tzinfo=UTC)
    return (value - EPOCH) // _ONE_US


def plain(col: pa.ChunkedArray) -> pa.ChunkedArray:
    """A dictionary-encoded column decoded to its value type; others as they are."""
    import pyarrow as pa

    if pa.types.is_dictionary(col.type):
        return col.cast(col.type.value_type)
    return col


def to_micros(col: pa.ChunkedArray) -> pa.ChunkedArray:
    """Timestamps (any unit or zone) and dates -> int64 microseconds UTC; ints as they are."""
    import pyarrow as pa
    import pyarrow.compute as pc

    col = plain(col)
    if pa.types.is_timestamp(col.type):
        return pc.cast(col, pa.timestamp("us", tz=col.type.tz), safe=False).cast(pa.int64())
    if pa.types.is_date(col.type):
        return pc.cast(col.cast(pa.timestamp("us")), pa.int64())
    return col
