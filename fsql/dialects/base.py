"""What the compiler needs to know about an engine, declared as data.

A dialect names its sqlglot dialect, how it runs point-in-time joins (`asof`: the
engine's native ASOF join; `window`: the portable sort-and-fill plan) and how feature
types are spelled. Anything more belongs in a rewrite hook, not in the compiler.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlglot import exp

from fsql import plugins
from fsql.definitions.types import FeatureType
from fsql.dialects.statement import Statement, prepare

Rewrite = Callable[[exp.Expression], exp.Expression]
# Values -> one signed 64-bit integer, the same for the same values every time.
VersionHash = Callable[[Sequence[exp.Expression]], exp.Expression]


def _shifted_hash(values: Sequence[exp.Expression]) -> exp.Expression:
    """`HASH(v1, ...) >> 1`: engines whose HASH takes any number of values of any type,
    NULLs included (Snowflake). Shifted one bit so that a hash computed as unsigned (as
    Snowflake stand-ins do) still fits a signed 64-bit integer."""
    return exp.BitwiseRightShift(
        this=exp.Anonymous(this="HASH", expressions=list(values)),
        expression=exp.Literal.number(1),
    )


def _unix_micros(value: exp.Expr) -> exp.Expr:
    """`UNIX_MICROS(ts)` (DuckDB writes `EPOCH_US(ts)`)."""
    return exp.UnixMicros(this=value)


def _unqualified(config: Mapping[str, Any]) -> dict[str, str]:
    return {}


def _always(config: Mapping[str, Any]) -> bool:
    return True


@dataclass(frozen=True)
class EngineDialect:
    name: str
    sqlglot_dialect: str
    pit_strategy: str
    type_map: Mapping[FeatureType, str] = field(default_factory=dict)
    timestamp_type: str = "TIMESTAMPTZ"
    # Composite types: `{}` is the element's (or map value's) type name. Snowflake's
    # semi-structured types take none (`ARRAY`, `OBJECT`); BigQuery has no map type and
    # keeps maps as JSON objects. fsql reads each back as its Arrow type (`conform`).
    array_type: str = "{}[]"
    map_type: str = "MAP(VARCHAR, {})"
    json_type: str = "JSON"
    # The engine's ASOF inequality accepts a STRUCT, compared field by field: then the
    # (event_ts, created_ts) tie-break happens inside the join, with no window pass.
    asof_struct_order: bool = False
    # Snowflake's spelling: `ASOF JOIN ... MATCH_CONDITION (e.ts >= f.ts) ON keys`, left
    # outer without LEFT; otherwise DuckDB's `ASOF LEFT JOIN ... ON keys AND e.ts >= f.ts`.
    asof_match_condition: bool = False
    # Point-in-time plans this engine can run; the first is the default.
    pit_strategies: tuple[str, ...] = ("asof",)
    # Applied to every finished tree, in order (e.g. identifier rules of the engine).
    rewrites: tuple[Rewrite, ...] = ()
    # Checks of fsql.compile.lint run on every compiled tree (e.g. "asof_join"): SQL
    # sqlglot writes for this engine without complaint that the engine would reject.
    lint_rules: tuple[str, ...] = ()
    # The version hash of a feature row (SPEC §2: rows with equal keys, event and created
    # time are versions of one row, and the one with the greatest hash of its feature
    # values wins, in training sets, materialization, pushes and online writes alike).
    version_hash: VersionHash = _shifted_hash
    # Where the engine keeps view tables, from the target's `offline:` block: the
    # catalog and schema to qualify names with (BigQuery: project and dataset), or {}
    # where unqualified names resolve in the session's schema.
    table_location: Callable[[Mapping[str, Any]], dict[str, str]] = _unqualified
    # Whether the engine reads a source's `path:` (parquet/csv files) itself.
    reads_files: bool = False
    # Whether tables outlive the process (an in-memory DuckDB does not: a push log
    # written there would vanish, served online and never trained on).
    persistent: Callable[[Mapping[str, Any]], bool] = _always
    # A timestamp as whole microseconds since the Unix epoch (windowed aggregations
    # order and frame rows by it: every engine takes numeric RANGE offsets).
    epoch_micros: Callable[[exp.Expr], exp.Expr] = _unix_micros
    # The driver binds values by number (`:1`, `:2`: Snowflake's connector), not by name.
    numbered_parameters: bool = False

    @property
    def struct_order_join(self) -> bool:
        """The point-in-time join breaks ties on created time itself (struct ASOF)."""
        return self.asof_struct_order and self.pit_strategy == "asof"

    def version(self, values: Sequence[exp.Expression]) -> exp.Expression:
        """A feature row's version hash (a BIGINT); 0 for a view without features."""
        if not values:
            return exp.cast(exp.Literal.number(0), self.data_type(FeatureType.INT64))
        return self.version_hash(values)

    def data_type(self, ftype: FeatureType) -> exp.DataType:
        return built_type(self.type_name(ftype), self.sqlglot_dialect)

    def type_name(self, ftype: FeatureType) -> str:
        """The engine's name of a feature type (`DOUBLE[]`, `ARRAY<FLOAT64>`, `VARIANT`)."""
        element = ftype.element
        if ftype.kind == "array" and element is not None:
            return self.array_type.format(self.type_map[element])
        if ftype.kind == "map" and element is not None:
            return self.map_type.format(self.type_map[element])
        if ftype.kind == "json":
            return self.json_type
        return self.type_map[ftype]

    def timestamp(self) -> exp.DataType:
        return built_type(self.timestamp_type, self.sqlglot_dialect)

    def finish(self, tree: exp.Expression) -> exp.Expression:
        """`tree` after the dialect's rewrites (in place: compiled trees are never shared)."""
        for rewrite in self.rewrites:
            tree = rewrite(tree)
        return tree

    def sql(self, expression: exp.Expression, pretty: bool = False) -> str:
        return expression.sql(dialect=self.sqlglot_dialect, pretty=pretty)

    def statement(self, expression: exp.Expr, pretty: bool = False) -> Statement:
        """`expression` ready for this engine's driver: text and the values it binds."""
        return prepare(
            expression, self.sqlglot_dialect, numbered=self.numbered_parameters, pretty=pretty
        )


def built_type(name: str, dialect: str | None = None) -> exp.DataType:
    """The type `name` of `dialect`, parsed once (a parse costs a tokenizer and a parser;
    compiling a large project asks for the same few types thousands of times); each
    caller gets its own copy, since trees own their nodes."""
    return _parsed_type(name, dialect).copy()


@functools.cache
def _parsed_type(name: str, dialect: str | None) -> exp.DataType:
    return exp.DataType.build(name, dialect=dialect)


def _base_dialect(name: str) -> EngineDialect:
    # Found by name (fsql.plugins): a process only ever loads the engines it targets.
    try:
        dialect = plugins.load(plugins.DIALECTS, name)
    except plugins.PluginNotFound:
        raise ValueError(f"no dialect for engine '{name}'") from None
    if not isinstance(dialect, EngineDialect):
        raise TypeError(f"the '{name}' dialect plug-in is not an EngineDialect")
    return dialect


def get_dialect(name: str, pit_strategy: str | None = None) -> EngineDialect:
    """The dialect for an offline engine type (as written in profiles.yml).

    `pit_strategy` picks the point-in-time plan (profiles.yml `pit_strategy`); None
    means the engine's default. A strategy the engine cannot run is a ValueError.
    """
    dialect = _base_dialect(name)
    if pit_strategy is None or pit_strategy == dialect.pit_strategy:
        return dialect
    if pit_strategy not in dialect.pit_strategies:
        allowed = ", ".join(dialect.pit_strategies)
        raise ValueError(
            f"point-in-time strategy '{pit_strategy}' is not available for {name}; "
            f"use one of: {allowed}"
        )
    return dataclasses.replace(dialect, pit_strategy=pit_strategy)
