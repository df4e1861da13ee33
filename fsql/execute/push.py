"""Push: real-time rows of an online view, checked against the view, written to the
view's offline push log and then to the online store (newest wins).

Order of writes: the offline log first, then the online store. A row served online
must be reproducible in training, so it must be in the log before it can be served.
If the online write fails, the caller retries the push; the log then holds the same
(keys, event time, created time) row twice, a tie the point-in-time join reduces to
one row, so training results do not change. The view's watermark is not moved: a
push is not a materialization, and a later `fsql run` (which reads the view table
only) cannot erase a pushed value unless it carries a newer row for the key.

The log `<view>__push` holds the view table's columns in declared types plus
`__fsql_pushed_at`; it is created on first push and only ever appended to. The SQL is
built with sqlglot so it transpiles to every engine.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.compute as pc
from sqlglot import exp

from fsql.adapters.base import OfflineAdapter, conform_names
from fsql.compile.ordering import version_hash
from fsql.compile.relations import Relations
from fsql.compile.views import push_log_name
from fsql.config.secrets import scrub
from fsql.definitions.keys import check_column
from fsql.definitions.models import FeatureView
from fsql.definitions.types import FeatureType, type_family
from fsql.errors import ProjectError, RunError
from fsql.execute.entities import UTC_US, utc_timestamps
from fsql.online.base import CREATED_TS, EVENT_TS, VERSION, Fence, FencedError, OnlineStore
from fsql.online.open import online_table
from fsql.online.times import datetime_to_us, to_micros

PUSHED_AT = "__fsql_pushed_at"
PUSH_ROWS = "__fsql_push_rows"

# The SQL type a join key gets in the log, by Arrow type family (keys are not declared).
_KEY_TYPES = {
    "integer": FeatureType.INT64,
    "float": FeatureType.FLOAT64,
    "string": FeatureType.STRING,
    "bool": FeatureType.BOOL,
    "timestamp": FeatureType.TIMESTAMP,
    "date": FeatureType.DATE,
    "bytes": FeatureType.BYTES,
}


def log_columns(view: FeatureView) -> tuple[str, ...]:
    """The view table's declared columns, in the log's order (without `__fsql_pushed_at`)."""
    created = (view.created_timestamp,) if view.created_timestamp else ()
    return (*view.join_keys, view.timestamp, *created, *view.feature_names)


def _key_type(view: FeatureView, key: str, dtype: pa.DataType, where: str) -> FeatureType:
    family = type_family(dtype)
    ftype = _KEY_TYPES.get(family)
    if ftype is None:
        raise ProjectError(
            f"join key '{key}' of view '{view.name}' has unsupported type {dtype}",
            file=where,
            hint="use an integer or string key",
        )
    return ftype


def _feature_column(
    view: FeatureView, name: str, ftype: FeatureType, column: pa.ChunkedArray, where: str
) -> pa.ChunkedArray:
    """`column` cast to the feature's declared Arrow type, after a family check."""
    have = column.type
    if ftype is FeatureType.TIMESTAMP and not pa.types.is_null(have):
        return utc_timestamps(column, name, where)
    want = ftype.arrow()
    family, wanted = type_family(have), type_family(want)
    # An integer column of a float feature is accepted: CSV reads `5` as an integer.
    if not (pa.types.is_null(have) or family == wanted or (family, wanted) == ("integer", "float")):
        raise ProjectError(
            f"column '{name}' is {have} but feature '{name}' of view '{view.name}' is "
            f"{ftype.value}",
            file=where,
            hint=f"convert the column to {ftype.value}",
        )
    try:
        return pc.cast(column, want)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as err:
        raise ProjectError(
            f"column '{name}' cannot be read as {ftype.value} for view '{view.name}': {err}",
            file=where,
        ) from None


def prepare_push(
    view: FeatureView, data: pa.Table, view_schema: pa.Schema | None, where: str
) -> tuple[pa.Table, dict[str, FeatureType]]:
    """The pushed rows in the log's layout (declared types, UTC times) and each key's
    SQL type. Raises ProjectError naming the column on any mismatch; nothing is written.

    `view_schema` is the view table's schema when it exists: keys must be of the same
    family as its key columns, and are cast to them.
    """
    names = data.column_names
    expected = log_columns(view)
    extra = [n for n in names if n not in expected]
    if extra:
        raise ProjectError(
            f"column(s) {', '.join(extra)} are not columns of view '{view.name}'",
            file=where,
            hint=f"push only {', '.join(expected)}",
        )
    for name in expected:
        if name not in names and name != view.created_timestamp:
            raise ProjectError(
                f"column '{name}' of view '{view.name}' is missing",
                file=where,
                hint=f"push {', '.join(expected)}",
            )
    columns: dict[str, pa.ChunkedArray] = {}
    key_types: dict[str, FeatureType] = {}
    for key in view.join_keys:
        column = data.column(key)
        if column.null_count:
            raise ProjectError(
                f"join key '{key}' has NULL values", file=where, hint="a NULL key never serves"
            )
        if view_schema is not None and key in view_schema.names:
            want = view_schema.field(key).type
            check_column(column.type, want, key, view.name, where)
            column = pc.cast(column, want)
        key_types[key] = _key_type(view, key, column.type, where)
        columns[key] = column
    event = utc_timestamps(data.column(view.timestamp), view.timestamp, where)
    if event.null_count:
        raise ProjectError(
            f"timestamp column '{view.timestamp}' has NULL values",
            file=where,
            hint="every pushed row needs its event time",
        )
    columns[view.timestamp] = event
    if view.created_timestamp:
        created = view.created_timestamp
        columns[created] = (
            utc_timestamps(data.column(created), created, where)
            if created in names
            else pa.chunked_array([pa.nulls(data.num_rows, UTC_US)])
        )
    for feature in view.features:
        columns[feature.name] = _feature_column(
            view, feature.name, feature.type, data.column(feature.name), where
        )
    table = pa.Table.from_arrays(list(columns.values()), names=list(columns))
    return table, key_types


def online_rows(view: FeatureView, rows: pa.Table) -> pa.Table:
    """The store layout: keys, `__event_ts` and `__created_ts` as int64 UTC micros,
    features, and `__version` when `rows` has it."""
    rows = conform_names(rows, [*log_columns(view), VERSION])
    event = to_micros(rows.column(view.timestamp))
    if view.created_timestamp:
        created = to_micros(rows.column(view.created_timestamp))
    else:
        created = pa.chunked_array([pa.nulls(rows.num_rows, pa.int64())])
    arrays = [rows.column(k) for k in view.join_keys]
    arrays += [event, created, *(rows.column(f) for f in view.feature_names)]
    names = [*view.join_keys, EVENT_TS, CREATED_TS, *view.feature_names]
    if VERSION in rows.column_names:
        arrays.append(rows.column(VERSION))
        names.append(VERSION)
    return pa.Table.from_arrays(arrays, names=names)


def _types(
    view: FeatureView, relations: Relations, key_types: Mapping[str, FeatureType]
) -> dict[str, exp.DataType]:
    """Each log column's SQL type: keys by family, times as the dialect's UTC type."""
    dialect = relations.dialect
    types = {k: dialect.data_type(key_types[k]) for k in view.join_keys}
    for col in (view.timestamp, view.created_timestamp):
        if col:
            types[col] = dialect.timestamp()
    types.update({f.name: dialect.data_type(f.type) for f in view.features})
    types[PUSHED_AT] = dialect.timestamp()
    return types


def create_log(
    view: FeatureView, relations: Relations, key_types: Mapping[str, FeatureType]
) -> exp.Create:
    """CREATE TABLE IF NOT EXISTS <view>__push (declared columns, __fsql_pushed_at)."""
    defs = [
        exp.ColumnDef(this=exp.to_identifier(name), kind=dtype)
        for name, dtype in _types(view, relations, key_types).items()
    ]
    create = exp.Create(
        this=exp.Schema(this=relations.view_table(push_log_name(view.name)), expressions=defs),
        kind="TABLE",
        exists=True,
    )
    relations.dialect.finish(create)
    return create


def _typed_rows(
    view: FeatureView, relations: Relations, key_types: Mapping[str, FeatureType]
) -> exp.Select:
    """SELECT CAST(col AS type) AS col, ... FROM the registered rows: the log's values."""
    types = _types(view, relations, key_types)
    return exp.select(
        *[
            exp.alias_(exp.cast(exp.column(n), t, copy=False), n, copy=False)
            for n, t in types.items()
        ],
        copy=False,
    ).from_(exp.Table(this=exp.to_identifier(PUSH_ROWS)), copy=False)


def versioned_rows(
    view: FeatureView, relations: Relations, key_types: Mapping[str, FeatureType]
) -> exp.Select:
    """The pushed rows as the log stores them, with each row's version hash computed by
    the engine over those typed values: the number the view's table rows get too, so an
    equal-time push and table row are decided the same way online and in training."""
    typed = _typed_rows(view, relations, key_types).subquery("__fsql_typed", copy=False)
    select = exp.select(
        *[exp.column(n) for n in log_columns(view)],
        exp.alias_(version_hash(view.feature_names, relations.dialect), VERSION),
        copy=False,
    ).from_(typed, copy=False)
    relations.dialect.finish(select)
    return select


def insert_log(
    view: FeatureView, relations: Relations, key_types: Mapping[str, FeatureType]
) -> exp.Insert:
    """INSERT INTO <view>__push (cols) SELECT CAST(col AS type) AS col, ... FROM rows."""
    types = _types(view, relations, key_types)
    select = _typed_rows(view, relations, key_types)
    target = exp.Schema(
        this=relations.view_table(push_log_name(view.name)),
        expressions=[exp.to_identifier(n) for n in types],
    )
    insert = exp.Insert(this=target, expression=select)
    relations.dialect.finish(insert)
    return insert


def _check_log(view: FeatureView, schema: pa.Schema) -> None:
    """An existing log must hold the view's current columns, or the append would fail
    half-understood (a feature added to the view since the log was created)."""
    have = [n.casefold() for n in schema.names]
    want = [n.casefold() for n in (*log_columns(view), PUSHED_AT)]
    if have != want:
        name = push_log_name(view.name)
        raise ProjectError(
            f"push log '{name}' has columns {', '.join(schema.names)} but view '{view.name}' "
            f"now has {', '.join((*log_columns(view), PUSHED_AT))}",
            file=view.yml_path,
            hint=f"migrate or drop table {name}",
        )


def _first(err: Exception) -> str:
    lines = scrub(str(err)).strip().splitlines()
    return lines[0] if lines else repr(err)


def push_rows(
    adapter: OfflineAdapter,
    store: OnlineStore,
    relations: Relations,
    view: FeatureView,
    data: pa.Table,
    where: str,
) -> int:
    """Check `data` against `view`, append it to the push log, then upsert it online.

    Returns the number of rows pushed."""
    rows, key_types = prepare_push(view, data, adapter.table_schema(view.name), where)
    log_schema = adapter.table_schema(push_log_name(view.name))
    if log_schema is not None:
        _check_log(view, log_schema)
    if rows.num_rows == 0:
        return 0
    table = online_table(view)
    store.check_keys(table, rows, where)  # a key the store cannot hold: nothing written
    pushed_at = pa.chunked_array([pa.array([datetime.now(UTC)] * rows.num_rows, UTC_US)])
    dialect = relations.dialect
    try:
        if log_schema is None:
            adapter.execute(dialect.sql(create_log(view, relations, key_types)))
        adapter.register(PUSH_ROWS, rows.append_column(PUSHED_AT, pushed_at))
        try:
            adapter.execute(dialect.sql(insert_log(view, relations, key_types)))
            versioned = adapter.fetch_arrow(dialect.sql(versioned_rows(view, relations, key_types)))
        finally:
            adapter.unregister(PUSH_ROWS)
    except Exception as err:  # driver errors differ per engine
        raise RunError(
            f"pushing to view '{view.name}': writing the offline push log failed: {_first(err)}",
            hint="nothing was written online; re-run the push",
        ) from err
    fence = Fence(view.content_hash, datetime_to_us(datetime.now(UTC)) or 0)
    try:
        store.prepare(table, fence)
        store.upsert(table, online_rows(view, versioned), fence)
    except FencedError as err:
        raise FencedError(
            f"pushing to view '{view.name}': {err.message}",
            hint="the rows are in the offline push log; materialize the view with its "
            "current definition (fsql run), then push again",
        ) from err
    except Exception as err:
        raise RunError(
            f"pushing to view '{view.name}': the online write failed: {_first(err)}",
            hint="the rows are in the offline push log; re-run the push (duplicates are harmless)",
        ) from err
    return rows.num_rows
