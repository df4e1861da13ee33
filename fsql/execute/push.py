"""Push, offline side: pushed rows checked against their view, then appended to the
view's push log (fsql.compile.push_log), which later training sets read.

The log is written before the online store (fsql.store orchestrates both): a row served
online must be reproducible in training, so it must be in the log before it can be
served. A retried push leaves the same (keys, event time, created time) row twice, a
tie the point-in-time join reduces to one row, so training results do not change.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.compute as pc

from fsql.adapters.base import OfflineAdapter
from fsql.compile.push_log import (
    PUSH_ROWS,
    PUSHED_AT,
    create_log,
    insert_log,
    log_columns,
    versioned_rows,
)
from fsql.compile.relations import Relations
from fsql.compile.views import push_log_name
from fsql.config.secrets import scrub
from fsql.definitions.keys import check_column
from fsql.definitions.models import GLOBAL_KEY, Feature, FeatureView
from fsql.definitions.nested import conform_column
from fsql.definitions.types import FeatureType, feature_type_of, type_family
from fsql.dialects.statement import read_upload
from fsql.errors import ProjectError, RunError
from fsql.execute.entities import UTC_US, utc_timestamps

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


def _key_type(view: FeatureView, key: str, dtype: pa.DataType, where: str) -> FeatureType:
    family = type_family(dtype)
    ftype = _KEY_TYPES.get(family)
    if ftype is None:
        raise ProjectError(
            f"join key '{key}' of view '{view.name}' has unsupported type {family}",
            file=where,
            hint="use an integer or string key",
        )
    return ftype


def _feature_column(
    view: FeatureView, name: str, ftype: FeatureType, column: pa.ChunkedArray, where: str
) -> pa.ChunkedArray:
    """`column` cast to the feature's declared Arrow type, after a family check."""
    have = column.type
    if ftype.composite:  # lists, dicts or JSON text, as the log and stores keep them
        try:
            return conform_column(column, ftype)
        except ValueError as err:
            raise ProjectError(
                f"column '{name}' cannot be read as {ftype.value} for view '{view.name}': {err}",
                file=where,
                hint="give a list per row for an array, an object for a map",
            ) from None
    if ftype is FeatureType.TIMESTAMP and not pa.types.is_null(have):
        return utc_timestamps(column, name, where)
    want = ftype.arrow()
    family, wanted = type_family(have), type_family(want)
    # An integer column of a float feature is accepted: CSV reads `5` as an integer.
    if not (pa.types.is_null(have) or family == wanted or (family, wanted) == ("integer", "float")):
        raise ProjectError(
            f"column '{name}' is {family} but feature '{name}' of view '{view.name}' is "
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


def row_view(view: FeatureView, view_schema: pa.Schema | None, where: str) -> FeatureView:
    """The view as its pushed rows are checked and logged. A view with aggregations
    logs its rows (the columns its aggregations read), typed as its table holds them:
    its YAML declares no type for them."""
    if not view.aggregations:
        return view
    if view_schema is None:
        raise ProjectError(
            f"view '{view.name}' has no table yet to type the pushed rows by",
            file=where,
            hint="run `fsql run` once, then push",
        )
    fields = {field.name.casefold(): field for field in view_schema}
    features = []
    for column in view.row_columns:
        field = fields.get(column.casefold())
        ftype = feature_type_of(field.type) if field is not None else None
        if ftype is None:
            raise ProjectError(
                f"view '{view.name}': column '{column}' of its table cannot be pushed"
                + (f" (type {field.type})" if field is not None else " (no such column)"),
                file=view.yml_path,
                hint="push to views whose columns are numbers, text, booleans, times or bytes",
            )
        features.append(Feature(column, ftype))
    return replace(view, features=tuple(features), aggregations=())


def prepare_push(
    view: FeatureView, data: pa.Table, view_schema: pa.Schema | None, where: str
) -> tuple[pa.Table, dict[str, FeatureType]]:
    """The pushed rows in the log's layout (declared types, UTC times) and each key's
    SQL type. Raises ProjectError naming the column on any mismatch; nothing is written.

    `view_schema` is the view table's schema when it exists: keys must be of the same
    family as its key columns, and are cast to them.
    """
    if view.is_global and GLOBAL_KEY not in data.column_names:  # its constant key
        zeros = pa.chunked_array([pa.nulls(data.num_rows, pa.int64()).fill_null(0)])
        data = data.append_column(GLOBAL_KEY, zeros)
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


def first_line(err: Exception) -> str:
    """The first line of a driver's error, scrubbed of secrets."""
    lines = scrub(str(err)).strip().splitlines()
    return lines[0] if lines else repr(err)


def check_push_log(adapter: OfflineAdapter, view: FeatureView) -> bool:
    """Whether the view's push log exists; an existing one must match the view."""
    schema = adapter.table_schema(push_log_name(view.name))
    if schema is not None:
        _check_log(view, schema)
    return schema is not None


def append_push_log(
    adapter: OfflineAdapter,
    relations: Relations,
    view: FeatureView,
    rows: pa.Table,
    key_types: dict[str, FeatureType],
    log_exists: bool,
) -> pa.Table:
    """Append checked `rows` (prepare_push) to the log; returns them as the log holds
    them, with each row's version (the rows the online store gets)."""
    pushed_at = pa.chunked_array([pa.array([datetime.now(UTC)] * rows.num_rows, UTC_US)])
    dialect = relations.dialect
    try:
        if not log_exists:
            adapter.execute(dialect.sql(create_log(view, relations, key_types)))
        uploaded = adapter.register(PUSH_ROWS, rows.append_column(PUSHED_AT, pushed_at))
        try:
            insert = read_upload(insert_log(view, relations, key_types), PUSH_ROWS, uploaded)
            adapter.execute(dialect.statement(insert))
            versioned = versioned_rows(view, relations, key_types)
            return adapter.fetch_arrow(
                dialect.statement(read_upload(versioned, PUSH_ROWS, uploaded))
            )
        finally:
            adapter.unregister(PUSH_ROWS)
    except Exception as err:  # driver errors differ per engine
        raise RunError(
            f"pushing to view '{view.name}': writing the offline push log failed: "
            f"{first_line(err)}",
            hint="nothing was written online; re-run the push",
        ) from err
