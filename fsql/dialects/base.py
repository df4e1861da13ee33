"""What the compiler needs to know about an engine, declared as data.

A dialect names its sqlglot dialect, how it runs point-in-time joins (`asof`: a
native ASOF LEFT JOIN; `window`: the portable sort-and-fill plan) and how feature
types are spelled. Anything more belongs in a rewrite hook, not in the compiler.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlglot import exp

from fsql.definitions.types import FeatureType


@dataclass(frozen=True)
class EngineDialect:
    name: str
    sqlglot_dialect: str
    pit_strategy: str
    type_map: Mapping[FeatureType, str] = field(default_factory=dict)
    timestamp_type: str = "TIMESTAMPTZ"
    # The engine's ASOF inequality accepts a STRUCT, compared field by field: then the
    # (event_ts, created_ts) tie-break happens inside the join, with no window pass.
    asof_struct_order: bool = False

    def data_type(self, ftype: FeatureType) -> exp.DataType:
        return _build_type(self.type_map[ftype], self.sqlglot_dialect).copy()

    def timestamp(self) -> exp.DataType:
        return _build_type(self.timestamp_type, self.sqlglot_dialect).copy()

    def sql(self, expression: exp.Expression, pretty: bool = False) -> str:
        return expression.sql(dialect=self.sqlglot_dialect, pretty=pretty)


@functools.cache
def _build_type(name: str, dialect: str) -> exp.DataType:
    """Type names are parsed once; callers get copies, since trees own their nodes."""
    return exp.DataType.build(name, dialect=dialect)


def get_dialect(name: str) -> EngineDialect:
    """The dialect for an offline engine type (as written in profiles.yml)."""
    if name == "duckdb":
        from fsql.dialects.duckdb import DUCKDB

        return DUCKDB
    raise ValueError(f"no dialect for engine '{name}'")
