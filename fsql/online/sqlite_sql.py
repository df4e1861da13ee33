"""The SQL statements of the SQLite online store, built as sqlglot trees.

Owns every statement `fsql.online.sqlite` runs on view tables and on its
bookkeeping tables: DDL (create / drop `WITHOUT ROWID` tables), the newest-wins
upsert (`INSERT ... ON CONFLICT ... DO UPDATE ... WHERE` a row-value guard), point
and batch reads, deletes, the namespace / run-state statements, and the connection's
settings (PRAGMAs) and transaction control (`BEGIN IMMEDIATE`). It also owns the table
name of each view namespace and the storage type of each feature type. It builds
strings only and never touches a connection.

SQLite is no offline engine (no EngineDialect, no compiled plans), so this module is its
`compile/` and `dialects/` in one: the one place outside those packages where fsql's
SQL is built (tests/test_sql_text.py allows it by name). Its single escape hatch, the
SQL sqlglot cannot express, is `_WITHOUT_ROWID` below.

Why sqlglot instead of string formatting: view, key and feature names come from
user definitions, so every identifier is quoted by the generator rather than by
hand, and values only ever travel as `?` parameters. The statements are built
once per view layout (and per read batch size) and cached by the caller, so
the cost of generating them is paid once, not per read.

Size: every statement of one store (view tables, bookkeeping, session) in one place, as
`compile/` keeps every statement of the offline engines; split, the store's SQL would be
spread over modules that each build a third of it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

from sqlglot import exp

from fsql.definitions.types import FeatureType
from fsql.online.base import CREATED_TS, EVENT_TS, VERSION

TABLE_PREFIX = "fsql_view__"
# Bookkeeping: the live namespace (value table) of each view, the pending ones of
# rebuilds in progress, and the run state. Stores written by fsql before namespaces
# existed used other names (fsql_tables, fsql_state); they are not read.
META_LIVE = "fsql_namespaces"
META_PENDING = "fsql_pending"
META_STATE = "fsql_run_state"
META_KEYS = "fsql_key_types"  # view -> type family of each join key, comma-separated
LIVE_COLUMNS = ("view", "layout", "tag", "view_hash", "generation")
PENDING_COLUMNS = ("tag", "view", "layout", "view_hash", "generation")
STATE_COLUMNS = (
    "view",
    "watermark",
    "materialized_at",
    "view_hash",
    "newest_event",
    "base_version",
)

# The escape hatch of this dialect, declared once: sqlglot 30.22 has no node for SQLite's
# WITHOUT ROWID table option (parsing it falls back to an opaque Command), so the fixed
# keyword pair is appended to the generated CREATE TABLE as text.
_WITHOUT_ROWID = " WITHOUT ROWID"

# Declared storage type of each feature column.
_STORAGE: dict[FeatureType, str] = {
    FeatureType.INT32: "INTEGER",
    FeatureType.INT64: "INTEGER",
    FeatureType.BOOL: "INTEGER",
    FeatureType.FLOAT32: "REAL",
    FeatureType.FLOAT64: "REAL",
    FeatureType.STRING: "TEXT",
    FeatureType.TIMESTAMP: "INTEGER",  # microseconds since the epoch, UTC
    FeatureType.DATE: "INTEGER",  # days since the epoch
    FeatureType.BYTES: "BLOB",
}


def table_name(view: str, tag: str) -> str:
    """The SQLite table holding `view`'s values in namespace `tag` (lower-case hex).

    SQLite folds ASCII case in identifiers even when quoted, so a view name with
    upper-case letters gets a hash suffix: `Users` and `users` never share a table.
    """
    if view == view.lower():
        return f"{TABLE_PREFIX}{view}__{tag}"
    return f"{TABLE_PREFIX}{view}__{hashlib.sha1(view.encode()).hexdigest()[:8]}__{tag}"


def _ident(name: str) -> exp.Identifier:
    return exp.to_identifier(name, quoted=True)


def _table(name: str) -> exp.Table:
    return exp.Table(this=_ident(name))


def _column(name: str, table: str | None = None) -> exp.Column:
    return exp.Column(this=_ident(name), table=_ident(table) if table else None)


def _sql(expression: exp.Expr) -> str:
    return expression.sql(dialect="sqlite")


def _create_sql(
    name: str, columns: Sequence[tuple[str, str | None, bool]], pk: Sequence[str]
) -> str:
    """`CREATE TABLE IF NOT EXISTS` with (name, storage type or None, not null) columns."""
    defs: list[exp.Expression] = []
    for column, storage, not_null in columns:
        constraints = [exp.ColumnConstraint(kind=exp.NotNullColumnConstraint())] if not_null else []
        kind = exp.DataType.build(storage, dialect="sqlite") if storage else None
        defs.append(exp.ColumnDef(this=_ident(column), kind=kind, constraints=constraints))
    defs.append(exp.PrimaryKey(expressions=[_ident(k) for k in pk]))
    create = exp.Create(
        this=exp.Schema(this=_table(name), expressions=defs), kind="TABLE", exists=True
    )
    return _sql(create) + _WITHOUT_ROWID


def drop_sql(name: str) -> str:
    return _sql(exp.Drop(tables=[_table(name)], kind="TABLE", exists=True))


def _upsert_sql(
    name: str, columns: Sequence[str], keys: Sequence[str], guard: Sequence[str] | None
) -> str:
    """INSERT of one row of `?`; on a key conflict update the other columns, only when
    the `guard` columns of the new row compare strictly greater (row values)."""
    updates = [
        exp.EQ(this=_column(c), expression=_column(c, "excluded")) for c in columns if c not in keys
    ]
    where = None
    if guard:
        where = exp.Where(
            this=exp.GT(
                this=exp.Tuple(expressions=[_column(c, "excluded") for c in guard]),
                expression=exp.Tuple(expressions=[_column(c, name) for c in guard]),
            )
        )
    insert = exp.Insert(
        this=exp.Schema(this=_table(name), expressions=[_ident(c) for c in columns]),
        expression=exp.Values(
            expressions=[exp.Tuple(expressions=[exp.Placeholder() for _ in columns])]
        ),
        conflict=exp.OnConflict(
            conflict_keys=[_ident(k) for k in keys],
            action=exp.var("DO UPDATE"),
            expressions=updates,
            where=where,
        ),
    )
    return _sql(insert)


def _select_sql(name: str, columns: Sequence[str], condition: exp.Expr) -> str:
    select = exp.Select(
        expressions=[_column(c) for c in columns],
        where=exp.Where(this=condition),
    ).from_(_table(name))
    return _sql(select)


def _key_equals(keys: Sequence[str]) -> exp.Expr:
    return exp.and_(*(exp.EQ(this=_column(k), expression=exp.Placeholder()) for k in keys))


@dataclass(frozen=True)
class ViewSQL:
    """The statements on one view's table."""

    create: str
    drop: str
    upsert: str
    point: str  # one key -> event_ts, then the features


def view_sql(
    name: str, keys: Sequence[str], features: Sequence[tuple[str, FeatureType]]
) -> ViewSQL:
    """The table of one view: the join keys (no declared type, so no affinity) as
    primary key, event and created time and version hash, then the features
    (nullable); an upsert wins only with a greater (event_ts, created_ts, version)."""
    columns: list[tuple[str, str | None, bool]] = [(k, None, True) for k in keys]
    columns += [(c, "INTEGER", True) for c in (EVENT_TS, CREATED_TS, VERSION)]
    # Arrays and maps are JSON text (fsql.online.sqlite_values), json is its own text.
    columns += [(f, _STORAGE.get(t, "TEXT"), False) for f, t in features]
    all_columns = [c for c, _, _ in columns]
    return ViewSQL(
        create=_create_sql(name, columns, keys),
        drop=drop_sql(name),
        upsert=_upsert_sql(name, all_columns, keys, (EVENT_TS, CREATED_TS, VERSION)),
        point=_select_sql(name, [EVENT_TS, *(f for f, _ in features)], _key_equals(keys)),
    )


def batch_select_sql(name: str, keys: Sequence[str], columns: Sequence[str], n: int) -> str:
    """Read `n` keys in one statement.

    One join key: `WHERE k IN (?, ...)`, a primary-key search per value. Several:
    `(k1, k2) IN (VALUES ...)` makes SQLite 3.40 scan the whole table, so the key
    list is joined instead: `FROM (VALUES (?, ?), ...) CROSS JOIN t ON ...`, where
    CROSS JOIN pins the key list as the outer loop and each row is a key search.
    """
    if len(keys) == 1:
        in_list = exp.In(this=_column(keys[0]), expressions=[exp.Placeholder() for _ in range(n)])
        return _select_sql(name, columns, in_list)
    alias = "fsql_keys"
    values = exp.Values(
        expressions=[exp.Tuple(expressions=[exp.Placeholder() for _ in keys]) for _ in range(n)],
        alias=exp.TableAlias(this=_ident(alias)),
    )
    # SQLite names the columns of a VALUES list column1, column2, ...
    on = exp.and_(
        *(
            exp.EQ(this=_column(k, name), expression=_column(f"column{i}", alias))
            for i, k in enumerate(keys, start=1)
        )
    )
    select = (
        exp.Select(expressions=[_column(c, name) for c in columns])
        .from_(values)
        .join(_table(name), on=on, join_type="cross")
    )
    return _sql(select)


def _delete_sql(name: str, key: str) -> str:
    return _sql(
        exp.Delete(
            this=_table(name),
            where=exp.Where(this=exp.EQ(this=_column(key), expression=exp.Placeholder())),
        )
    )


@dataclass(frozen=True)
class MetaSQL:
    """Statements on the bookkeeping tables; the same for every store."""

    create_live: str
    create_pending: str
    create_state: str
    get_live: str
    set_live: str
    delete_live: str
    get_pending: str  # one pending namespace by tag
    pending_of_view: str  # every pending namespace of a view
    add_pending: str
    delete_pending: str
    get_state: str
    set_state: str
    delete_state: str
    create_keys: str
    get_keys: str
    set_keys: str
    delete_keys: str
    stored_views: str  # every view with a live or pending namespace or run state


def _bookkeeping(name: str, columns: Sequence[str], types: Sequence[str], key: str) -> str:
    defs = [(c, t, c == key) for c, t in zip(columns, types, strict=True)]
    return _create_sql(name, defs, [key])


@cache
def meta_sql() -> MetaSQL:
    text, integer = "TEXT", "INTEGER"
    return MetaSQL(
        create_live=_bookkeeping(
            META_LIVE, LIVE_COLUMNS, (text, text, text, text, integer), "view"
        ),
        create_pending=_bookkeeping(
            META_PENDING, PENDING_COLUMNS, (text, text, text, text, integer), "tag"
        ),
        create_state=_bookkeeping(
            META_STATE, STATE_COLUMNS, (text, integer, integer, text, integer, text), "view"
        ),
        get_live=_select_sql(META_LIVE, LIVE_COLUMNS[1:], _key_equals(["view"])),
        set_live=_upsert_sql(META_LIVE, LIVE_COLUMNS, ["view"], None),
        delete_live=_delete_sql(META_LIVE, "view"),
        get_pending=_select_sql(META_PENDING, PENDING_COLUMNS[1:], _key_equals(["tag"])),
        pending_of_view=_select_sql(META_PENDING, PENDING_COLUMNS, _key_equals(["view"])),
        add_pending=_upsert_sql(META_PENDING, PENDING_COLUMNS, ["tag"], None),
        delete_pending=_delete_sql(META_PENDING, "tag"),
        get_state=_select_sql(META_STATE, STATE_COLUMNS[1:], _key_equals(["view"])),
        set_state=_upsert_sql(META_STATE, STATE_COLUMNS, ["view"], None),
        delete_state=_delete_sql(META_STATE, "view"),
        create_keys=_bookkeeping(META_KEYS, ("view", "families"), (text, text), "view"),
        get_keys=_select_sql(META_KEYS, ["families"], _key_equals(["view"])),
        set_keys=_upsert_sql(META_KEYS, ["view", "families"], ["view"], None),
        delete_keys=_delete_sql(META_KEYS, "view"),
        stored_views=_sql(
            exp.union(
                exp.union(
                    exp.select(_column("view")).from_(_table(META_LIVE)),
                    exp.select(_column("view")).from_(_table(META_PENDING)),
                ),
                exp.select(_column("view")).from_(_table(META_STATE)),
            )
        ),
    )


@dataclass(frozen=True)
class SessionSQL:
    """Connection settings and transaction control; the same for every store."""

    settings: tuple[str, ...]  # PRAGMAs run once on every new read connection
    # The writer's: the same without mmap. Writes gain nothing from it, and its mapped
    # pages (up to 256 MiB) would count in the peak memory of every materialization.
    writer_settings: tuple[str, ...]
    begin: str  # BEGIN IMMEDIATE: take the write lock up front, not on the first write
    commit: str
    rollback: str


def _pragma(name: str, value: exp.Expr) -> str:
    return _sql(exp.Pragma(this=exp.EQ(this=exp.var(name), expression=value)))


# Reads of random keys miss SQLite's default 2 MiB page cache and pay a pread per page; a
# larger cache plus mmap (readers) halved point and batch read latency on 200k keys
# (24 -> 11 us p50). Both are upper bounds, used lazily.
_COMMON = (
    _pragma("busy_timeout", exp.Literal.number(10000)),
    _pragma("journal_mode", exp.var("WAL")),
    _pragma("synchronous", exp.var("NORMAL")),
    _pragma("cache_size", exp.Literal.number(-65536)),
)


@cache
def session_sql() -> SessionSQL:
    return SessionSQL(
        settings=(
            *_COMMON,
            _pragma("mmap_size", exp.Literal.number(268435456)),
        ),
        writer_settings=(*_COMMON, _pragma("mmap_size", exp.Literal.number(0))),
        begin=_sql(exp.Transaction(this="IMMEDIATE")),
        commit=_sql(exp.Commit()),
        rollback=_sql(exp.Rollback()),
    )
