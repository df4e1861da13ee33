"""A brute-force windowed aggregation: the reference fsql's window plans are checked against.

It follows SPEC §2 ("Windowed aggregations") literally and is quadratic on purpose: for an
entity row with keys `k` at time `t` (first rounded down to a multiple of the interval since
the Unix epoch, when there is one) and window `w`, it looks at every row of the view with keys
`k` and `t - w < event_ts <= t`:

- `count` counts rows (without a column) or non-NULL values; `count_distinct` distinct
  non-NULL values; both are 0 for an empty window;
- `sum`, `avg`, `min`, `max` ignore NULLs and are NULL with no value; `stddev` is the sample
  standard deviation, NULL below two values;
- `last` is the value of the row with the greatest (event_ts, created_ts), a NULL created time
  lowest, even when that value is NULL;
- an entity row with a NULL key (or time) gets NULL for every feature, counts included;
- with `visible_at_created`, a row counts only once created (`created_ts <= t`, the rounded
  `t`); a row without a created time counts from its event time.

Rows never share (keys, event_ts, created_ts) here: the property test draws none, so versions
need no tie-break.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.support.oracle import is_null, to_utc

Row = dict[str, Any]
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class WindowAgg:
    """One feature: `function` of `column` (None: rows) over `window`, named `name`."""

    name: str
    function: str
    column: str | None
    window: timedelta


def _aggregate(agg: WindowAgg, rows: Sequence[Row], created_col: str | None, ts_col: str) -> Any:
    if agg.function == "last":
        if not rows:
            return None

        def order(row: Row) -> tuple[Any, ...]:
            created = to_utc(row.get(created_col)) if created_col else None
            return (to_utc(row[ts_col]), created is not None, created or EPOCH)

        return max(rows, key=order)[str(agg.column)]
    if agg.function == "count" and agg.column is None:
        return len(rows)
    values = [row[str(agg.column)] for row in rows if not is_null(row[str(agg.column)])]
    if agg.function == "count":
        return len(values)
    if agg.function == "count_distinct":
        return len(set(values))
    if not values:
        return None
    if agg.function == "sum":
        return sum(values)
    if agg.function == "avg":
        return sum(values) / len(values)
    if agg.function == "min":
        return min(values)
    if agg.function == "max":
        return max(values)
    if agg.function == "stddev":
        return statistics.stdev(values) if len(values) > 1 else None
    raise ValueError(f"unknown function {agg.function}")


def _arrived_after(row: Row, created_col: str | None, at: datetime) -> bool:
    """The row was created after `at` (a row without a created time never was)."""
    created = to_utc(row.get(created_col)) if created_col else None
    return created is not None and created > at


def window_oracle(
    ents: Sequence[Row],
    rows: Sequence[Row],
    join_keys: Sequence[str],
    aggs: Sequence[WindowAgg],
    *,
    interval: timedelta | None = None,
    created_col: str | None = None,
    ts_col: str = "event_timestamp",
    entity_ts: str = "event_timestamp",
    visible_at_created: bool = False,
) -> list[Row]:
    """Each entity row with one column per aggregation appended, in order."""
    out = []
    for ent in ents:
        key = tuple(ent[k] for k in join_keys)
        at = to_utc(ent[entity_ts])
        result = dict(ent)
        if at is None or any(is_null(part) for part in key):
            result.update({agg.name: None for agg in aggs})
            out.append(result)
            continue
        if interval is not None:
            at = EPOCH + ((at - EPOCH) // interval) * interval
        mine = [r for r in rows if tuple(r[k] for k in join_keys) == key]
        for agg in aggs:
            low = at - agg.window
            inside = [
                r
                for r in mine
                if low < to_utc(r[ts_col]) <= at  # type: ignore[operator]
                and not (visible_at_created and _arrived_after(r, created_col, at))
            ]
            result[agg.name] = _aggregate(agg, inside, created_col, ts_col)
        out.append(result)
    return out
