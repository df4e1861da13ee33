"""The statements an offline adapter runs around compiled plans, built as sqlglot trees.

Owns transaction control (`BEGIN` / `COMMIT` / `ROLLBACK` in an engine's spelling),
session settings (`SET name = $value`), the catalog lookup of a table by name, and the
small statements `fsql.execute` runs on view tables (count rows, drop). Values travel as
named parameters (`$name` in DuckDB), never pasted into the text; setting names are
fsql's own constants. Each text depends only on its arguments and the dialect, so it is
generated once per process and cached.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache

from sqlglot import exp

from fsql.dialects.statement import Statement, prepare


@dataclass(frozen=True)
class TransactionSQL:
    """Transaction control in one engine's spelling."""

    begin: str
    commit: str
    rollback: str


@cache
def transaction_sql(dialect: str) -> TransactionSQL:
    """`BEGIN` (DuckDB, Snowflake) or `BEGIN TRANSACTION` (BigQuery), `COMMIT`, `ROLLBACK`,
    as sqlglot writes them for `dialect` (a sqlglot dialect name)."""
    return TransactionSQL(
        begin=exp.Transaction().sql(dialect=dialect),
        commit=exp.Commit().sql(dialect=dialect),
        rollback=exp.Rollback().sql(dialect=dialect),
    )


@cache
def setting_sql(name: str, dialect: str, param: str = "value") -> Statement:
    """`SET name = $value`: one session setting, its value a named parameter `param`."""
    item = exp.SetItem(this=exp.EQ(this=exp.column(name), expression=exp.Placeholder(this=param)))
    return prepare(exp.Set(expressions=[item]), dialect)


@cache
def reset_setting_sql(name: str, dialect: str) -> Statement:
    """`RESET name`: a session setting back to the engine's default (sqlglot keeps the
    statement as a command; `name` is one of fsql's own constants)."""
    return prepare(exp.Command(this="RESET", expression=exp.Literal.string(name)), dialect)


@cache
def current_setting_sql(name: str, dialect: str) -> Statement:
    """`SELECT current_setting('name')`: a session setting's value, as the engine shows it."""
    query = exp.select(
        exp.Anonymous(this="current_setting", expressions=[exp.Literal.string(name)])
    )
    return prepare(query, dialect)


@cache
def table_exists_sql(dialect: str, param: str = "name") -> Statement:
    """The number of tables (or views) named by parameter `param`, from the standard
    `information_schema.tables`: 0 when there is none."""
    query = (
        exp.select(exp.Count(this=exp.Star()))
        .from_(exp.table_("tables", db="information_schema"))
        .where(exp.EQ(this=exp.column("table_name"), expression=exp.Placeholder(this=param)))
    )
    return prepare(query, dialect)


def row_count(table: exp.Expr) -> exp.Select:
    """`SELECT COUNT(*) FROM table`."""
    return exp.select(exp.Count(this=exp.Star())).from_(table)


def drop(table: exp.Table, kind: str = "TABLE") -> exp.Drop:
    """`DROP TABLE|VIEW IF EXISTS table`."""
    return exp.Drop(this=table, kind=kind, exists=True)


def key_sample(table: exp.Table, keys: tuple[str, ...], limit: int) -> exp.Select:
    """Up to `limit` distinct non-NULL keys of `table`, drawn at random (parity checks)."""
    distinct = (
        exp.select(*(exp.column(k) for k in keys))
        .distinct()
        .from_(table)
        .where(exp.and_(*(exp.column(k).is_(exp.null()).not_() for k in keys)))
    )
    return (
        exp.select(*(exp.column(k) for k in keys))
        .from_(distinct.subquery("k"))
        .order_by(exp.Rand())
        .limit(limit)
    )


def create_typed_table(table: exp.Table, types: Mapping[str, exp.DataType]) -> exp.Create:
    """`CREATE TABLE IF NOT EXISTS table (name type, ...)`: an append-only log's table."""
    defs = [exp.ColumnDef(this=exp.to_identifier(n), kind=t) for n, t in types.items()]
    return exp.Create(this=exp.Schema(this=table, expressions=defs), kind="TABLE", exists=True)


def typed_rows(source: str, types: Mapping[str, exp.DataType]) -> exp.Select:
    """`SELECT CAST(col AS type) AS col, ... FROM source`: registered rows in a log's types."""
    return exp.select(
        *[
            exp.alias_(exp.cast(exp.column(n), t, copy=False), n, copy=False)
            for n, t in types.items()
        ],
        copy=False,
    ).from_(exp.Table(this=exp.to_identifier(source)), copy=False)


def insert_typed_rows(
    table: exp.Table, source: str, types: Mapping[str, exp.DataType]
) -> exp.Insert:
    """`INSERT INTO table (cols) SELECT CAST(col AS type) AS col, ... FROM source`."""
    target = exp.Schema(this=table, expressions=[exp.to_identifier(n) for n in types])
    return exp.Insert(this=target, expression=typed_rows(source, types))
