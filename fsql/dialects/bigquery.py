"""BigQuery: the portable window plan, TIMESTAMP throughout, every name backticked.

- Point-in-time joins. BigQuery has no ASOF join, so `window` (the linear
  sort-and-fill plan of fsql.compile.pit) is its only strategy; ties on event time
  are reduced by created time before the join (no STRUCT ordering), and the latest
  row per key is ranked with ROW_NUMBER, not `arg_max` on a struct.
- Types. Every type is spelled in BigQuery's terms. BigQuery's TIMESTAMP is an
  absolute instant (sqlglot's TIMESTAMPTZ), its DATETIME a wall-clock time (sqlglot's
  TIMESTAMP): the names are parsed in the BigQuery dialect, so `TIMESTAMP` here is
  the instant, and no timestamp of fsql's ever becomes a DATETIME. BigQuery has one
  integer and one float width: int32 and float32 widen to INT64 and FLOAT64.
- Identifiers. Every name is backticked. Quotes change nothing in BigQuery (column
  names are case-insensitive and table names case-sensitive, quoted or not), so
  quoting all of them is one rule with no exceptions: reserved words (`rows`,
  `range`, `hash`) and dashed project ids (`my-project`) need no special case.
- Window frames. BigQuery's RANGE frames take numeric offsets only. A DuckDB model's
  `ORDER BY ts RANGE BETWEEN INTERVAL 29 DAY PRECEDING ...` is rewritten to order by
  `UNIX_MICROS(CAST(ts AS TIMESTAMP))` with the offset in microseconds, which means
  the same for units of fixed length (microsecond to week, in UTC). Months and years
  have no fixed length: such frames are left alone and fail compile in the lint.
- Null order. BigQuery sorts NULLs first ascending, and its aggregate windows
  cannot say otherwise: a window ORDER BY with another null order gets a leading
  `key IS NULL` sort key. fsql's own windows state their null order explicitly.
- QUALIFY. BigQuery has refused QUALIFY in a query without WHERE, GROUP BY or HAVING;
  such queries get `WHERE TRUE`, which changes nothing elsewhere.

`lint_rules` names the checks fsql.compile.lint runs on every compiled tree: SQL that
sqlglot writes for BigQuery without complaint but BigQuery rejects.

Statements. Below the declaration is the BigQuery syntax fsql.adapters.bigquery needs besides
compiled plans: parameter values written as typed literals into a compiled statement's tree
(for emulators that refuse parameters), table names, and the checksum query of
fingerprints. sqlglot builds all of it: this dialect has no escape hatch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlglot import exp
from sqlglot.errors import ParseError

from fsql.definitions.types import FeatureType
from fsql.dialects.base import EngineDialect, built_type
from fsql.dialects.statement import Statement
from fsql.errors import RunError


def _version_hash(values: Sequence[exp.Expression]) -> exp.Expression:
    """The first 60 bits of `MD5(TO_JSON_STRING(STRUCT(v1, ...)))` as an INT64.

    BigQuery's hash functions take one STRING or BYTES, so the values are serialized
    first (NULLs as `null`). MD5 rather than FARM_FINGERPRINT: the local emulator has
    only the former, and one rule must hold on both; 60 bits keep the hex text a
    non-negative INT64 literal (`0x` + 15 digits) that BigQuery casts exactly."""
    as_json = exp.Anonymous(
        this="TO_JSON_STRING", expressions=[exp.Struct(expressions=list(values))]
    )
    digest = exp.Anonymous(
        this="TO_HEX", expressions=[exp.Anonymous(this="MD5", expressions=[as_json])]
    )
    head = exp.Substring(this=digest, start=exp.Literal.number(1), length=exp.Literal.number(15))
    text = exp.Concat(expressions=[exp.Literal.string("0x"), head])
    return exp.cast(text, built_type("INT64", "bigquery"))


_MICROS = {
    "MICROSECOND": 1,
    "MILLISECOND": 1_000,
    "SECOND": 1_000_000,
    "MINUTE": 60_000_000,
    "HOUR": 3_600_000_000,
    "DAY": 86_400_000_000,
    "WEEK": 604_800_000_000,
}


def _interval_micros(bound: exp.Expression | str | None) -> int | None:
    """Microseconds in a fixed-length `INTERVAL n UNIT`; None for anything else."""
    if not isinstance(bound, exp.Interval) or not isinstance(bound.this, exp.Literal):
        return None
    unit = bound.text("unit").upper().removesuffix("S")
    try:
        count = int(bound.this.name)
    except ValueError:
        return None
    return count * _MICROS[unit] if unit in _MICROS else None


def range_frames_on_micros(tree: exp.Expression) -> exp.Expression:
    """`ORDER BY ts RANGE BETWEEN INTERVAL n UNIT PRECEDING` as a numeric RANGE frame."""
    for spec in list(tree.find_all(exp.WindowSpec)):
        window = spec.parent
        order = window.args.get("order") if isinstance(window, exp.Window) else None
        if spec.text("kind").upper() != "RANGE" or order is None or len(order.expressions) != 1:
            continue
        bounds = {side: spec.args.get(side) for side in ("start", "end")}
        intervals = {s: b for s, b in bounds.items() if isinstance(b, exp.Interval)}
        micros = {s: _interval_micros(b) for s, b in intervals.items()}
        if not intervals or None in micros.values():
            continue
        for side, value in micros.items():
            spec.set(side, exp.Literal.number(value))
        key = order.expressions[0]
        as_timestamp = exp.cast(key.this, BIGQUERY.timestamp(), copy=False)
        key.set("this", exp.UnixMicros(this=as_timestamp))
        # A NULL key is never within an offset of another: BigQuery's own null order will do.
        key.set("nulls_first", not key.args.get("desc"))
    return tree


def _range_offset(spec: exp.WindowSpec) -> bool:
    bounds = (spec.args.get("start"), spec.args.get("end"))
    plain = (None, "UNBOUNDED", "CURRENT ROW")
    return spec.text("kind").upper() == "RANGE" and any(
        not isinstance(b, str) or b.upper() not in plain for b in bounds if b is not None
    )


def window_null_order(tree: exp.Expression) -> exp.Expression:
    """Keep a window's null order where BigQuery cannot spell it.

    BigQuery sorts NULLs first ascending and last descending, and its aggregate
    windows take no NULLS FIRST/LAST (sqlglot drops the clause with a warning). A
    DuckDB model's `ORDER BY ts` means NULLS LAST, so a running SUM would count rows
    of NULL time first. The order is kept with a leading `ts IS NULL` key, which
    changes no peer group; a RANGE frame with an offset takes one key only and is
    left alone (NULL rows are never within an offset of a non-NULL row anyway).
    """
    for window in tree.find_all(exp.Window):
        order, spec = window.args.get("order"), window.args.get("spec")
        if order is None or (spec is not None and _range_offset(spec)):
            continue
        keys: list[exp.Expression] = []
        for key in order.expressions:
            desc, nulls_first = bool(key.args.get("desc")), bool(key.args.get("nulls_first"))
            if desc == nulls_first:  # ASC NULLS LAST or DESC NULLS FIRST
                is_null = exp.Is(this=key.this.copy(), expression=exp.null())
                keys.append(exp.Ordered(this=is_null, desc=desc, nulls_first=not desc))
                key.set("nulls_first", not desc)
            keys.append(key)
        order.set("expressions", keys)
    return tree


def qualify_with_where(tree: exp.Expression) -> exp.Expression:
    """Give `WHERE TRUE` to a QUALIFY query with no WHERE, GROUP BY or HAVING."""
    for select in tree.find_all(exp.Select):
        if select.args.get("qualify") and not any(
            select.args.get(a) for a in ("where", "group", "having")
        ):
            select.set("where", exp.Where(this=exp.true()))
    return tree


def backtick_names(tree: exp.Expression) -> exp.Expression:
    """Quote every identifier: BigQuery writes quoted names in backticks."""
    for identifier in tree.find_all(exp.Identifier):
        identifier.set("quoted", True)
    return tree


def _table_location(config: Mapping[str, Any]) -> dict[str, str]:
    """View tables live in the profile's `project.dataset` (the client's default dataset
    does not apply to every statement, so names are qualified). KeyError names a key
    the block lacks."""
    for key in ("project", "dataset"):
        if not config.get(key):
            raise KeyError(key)
    return {"schema": str(config["dataset"]), "catalog": str(config["project"])}


BIGQUERY = EngineDialect(
    name="bigquery",
    sqlglot_dialect="bigquery",
    pit_strategy="window",
    pit_strategies=("window",),
    type_map={
        FeatureType.INT32: "INT64",
        FeatureType.INT64: "INT64",
        FeatureType.FLOAT32: "FLOAT64",
        FeatureType.FLOAT64: "FLOAT64",
        FeatureType.BOOL: "BOOL",
        FeatureType.STRING: "STRING",
        FeatureType.TIMESTAMP: "TIMESTAMP",
        FeatureType.DATE: "DATE",
        FeatureType.BYTES: "BYTES",
    },
    array_type="ARRAY<{}>",
    map_type="JSON",
    timestamp_type="TIMESTAMP",
    asof_struct_order=False,
    rewrites=(range_frames_on_micros, window_null_order, qualify_with_where, backtick_names),
    lint_rules=("asof_join", "range_interval_frame", "set_operation_types"),
    version_hash=_version_hash,
    table_location=_table_location,
)


# -- values written into statements (fsql.adapters.bigquery, `parameters: inline`) -------------


def _literal(value: Any) -> exp.Expr:
    """A parameter value as a typed BigQuery literal, built by sqlglot (never pasted)."""
    if isinstance(value, datetime):
        moment = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return exp.cast(exp.Literal.string(moment.isoformat()), built_type("TIMESTAMPTZ"))
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, (int, float)):
        return exp.Literal.number(value)
    if value is None:
        return exp.null()
    return exp.Literal.string(str(value))


def inline_values(statement: Statement, params: Mapping[str, Any]) -> str:
    """The statement's text with each `@name` written as its value, a typed literal.

    Only for `parameters: inline`, meant for local emulators that refuse query
    parameters (crucible-emulator): the values are fsql's own (materialization window
    times), never entity data, and sqlglot writes them as quoted, typed literals into the
    tree the statement was compiled from (nothing is parsed back)."""
    values = statement.values(params)
    if not values or statement.tree is None:
        return statement.text
    assert isinstance(values, dict)

    def swap(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.Placeholder) and node.name in values:
            return _literal(values[node.name])
        return node

    return statement.tree.transform(swap).sql(dialect="bigquery")


def parse_table_name(identifier: str, doing: str) -> exp.Table:
    """`identifier` (`table`, `dataset.table` or `project.dataset.table`) as a sqlglot table."""
    try:
        table = exp.to_table(identifier, dialect="bigquery")
    except ParseError as err:
        first = str(err).splitlines()[0]
        raise RunError(f"{doing} failed: not a table name ({first})") from err
    if len(table.parts) > 3 or not all(isinstance(p, exp.Identifier) for p in table.parts):
        raise RunError(f"{doing} failed: not a table name", hint="write dataset.table")
    return table


def checksum_query(table: exp.Table, columns: Sequence[str]) -> exp.Select:
    """`SELECT COUNT(*), SUM(CAST(<60-bit hash of the row> AS NUMERIC)) FROM table`: the row
    hash is `_version_hash` of every column; NUMERIC holds the sum exactly (BIGNUMERIC is
    refused by the emulator), and a sum, unlike BIT_XOR, also moves when a row is added twice."""
    row = _version_hash([exp.column(exp.to_identifier(c, quoted=True)) for c in columns])
    total = exp.Sum(this=exp.cast(row, built_type("NUMERIC", "bigquery")))
    return exp.select(exp.Count(this=exp.Star()), total).from_(table.copy())
