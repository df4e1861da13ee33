"""The feature log of a service: `<service>__log`, the served vectors kept for skew checks
(SPEC §1 service `logging:`, §2 "Monitoring"), and the statements that create, widen and
append to it.

A row is one served entity row: when it was served (`__fsql_request_time`), the service
(`__fsql_service`), the entity row's columns (join keys and request values) and the
feature values as served, each column in its SQL type. The log is only ever appended to;
a service whose features change gets the new columns added (`ALTER TABLE ... ADD
COLUMN`), and rows logged before read NULL there.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlglot import exp

from fsql.compile.relations import Relations
from fsql.compile.statements import create_typed_table, insert_typed_rows
from fsql.definitions.types import FeatureType

LOG_SUFFIX = "__log"
REQUEST_TIME = "__fsql_request_time"
SERVICE = "__fsql_service"
LOG_ROWS = "__fsql_log_rows"  # the name a batch of logged rows is registered under


def feature_log_name(service: str) -> str:
    """The name of a service's feature log table: the one place it is spelled."""
    return f"{service}{LOG_SUFFIX}"


def _types(relations: Relations, columns: Mapping[str, FeatureType]) -> dict[str, exp.DataType]:
    dialect = relations.dialect
    types = {REQUEST_TIME: dialect.timestamp(), SERVICE: dialect.data_type(FeatureType.STRING)}
    types.update({name: dialect.data_type(ftype) for name, ftype in columns.items()})
    return types


def create_feature_log(
    service: str, relations: Relations, columns: Mapping[str, FeatureType]
) -> exp.Create:
    """CREATE TABLE IF NOT EXISTS <service>__log (time, service, the logged columns)."""
    table = relations.view_table(feature_log_name(service))
    create = create_typed_table(table, _types(relations, columns))
    relations.dialect.finish(create)
    return create


def add_log_column(service: str, relations: Relations, name: str, ftype: FeatureType) -> exp.Alter:
    """ALTER TABLE <service>__log ADD COLUMN name type: a column the log did not have."""
    alter = exp.Alter(
        this=relations.view_table(feature_log_name(service)),
        kind="TABLE",
        actions=[
            exp.ColumnDef(this=exp.to_identifier(name), kind=relations.dialect.data_type(ftype))
        ],
    )
    relations.dialect.finish(alter)
    return alter


def insert_feature_log(
    service: str, relations: Relations, columns: Mapping[str, FeatureType]
) -> exp.Insert:
    """INSERT INTO <service>__log (cols) SELECT CAST(col AS type) AS col, ... FROM the
    registered rows."""
    table = relations.view_table(feature_log_name(service))
    insert = insert_typed_rows(table, LOG_ROWS, _types(relations, columns))
    relations.dialect.finish(insert)
    return insert


def log_sample(
    service: str,
    relations: Relations,
    columns: Sequence[str],
    limit: int,
    start: bool,
    end: bool,
) -> exp.Select:
    """Up to `limit` logged rows (the named columns), drawn at random, served at or after
    the parameter `start` and before `end` (each only when asked for)."""
    time = exp.column(REQUEST_TIME)
    bounds: list[exp.Expr] = []
    if start:
        bounds.append(exp.GTE(this=time.copy(), expression=exp.Placeholder(this="start")))
    if end:
        bounds.append(exp.LT(this=time.copy(), expression=exp.Placeholder(this="end")))
    query = exp.select(*(exp.column(c) for c in columns)).from_(
        relations.view_table(feature_log_name(service))
    )
    if bounds:
        query = query.where(exp.and_(*bounds))
    query = query.order_by(exp.Rand()).limit(limit)
    relations.dialect.finish(query)
    return query
