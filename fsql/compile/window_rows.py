"""The rows an online store keeps for a view with windowed aggregations.

An online read at time t must equal the training-set value at t, window edges included,
so the store keeps the view's rows themselves, not values computed at one moment: every
row with `event_ts > $start` (a run's END minus the longest window; later rows too, so a
read after END counts rows the offline data already holds), one per version (the greatest
version hash, as everywhere), each with its created time and version, ordered by key.
fsql.online.windowed groups them per key and evaluates the aggregations at read time.
"""

from __future__ import annotations

from sqlglot import exp

from fsql.compile.ordering import version_hash
from fsql.compile.relations import Relations
from fsql.compile.views import CREATED_TS, EVENT_TS, VERSION, view_rows_as
from fsql.definitions.models import FeatureView

ROWS_ALIAS = "__fsql_rows"
KEYS_ALIAS = "__fsql_keys"
PUSHED_KEYS = "__fsql_pushed_keys"  # the name pushed keys are registered under


def window_rows(
    view: FeatureView, relations: Relations, push_log: bool, only_pushed: bool = False
) -> exp.Select:
    """`SELECT keys, ts AS __event_ts, created AS __created_ts, version AS __version,
    columns FROM rows WHERE keys and ts present AND ts > $start`, one per version, by key;
    with `only_pushed`, only the keys of the table registered as `__fsql_pushed_keys`
    (a push rewrites the rows of the keys it wrote)."""
    dialect = relations.dialect
    keys = [exp.column(k, table=ROWS_ALIAS) for k in view.join_keys]
    ts = exp.column(view.timestamp, table=ROWS_ALIAS)
    created: exp.Expr = (
        exp.column(view.created_timestamp, table=ROWS_ALIAS)
        if view.created_timestamp
        else exp.cast(exp.null(), dialect.timestamp())
    )
    hashed = version_hash(view.row_columns, dialect, ROWS_ALIAS)
    present = [exp.Not(this=exp.Is(this=c.copy(), expression=exp.null())) for c in (*keys, ts)]
    since = exp.GT(this=ts.copy(), expression=exp.Placeholder(this="start"))
    one_per_version = exp.Window(
        this=exp.RowNumber(),
        partition_by=[*(k.copy() for k in keys), ts.copy(), created.copy()],
        order=exp.Order(expressions=[exp.Ordered(this=hashed.copy(), desc=True)]),
    )
    source = view_rows_as(view, relations, push_log, ROWS_ALIAS)
    if only_pushed:
        pushed = (
            exp.select(*[exp.column(k) for k in view.join_keys], copy=False)
            .distinct()
            .from_(exp.Table(this=exp.to_identifier(PUSHED_KEYS)), copy=False)
        )
        on = exp.and_(
            *[exp.EQ(this=k.copy(), expression=exp.column(k.name, table=KEYS_ALIAS)) for k in keys],
            copy=False,
        )
        source = (
            exp.select(exp.Column(this=exp.Star(), table=exp.to_identifier(ROWS_ALIAS)))
            .from_(source, copy=False)
            .join(pushed.subquery(KEYS_ALIAS, copy=False), on=on, join_type="INNER", copy=False)
        )
        source = source.subquery(ROWS_ALIAS, copy=False)
    query = (
        exp.select(
            *keys,
            exp.alias_(ts.copy(), EVENT_TS),
            exp.alias_(created.copy(), CREATED_TS),
            exp.alias_(hashed, VERSION),
            *[exp.column(c, table=ROWS_ALIAS) for c in view.row_columns],
            copy=False,
        )
        .from_(source, copy=False)
        .where(exp.and_(*present, since, copy=False), copy=False)
        .qualify(exp.EQ(this=one_per_version, expression=exp.Literal.number(1)), copy=False)
        .order_by(*[k.copy() for k in keys], copy=False)
    )
    dialect.finish(query)
    return query
