"""Appending served vectors to a service's feature log (fsql.compile.feature_log) on the
offline engine: the table made or widened as needed, the rows uploaded and inserted."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa

from fsql.adapters.base import OfflineAdapter
from fsql.compile.feature_log import (
    LOG_ROWS,
    REQUEST_TIME,
    SERVICE,
    add_log_column,
    create_feature_log,
    feature_log_name,
    insert_feature_log,
)
from fsql.compile.relations import Relations
from fsql.definitions.types import FeatureType, feature_type_of
from fsql.dialects.statement import read_upload
from fsql.execute.entities import UTC_US


def log_table(
    service: str,
    request_us: Sequence[int],
    columns: Mapping[str, Sequence[Any]],
    declared: Mapping[str, FeatureType],
) -> tuple[pa.Table, dict[str, FeatureType]]:
    """The rows as an Arrow table, and each logged column's type: features as declared,
    entity columns (keys, request values) by the type of their values (string when all
    are NULL)."""
    arrays: dict[str, pa.Array] = {
        REQUEST_TIME: pa.array(request_us, pa.int64()).cast(UTC_US),
        SERVICE: pa.array([service] * len(request_us), pa.string()),
    }
    types: dict[str, FeatureType] = {}
    for name, values in columns.items():
        ftype = declared.get(name)
        if ftype is not None:
            arrays[name] = pa.array(values, ftype.arrow())
        else:
            arrays[name] = pa.array(values)
            ftype = feature_type_of(arrays[name].type) or FeatureType.STRING
            if pa.types.is_null(arrays[name].type):
                arrays[name] = arrays[name].cast(pa.string())
        types[name] = ftype
    return pa.table(arrays), types


def append_feature_log(
    adapter: OfflineAdapter,
    relations: Relations,
    service: str,
    rows: pa.Table,
    types: Mapping[str, FeatureType],
) -> None:
    """Create `<service>__log` if needed, add the columns it lacks, append `rows`."""
    dialect = relations.dialect
    schema = adapter.table_schema(feature_log_name(service))
    if schema is None:
        adapter.execute(dialect.sql(create_feature_log(service, relations, types)))
    else:
        have = {name.casefold() for name in schema.names}
        for name, ftype in types.items():
            if name.casefold() not in have:
                adapter.execute(dialect.sql(add_log_column(service, relations, name, ftype)))
    uploaded = adapter.register(LOG_ROWS, rows)
    try:
        insert = read_upload(insert_feature_log(service, relations, types), LOG_ROWS, uploaded)
        adapter.execute(dialect.statement(insert))
    finally:
        adapter.unregister(LOG_ROWS)
