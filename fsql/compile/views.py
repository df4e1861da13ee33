"""The SQL that builds a view's offline table, and its latest-per-key materialization.

The table is the model's output with the timestamp columns cast to UTC
TIMESTAMPTZ and each declared feature cast to its declared type, so training
sets, materialization and `ref()` consumers all see the declared schema.
"""

from __future__ import annotations

from sqlglot import exp

from fsql.compile.relations import Relations
from fsql.definitions.models import FeatureView
from fsql.dialects.base import EngineDialect

MODEL_ALIAS = "__fsql_model"


def _casts(view: FeatureView, dialect: EngineDialect) -> list[exp.Expression]:
    casts: list[exp.Expression] = []
    for col in (view.timestamp, view.created_timestamp):
        if col:
            cast = exp.cast(exp.column(col), dialect.timestamp(), copy=False)
            casts.append(exp.alias_(cast, col, copy=False))
    for feature in view.features:
        target = dialect.data_type(feature.type)
        cast = exp.cast(exp.column(feature.name), target, copy=False)
        casts.append(exp.alias_(cast, feature.name, copy=False))
    return casts


def table_query(view: FeatureView, relations: Relations, incremental: bool = False) -> exp.Query:
    """SELECT producing the view's table: the model, with declared types enforced."""
    model = relations.resolve(view.incremental_query if incremental else view.query)
    star = exp.Star(replace=_casts(view, relations.dialect))
    # Builders copy their inputs by default; these trees are fresh, so skip the copies.
    return exp.select(star, copy=False).from_(model.subquery(MODEL_ALIAS, copy=False), copy=False)


def create_table(view: FeatureView, relations: Relations) -> exp.Create:
    """CREATE OR REPLACE TABLE: atomic in every engine we target."""
    return exp.Create(
        this=relations.view_table(view.name),
        kind="TABLE",
        replace=True,
        expression=table_query(view, relations),
    )


def _col(name: str, table: str | None = None) -> exp.Column:
    return exp.column(name, table=table)


def latest_per_key(view: FeatureView, relations: Relations, with_start: bool) -> exp.Query:
    """Per entity key, the row the point-in-time rule picks at `$end`.

    Rows are limited to `$start <= ts <= $end` when `with_start`; ties on event time
    go to the greatest created timestamp. Output is ordered by key because online
    stores write sorted keys several times faster.
    """
    dialect = relations.dialect
    ts = _col(view.timestamp)
    keys = [_col(k) for k in view.join_keys]
    created = _col(view.created_timestamp) if view.created_timestamp else None
    order = [exp.Ordered(this=ts.copy(), desc=True)]
    if created is not None:
        order.append(exp.Ordered(this=created.copy(), desc=True, nulls_first=False))
    rank = exp.Window(
        this=exp.RowNumber(),
        partition_by=[k.copy() for k in keys],
        order=exp.Order(expressions=order),
    )
    created_out = (
        created.copy()
        if created is not None
        else exp.cast(exp.null(), dialect.timestamp(), copy=False)
    )
    where: exp.Expression = exp.and_(
        *[exp.Not(this=exp.Is(this=k.copy(), expression=exp.null())) for k in keys],
        exp.Not(this=exp.Is(this=ts.copy(), expression=exp.null())),
        exp.LTE(this=ts.copy(), expression=exp.Placeholder(this="end")),
        copy=False,
    )
    if with_start:
        start = exp.GTE(this=ts.copy(), expression=exp.Placeholder(this="start"))
        where = exp.and_(where, start, copy=False)
    return (
        exp.select(
            *[k.copy() for k in keys],
            exp.alias_(ts.copy(), "__event_ts"),
            exp.alias_(created_out, "__created_ts"),
            *[_col(f.name) for f in view.features],
            copy=False,
        )
        .from_(relations.view_table(view.name), copy=False)
        .where(where, copy=False)
        .qualify(exp.EQ(this=rank, expression=exp.Literal.number(1)), copy=False)
        .order_by(*[k.copy() for k in keys], copy=False)
    )
