"""The SQL statements of the SQLite online store, built as sqlglot trees.

Owns every statement `fsql.online.sqlite` runs on view tables and on its two
bookkeeping tables: DDL (create / drop `WITHOUT ROWID` tables), the newest-wins
upsert (`INSERT ... ON CONFLICT ... DO UPDATE ... WHERE` a row-value guard), point
and batch reads, deletes, and the layout / run-state statements. It also owns the
table name of each view and the storage type of each feature type. It builds
strings only and never touches a connection.

Why sqlglot instead of string formatting: view, key and feature names come from
user definitions, so every identifier is quoted by the generator rather than by
hand, and values only ever travel as `?` parameters. The statements are built
once per view layout (and per read batch size) and cached by the caller, so
the cost of generating them is paid once, not per read.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

from sqlglot import exp

from fsql.definitions.types import FeatureType
from fsql.online.base import CREATED_TS, EVENT_TS

TABLE_PREFIX = "fsql_view__"
META_TABLES = "fsql_tables"
META_STATE = "fsql_state"
# Added to the state table after its first release: stores created before have no
# such column until opened by a version that adds it (SQLiteOnlineStore.__init__).
NEWEST_EVENT = "newest_event"

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


def table_name(view: str) -> str:
    """The SQLite table holding `view`'s values.

    SQLite folds ASCII case in identifiers even when quoted, so a view name with
    upper-case letters gets a hash suffix: `Users` and `users` never share a table.
    """
    if view == view.lower():
        return TABLE_PREFIX + view
    return f"{TABLE_PREFIX}{view}__{hashlib.sha1(view.encode()).hexdigest()[:8]}"


def _ident(name: str) -> exp.Identifier:
    return exp.to_identifier(name, quoted=True)


def _table(name: str) -> exp.Table:
    return exp.Table(this=_ident(name))


def _column(name: str, table: str | None = None) -> exp.Column:
    return exp.Column(this=_ident(name), table=_ident(table) if table else None)


def _sql(expression: exp.Expression) -> str:
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
    # sqlglot 30.22 has no node for SQLite's WITHOUT ROWID table option (parsing it
    # falls back to an opaque Command), so the fixed keyword pair is appended here.
    return _sql(create) + " WITHOUT ROWID"


def _drop_sql(name: str) -> str:
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


def _select_sql(name: str, columns: Sequence[str], condition: exp.Expression) -> str:
    select = exp.Select(
        expressions=[_column(c) for c in columns],
        where=exp.Where(this=condition),
    ).from_(_table(name))
    return _sql(select)


def _key_equals(keys: Sequence[str]) -> exp.Expression:
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
    primary key, event and created time, then the features (nullable); an upsert
    wins only with a greater (event_ts, created_ts)."""
    columns: list[tuple[str, str | None, bool]] = [(k, None, True) for k in keys]
    columns += [(EVENT_TS, "INTEGER", True), (CREATED_TS, "INTEGER", True)]
    columns += [(f, _STORAGE[t], False) for f, t in features]
    all_columns = [c for c, _, _ in columns]
    return ViewSQL(
        create=_create_sql(name, columns, keys),
        drop=_drop_sql(name),
        upsert=_upsert_sql(name, all_columns, keys, (EVENT_TS, CREATED_TS)),
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
    """Statements on the two bookkeeping tables; the same for every store."""

    create_tables: str
    create_state: str
    state_columns: str  # the state table's column names (PRAGMA table_info)
    add_newest_event: str  # upgrades a state table made before `newest_event` existed
    get_layout: str
    set_layout: str
    delete_layout: str
    get_state: str
    set_state: str
    delete_state: str


@cache
def meta_sql() -> MetaSQL:
    state_cols = ("view", "watermark", "materialized_at", "view_hash", NEWEST_EVENT)
    return MetaSQL(
        create_tables=_create_sql(
            META_TABLES, [("view", "TEXT", True), ("layout", "TEXT", True)], ["view"]
        ),
        create_state=_create_sql(
            META_STATE,
            [
                ("view", "TEXT", True),
                ("watermark", "INTEGER", False),
                ("materialized_at", "INTEGER", False),
                ("view_hash", "TEXT", False),
                (NEWEST_EVENT, "INTEGER", False),
            ],
            ["view"],
        ),
        state_columns=f"SELECT name FROM pragma_table_info('{META_STATE}')",
        add_newest_event=_sql(
            exp.Alter(
                this=_table(META_STATE),
                kind="TABLE",
                actions=[
                    exp.ColumnDef(this=_ident(NEWEST_EVENT), kind=exp.DataType.build("INTEGER"))
                ],
            )
        ),
        get_layout=_select_sql(META_TABLES, ["layout"], _key_equals(["view"])),
        set_layout=_upsert_sql(META_TABLES, ["view", "layout"], ["view"], None),
        delete_layout=_delete_sql(META_TABLES, "view"),
        get_state=_select_sql(META_STATE, state_cols[1:], _key_equals(["view"])),
        set_state=_upsert_sql(META_STATE, state_cols, ["view"], None),
        delete_state=_delete_sql(META_STATE, "view"),
    )
