"""Pieces the stacked plans share (the window plan of fsql.compile.pit, fsql.compile.visible
and fsql.compile.windows): the entity rows that can match, each key's span of entity
times, and the running match over entity rows stacked with a view's rows."""

from __future__ import annotations

from collections.abc import Sequence

from sqlglot import exp

from fsql.compile.items import ENTITY_TABLE, ENTITY_TS, ROW_ID

FEATURE_TS = "__fsql_feature_ts"
STACK_TS = "__fsql_at"
IS_ENTITY = "__fsql_is_entity"
MATCH_TS = "__fsql_match"
RUNNING_ALIAS = "__fsql_w"
LOW = "__fsql_lo"
HIGH = "__fsql_hi"


def column(name: str, table: str | None = None) -> exp.Column:
    return exp.column(name, table=table)


def table_named(name: str) -> exp.Table:
    return exp.Table(this=exp.to_identifier(name))


def not_null(value: exp.Expr) -> exp.Not:
    return exp.Not(this=exp.Is(this=value, expression=exp.null()))


def keys_equal(join_keys: Sequence[str], left: str, right: str) -> list[exp.Expr]:
    """`left.k = right.k` for every join key: a NULL key on either side never matches."""
    return [exp.EQ(this=column(k, left), expression=column(k, right)) for k in join_keys]


def entity_rows(join_keys: Sequence[str], time: exp.Expr, time_name: str) -> exp.Select:
    """`SELECT row id, keys, time AS time_name FROM entities` for the rows that can match
    anything: keys and entity time present (the others get NULL features by the LEFT
    JOIN on row id)."""
    keys = [column(k) for k in join_keys]
    present = [not_null(k.copy()) for k in keys] + [not_null(column(ENTITY_TS))]
    return (
        exp.select(column(ROW_ID), *keys, exp.alias_(time, time_name), copy=False)
        .from_(table_named(ENTITY_TABLE), copy=False)
        .where(exp.and_(*present, copy=False), copy=False)
    )


def key_bounds(join_keys: Sequence[str], entities: str, time: str) -> exp.Select:
    """Per key asked for, the earliest (`__fsql_lo`) and latest (`__fsql_hi`) entity time:
    a view row outside that span, widened by a TTL or window, is nobody's answer."""
    keys = [column(k) for k in join_keys]
    return (
        exp.select(
            *keys,
            exp.alias_(exp.Min(this=column(time)), LOW),
            exp.alias_(exp.Max(this=column(time)), HIGH),
            copy=False,
        )
        .from_(table_named(entities), copy=False)
        .group_by(*[k.copy() for k in keys], copy=False)
    )


def matched_times(join_keys: Sequence[str], stacked: str) -> exp.Select:
    """Per entity row, the newest view time at or before it (NULL when none).

    Over the stacked rows sorted by (time, is_entity), a running MAX of the view row's
    time (`__fsql_feature_ts`), taken on the entity rows. View rows sort before entity
    rows of the same time, so an entity row exactly at a row's stacking time sees it (the
    bound is inclusive). Times sort NULLS FIRST, said explicitly since engines differ
    (and sqlglot refuses some spellings for BigQuery); neither column is NULL here.
    """
    keys = [column(k) for k in join_keys]
    window = exp.Window(
        this=exp.Max(this=column(FEATURE_TS)),
        partition_by=keys,
        order=exp.Order(
            expressions=[
                exp.Ordered(this=column(STACK_TS), desc=False, nulls_first=True),
                exp.Ordered(this=column(IS_ENTITY), desc=False, nulls_first=True),
            ]
        ),
        spec=exp.WindowSpec(
            kind="ROWS", start="UNBOUNDED", start_side="PRECEDING", end="CURRENT ROW"
        ),
    )
    running = exp.select(
        column(ROW_ID), column(IS_ENTITY), exp.alias_(window, MATCH_TS), copy=False
    ).from_(table_named(stacked), copy=False)
    return (
        exp.select(column(ROW_ID), column(MATCH_TS), copy=False)
        .from_(running.subquery(RUNNING_ALIAS, copy=False), copy=False)
        .where(exp.EQ(this=column(IS_ENTITY), expression=exp.Literal.number(1)), copy=False)
    )
