"""Windowed aggregations: one feature per function and window over a view's event rows.

A view with `aggregations:` keeps its model's event rows in its table; its features are
computed from them for each entity row at time `t` over `t - w < event_ts <= t` (SPEC §2,
"Windowed aggregations"). This module holds the declaration; fsql.compile.windows
writes the SQL.

Feature types are fixed by the function where it can be: `count` and `count_distinct`
are int64, `avg` and `stddev` float64. `sum`, `min`, `max` and `last` take the type of
their column, which the model does not declare: they are float64 unless the entry says
`type:` (e.g. `type: int64` for a sum of integers, `type: string` for the last status).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from fsql.definitions.durations import format_duration
from fsql.definitions.types import FeatureType

FUNCTIONS = ("count", "sum", "avg", "min", "max", "stddev", "last", "count_distinct")
# Functions whose result type does not depend on the column.
FIXED_TYPES = {
    "count": FeatureType.INT64,
    "count_distinct": FeatureType.INT64,
    "avg": FeatureType.FLOAT64,
    "stddev": FeatureType.FLOAT64,
}
NUMERIC = frozenset(
    {FeatureType.INT32, FeatureType.INT64, FeatureType.FLOAT32, FeatureType.FLOAT64}
)


@dataclass(frozen=True)
class Aggregation:
    """One feature: `function` of `column` (None: `count` of rows) over `window`."""

    name: str
    function: str
    column: str | None
    window: timedelta
    type: FeatureType

    @property
    def window_micros(self) -> int:
        return int(self.window.total_seconds()) * 1_000_000

    def describe(self) -> str:
        """`sum(amount) over 1d`, `count(*) over 5m`: what the feature computes."""
        return f"{self.function}({self.column or '*'}) over {format_duration(self.window)}"

    def metadata(self) -> dict[str, object]:
        return {
            "name": self.name,
            "function": self.function,
            "column": self.column,
            "window": format_duration(self.window),
            "type": self.type.value,
        }


def default_name(function: str, column: str | None, window_text: str) -> str:
    """`<column>_<function>_<window>`, or `count_<window>` for a count of rows."""
    if column is None:
        return f"{function}_{window_text}"
    return f"{column}_{function}_{window_text}"
