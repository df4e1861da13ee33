"""The point-in-time join, written once as a sqlglot tree and lowered per dialect.

For every entity row (keys k, time t) and view V with TTL T, the chosen row of V
has keys k and the greatest (event_ts, created_ts) with `t - T <= event_ts <= t`.
Feature rows that share (keys, event_ts) are first reduced to the one with the
greatest created timestamp, so no plan has to pick among ties. The entity table is
a registered relation with a row id (`__fsql_row`) and its event time normalised
to UTC (`__fsql_ts`); results come back ordered by row id, one row per entity row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlglot import exp

from fsql.compile.ordering import infinity, order_struct, row_version
from fsql.compile.relations import Relations
from fsql.definitions.models import FeatureView

ENTITY_TABLE = "__fsql_entities"
ROW_ID = "__fsql_row"
ENTITY_TS = "__fsql_ts"
FEATURE_TS = "__fsql_feature_ts"
FEATURE_ORDER = "__fsql_order"
ENTITY_ALIAS = "e"
FEATURE_ALIAS = "f"
KEY_LO = "__fsql_lo"
KEY_HI = "__fsql_hi"


@dataclass(frozen=True)
class PitItem:
    """One view of a training set: which features, and the column name of each."""

    view: FeatureView
    features: tuple[str, ...]
    output_names: tuple[str, ...]


def _col(name: str, table: str | None = None) -> exp.Column:
    return exp.column(name, table=table)


def _table(name: str) -> exp.Table:
    return exp.Table(this=exp.to_identifier(name))


def _seconds(view: FeatureView) -> int | None:
    return int(view.ttl.total_seconds()) if view.ttl else None


def key_bounds(item: PitItem) -> exp.Select:
    """Per entity key, the span of entity times asking for it: `MAX(ts)`, and
    `MIN(ts)` when the view has a TTL. A feature row outside [MIN - TTL, MAX] of its
    key can be nobody's answer, so the join never sees it."""
    keys = [_col(k) for k in item.view.join_keys]
    bounds = [exp.alias_(exp.Max(this=_col(ENTITY_TS)), KEY_HI)]
    if item.view.ttl is not None:
        bounds.append(exp.alias_(exp.Min(this=_col(ENTITY_TS)), KEY_LO))
    return (
        exp.select(*keys, *bounds, copy=False)
        .from_(_table(ENTITY_TABLE), copy=False)
        .group_by(*[k.copy() for k in keys], copy=False)
    )


def feature_rows(item: PitItem, relations: Relations, bounds_alias: str) -> exp.Select:
    """The candidate rows of one view: those of keys some entity row asks for, inside
    that key's span of entity times (`bounds_alias`, see `key_bounds`), ties reduced.

    When the dialect's ASOF join orders by a struct, ties are not reduced here: each
    row carries `{t: event_ts, c: created_ts}` and the join itself picks the greatest.
    Pruning per key is what makes the join cheap: at 20M feature rows and 1M entity
    rows it keeps about a tenth of the rows and beats a plain ASOF join of all of them.
    """
    view = item.view
    dialect = relations.dialect
    ts = _col(view.timestamp, FEATURE_ALIAS)
    keys = [_col(k, FEATURE_ALIAS) for k in view.join_keys]
    on = exp.and_(
        *[
            exp.EQ(this=_col(k, FEATURE_ALIAS), expression=_col(k, bounds_alias))
            for k in view.join_keys
        ],
        copy=False,
    )
    conditions: list[exp.Expression] = [
        exp.LTE(this=ts.copy(), expression=_col(KEY_HI, bounds_alias))
    ]
    seconds = _seconds(view)
    if seconds is not None:
        lower = exp.Sub(this=_col(KEY_LO, bounds_alias), expression=_interval(seconds))
        conditions.append(exp.GTE(this=ts.copy(), expression=lower))
    struct_order = bool(view.created_timestamp) and dialect.asof_struct_order
    if struct_order:
        created = exp.column(str(view.created_timestamp), table=FEATURE_ALIAS)
        version = row_version(ts.copy(), created, dialect)
        time_cols: list[exp.Expression] = [exp.alias_(version, FEATURE_ORDER)]
    else:
        time_cols = [exp.alias_(ts.copy(), FEATURE_TS)]
    select = (
        exp.select(
            *[k.copy() for k in keys],
            *time_cols,
            *[_col(f, FEATURE_ALIAS) for f in item.features],
            copy=False,
        )
        .from_(relations.view_table(view.name).as_(FEATURE_ALIAS, copy=False), copy=False)
        .join(_table(bounds_alias), on=on, join_type="INNER", copy=False)
        .where(exp.and_(*conditions, copy=False), copy=False)
    )
    if view.created_timestamp and not struct_order:
        rank = exp.Window(
            this=exp.RowNumber(),
            partition_by=[*[k.copy() for k in keys], ts.copy()],
            order=exp.Order(
                expressions=[
                    exp.Ordered(
                        this=_col(view.created_timestamp, FEATURE_ALIAS),
                        desc=True,
                        nulls_first=False,
                    )
                ]
            ),
        )
        select = select.qualify(exp.EQ(this=rank, expression=exp.Literal.number(1)), copy=False)
    return select


def _feature_time(item: PitItem, alias: str, relations: Relations) -> exp.Expression:
    """The chosen row's event time: a column, or the `t` field of its version struct."""
    if item.view.created_timestamp and relations.dialect.asof_struct_order:
        return exp.Dot(this=_col(FEATURE_ORDER, alias), expression=exp.to_identifier("t"))
    return _col(FEATURE_TS, alias)


def _asof_inequality(item: PitItem, alias: str, relations: Relations) -> exp.Expression:
    """`e.ts >= f.ts`, or on (ts, created) structs when the dialect supports it."""
    if item.view.created_timestamp and relations.dialect.asof_struct_order:
        entity_side = order_struct(_col(ENTITY_TS, ENTITY_ALIAS), infinity(relations.dialect))
        return exp.GTE(this=entity_side, expression=_col(FEATURE_ORDER, alias))
    return exp.GTE(this=_col(ENTITY_TS, ENTITY_ALIAS), expression=_col(FEATURE_TS, alias))


def _interval(seconds: int) -> exp.Interval:
    return exp.Interval(this=exp.Literal.number(seconds), unit=exp.var("SECOND"))


def point_in_time_query(items: Sequence[PitItem], relations: Relations) -> exp.Select:
    """SELECT __fsql_row, <features...> FROM entities, one row per entity row, in order."""
    strategy = relations.dialect.pit_strategy
    if strategy != "asof":
        raise ValueError(f"point-in-time strategy '{strategy}' is not available")
    return _asof_query(items, relations)


def _asof_query(items: Sequence[PitItem], relations: Relations) -> exp.Select:
    """Native `ASOF LEFT JOIN` per view (left outer, one match at most per entity row)."""
    projections: list[exp.Expression] = [_col(ROW_ID, ENTITY_ALIAS)]
    query = exp.select()
    joins: list[exp.Join] = []
    for index, item in enumerate(items):
        alias = f"__fsql_v{index}"
        bounds_alias = f"__fsql_k{index}"
        query = query.with_(bounds_alias, as_=key_bounds(item), copy=False)
        query = query.with_(alias, as_=feature_rows(item, relations, bounds_alias), copy=False)
        on = exp.and_(
            *[
                exp.EQ(this=_col(k, ENTITY_ALIAS), expression=_col(k, alias))
                for k in item.view.join_keys
            ],
            _asof_inequality(item, alias, relations),
        )
        joins.append(
            exp.Join(
                this=_table(alias).as_(alias, copy=False),
                method="ASOF",
                side="LEFT",
                on=on,
            )
        )
        seconds = _seconds(item.view)
        for feature, out_name in zip(item.features, item.output_names, strict=True):
            value: exp.Expression = _col(feature, alias)
            if seconds is not None:
                # ASOF picks the newest row at or before t; older than t - T means no candidate.
                fresh = exp.GTE(
                    this=_feature_time(item, alias, relations),
                    expression=exp.Sub(
                        this=_col(ENTITY_TS, ENTITY_ALIAS), expression=_interval(seconds)
                    ),
                )
                value = exp.Case(ifs=[exp.If(this=fresh, true=value)])
            projections.append(exp.alias_(value, out_name))
    query = query.select(*projections, copy=False).from_(
        _table(ENTITY_TABLE).as_(ENTITY_ALIAS, copy=False), copy=False
    )
    for join in joins:
        query = query.join(join, copy=False)
    return query.order_by(_col(ROW_ID, ENTITY_ALIAS), copy=False)
