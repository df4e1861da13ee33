"""The push log of an online view: `<view>__push`, the statements that create it, append
to it and read pushed rows back with their version hash (SPEC §2 "push").

The log holds the view table's columns in declared types plus `__fsql_pushed_at`; it is
created on first push and only ever appended to. Each pushed row's version is computed
by the engine over the typed values, as for the view's own rows, so an equal-time push
and table row are decided the same way online and in training.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlglot import exp

from fsql.compile.ordering import version_hash
from fsql.compile.relations import Relations
from fsql.compile.statements import create_typed_table, insert_typed_rows, typed_rows
from fsql.compile.views import VERSION, push_log_name
from fsql.definitions.models import FeatureView
from fsql.definitions.types import FeatureType

PUSHED_AT = "__fsql_pushed_at"
PUSH_ROWS = "__fsql_push_rows"  # the name the pushed rows are registered under


def log_columns(view: FeatureView) -> tuple[str, ...]:
    """The view table's declared columns, in the log's order (without `__fsql_pushed_at`)."""
    created = (view.created_timestamp,) if view.created_timestamp else ()
    return (*view.join_keys, view.timestamp, *created, *view.feature_names)


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
    table = relations.view_table(push_log_name(view.name))
    create = create_typed_table(table, _types(view, relations, key_types))
    relations.dialect.finish(create)
    return create


def versioned_rows(
    view: FeatureView, relations: Relations, key_types: Mapping[str, FeatureType]
) -> exp.Select:
    """The pushed rows as the log stores them, with each row's version hash computed by
    the engine over those typed values: the number the view's table rows get too, so an
    equal-time push and table row are decided the same way online and in training."""
    typed = typed_rows(PUSH_ROWS, _types(view, relations, key_types)).subquery(
        "__fsql_typed", copy=False
    )
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
    table = relations.view_table(push_log_name(view.name))
    insert = insert_typed_rows(table, PUSH_ROWS, _types(view, relations, key_types))
    relations.dialect.finish(insert)
    return insert
