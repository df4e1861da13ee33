"""The point-in-time join, written once as a sqlglot tree and lowered per dialect.

For every entity row (keys k, time t) and view V with TTL T, the chosen row of V
has keys k and the greatest (event_ts, created_ts) with `t - T <= event_ts <= t`.
Feature rows that share (keys, event_ts) are first reduced to the one with the
greatest created timestamp, then the greatest version hash (fsql.compile.ordering),
so no plan picks among ties by chance (DuckDB's ASOF join does the same inside the
join, on `{t, c, v}` structs). The entity table is
a registered relation with a row id (`__fsql_row`) and its event time normalised
to UTC (`__fsql_ts`); results come back ordered by row id, one row per entity row.

Two plans share the per-key pruning CTEs (`key_bounds`, `feature_rows`):

- `asof`: the engine's native ASOF join, left outer (DuckDB `ASOF LEFT JOIN ... ON
  keys AND e.ts >= f.ts`, Snowflake `ASOF JOIN ... MATCH_CONDITION (e.ts >= f.ts) ON
  keys`);
- `window`: for engines without one, a linear sort-and-fill. Entity rows and feature
  times are stacked, a running MAX of the feature time per key marks, on each entity
  row, the newest feature row at or before it, and an equi-join on (keys, that time)
  fetches its values. Never a range join ranked per entity row: that is quadratic on
  hot keys. Never LAST_VALUE(... IGNORE NULLS): it carries an older value over a NULL
  in the chosen row.

A view with an offline push log (`<view>__push`, rows written by `fsql push`) takes
its candidate rows from the view table UNION ALL the log, so training sees what
serving saw. A pushed row that repeats a table row (a retried push) is a tie like any
other: the reduction above, or the ASOF join itself, keeps one of them.

Size: the point-in-time join in its two plans (ASOF and window) shares candidate
selection, TTL and ordering; one module keeps the plans provably alike.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlglot import exp

from fsql.compile.items import ENTITY_ALIAS, ENTITY_TABLE, ENTITY_TS, ROW_ID, PitItem
from fsql.compile.lint import check_dialect
from fsql.compile.ordering import infinity, order_struct, row_version, version_hash
from fsql.compile.relations import Relations
from fsql.compile.stacking import (
    FEATURE_TS,
    IS_ENTITY,
    MATCH_TS,
    STACK_TS,
    keys_equal,
    matched_times,
)
from fsql.compile.stacking import column as _col
from fsql.compile.stacking import table_named as _table
from fsql.compile.views import item_rows_as
from fsql.compile.visible import visible_features
from fsql.compile.windows import windowed_features
from fsql.definitions.models import FeatureView
from fsql.definitions.types import FeatureType
from fsql.dialects.base import EngineDialect

FEATURE_ORDER = "__fsql_order"
FEATURE_ALIAS = "f"
KEY_LO = "__fsql_lo"
KEY_HI = "__fsql_hi"


def _seconds(view: FeatureView) -> int | None:
    return int(view.ttl.total_seconds()) if view.ttl else None


def _struct_order(item: PitItem, relations: Relations) -> bool:
    """Ties are broken inside the join on `{t, c, v}` structs (DuckDB's ASOF only)."""
    return relations.dialect.struct_order_join


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
        *_keys_equal(item, FEATURE_ALIAS, bounds_alias),
        copy=False,
    )
    conditions: list[exp.Expression] = [
        exp.LTE(this=ts.copy(), expression=_col(KEY_HI, bounds_alias))
    ]
    seconds = _seconds(view)
    if seconds is not None:
        lower = exp.Sub(this=_col(KEY_LO, bounds_alias), expression=_interval(seconds))
        conditions.append(exp.GTE(this=ts.copy(), expression=lower))
    struct_order = _struct_order(item, relations)
    if struct_order:
        created = (
            exp.column(view.created_timestamp, table=FEATURE_ALIAS)
            if view.created_timestamp
            else None
        )
        hashed = version_hash(view.feature_names, dialect, FEATURE_ALIAS)
        version = row_version(ts.copy(), created, hashed, dialect)
        time_cols: list[exp.Expr] = [exp.alias_(version, FEATURE_ORDER)]
    else:
        time_cols = [exp.alias_(ts.copy(), FEATURE_TS)]
    select = (
        exp.select(
            *[k.copy() for k in keys],
            *time_cols,
            *[_col(f, FEATURE_ALIAS) for f in item.features],
            copy=False,
        )
        .from_(_candidate_source(item, relations), copy=False)
        .join(_table(bounds_alias), on=on, join_type="INNER", copy=False)
        .where(exp.and_(*conditions, copy=False), copy=False)
    )
    # Without struct order, one row per (keys, time) is kept first: the window plan's
    # equi-join on (keys, time) would return them all, and an ASOF join would take any.
    if not struct_order:
        select = select.qualify(_first_per_time(view, keys, ts, dialect), copy=False)
    return select


def _candidate_source(item: PitItem, relations: Relations) -> exp.Expr:
    """`view AS f`, or with a push log the union of table and log (`view_rows`) as `f`."""
    return item_rows_as(item, relations, FEATURE_ALIAS)


def _first_per_time(
    view: FeatureView, keys: list[exp.Column], ts: exp.Column, dialect: EngineDialect
) -> exp.EQ:
    """`ROW_NUMBER() OVER (PARTITION BY keys, ts ORDER BY created DESC NULLS LAST,
    version DESC) = 1`: the greatest created time, then the greatest version hash."""
    order = []
    if view.created_timestamp:
        created = _col(view.created_timestamp, FEATURE_ALIAS)
        order.append(exp.Ordered(this=created, desc=True, nulls_first=False))
    hashed = version_hash(view.feature_names, dialect, FEATURE_ALIAS)
    order.append(exp.Ordered(this=hashed, desc=True, nulls_first=False))
    rank = exp.Window(
        this=exp.RowNumber(),
        partition_by=[*[k.copy() for k in keys], ts.copy()],
        order=exp.Order(expressions=order),
    )
    return exp.EQ(this=rank, expression=exp.Literal.number(1))


def _feature_time(item: PitItem, alias: str, relations: Relations) -> exp.Expression:
    """The chosen row's event time: a column, or the `t` field of its version struct."""
    if _struct_order(item, relations):
        return exp.Dot(this=_col(FEATURE_ORDER, alias), expression=exp.to_identifier("t"))
    return _col(FEATURE_TS, alias)


def _asof_inequality(item: PitItem, alias: str, relations: Relations) -> exp.Expression:
    """`e.ts >= f.ts`, or on (ts, created) structs when the dialect supports it."""
    if _struct_order(item, relations):
        dialect = relations.dialect
        zero = exp.cast(exp.Literal.number(0), dialect.data_type(FeatureType.INT64))
        # c = +infinity: every feature row of time <= t qualifies, whatever its c and v.
        entity_side = order_struct(_col(ENTITY_TS, ENTITY_ALIAS), infinity(dialect), zero)
        return exp.GTE(this=entity_side, expression=_col(FEATURE_ORDER, alias))
    return exp.GTE(this=_col(ENTITY_TS, ENTITY_ALIAS), expression=_col(FEATURE_TS, alias))


def _interval(seconds: int) -> exp.Interval:
    return exp.Interval(this=exp.Literal.number(seconds), unit=exp.var("SECOND"))


def _keys_equal(item: PitItem, left: str, right: str) -> list[exp.Expr]:
    return keys_equal(item.view.join_keys, left, right)


def _feature_columns(item: PitItem, alias: str, relations: Relations) -> list[exp.Expr]:
    """The view's requested features, NULL where the chosen row is older than t - TTL."""
    seconds = _seconds(item.view)
    columns: list[exp.Expr] = []
    for feature, out_name in zip(item.features, item.output_names, strict=True):
        value: exp.Expression = _col(feature, alias)
        if seconds is not None:
            # Both plans pick the newest row at or before t; older than t - T means none.
            fresh = exp.GTE(
                this=_feature_time(item, alias, relations),
                expression=exp.Sub(
                    this=_col(ENTITY_TS, ENTITY_ALIAS), expression=_interval(seconds)
                ),
            )
            value = exp.Case(ifs=[exp.If(this=fresh, true=value)])
        columns.append(exp.alias_(value, out_name))
    return columns


def point_in_time_query(
    items: Sequence[PitItem], relations: Relations, entity_columns: Sequence[str] = ()
) -> exp.Select:
    """SELECT __fsql_row, <features...> FROM entities, one row per entity row, in order.

    `entity_columns` are further columns of the entity table passed through after the
    features (the request columns of on-demand features, computed over this result)."""
    strategy = relations.dialect.pit_strategy
    if strategy == "asof":
        query = _asof_query(items, relations)
    elif strategy == "window":
        query = _window_query(items, relations)
    else:
        raise ValueError(f"point-in-time strategy '{strategy}' is not available")
    if entity_columns:
        extra = [_col(name, ENTITY_ALIAS) for name in entity_columns]
        query = query.select(*extra, append=True, copy=False)
    relations.dialect.finish(query)
    if relations.dialect.lint_rules:
        views = ", ".join(item.view.name for item in items)
        check_dialect(
            query,
            relations.dialect,
            f"training set ({views})",
            hint="this is a bug in fsql; please report it with the SQL",
        )
    return query


def _with_candidates(
    query: exp.Select, index: int, item: PitItem, relations: Relations
) -> tuple[exp.Select, str]:
    """Add view `index`'s key bounds and pruned feature rows as CTEs; returns the rows' name."""
    alias = f"__fsql_v{index}"
    bounds_alias = f"__fsql_k{index}"
    query = query.with_(bounds_alias, as_=key_bounds(item), copy=False)
    query = query.with_(alias, as_=feature_rows(item, relations, bounds_alias), copy=False)
    return query, alias


def _from_entities(query: exp.Select, projections: list[exp.Expr]) -> exp.Select:
    return query.select(*projections, copy=False).from_(
        _table(ENTITY_TABLE).as_(ENTITY_ALIAS, copy=False), copy=False
    )


def _asof_query(items: Sequence[PitItem], relations: Relations) -> exp.Select:
    """Native ASOF join per view (left outer, one match at most per entity row)."""
    projections: list[exp.Expr] = [_col(ROW_ID, ENTITY_ALIAS)]
    query = exp.select()
    joins: list[exp.Join] = []
    for index, item in enumerate(items):
        if item.view.aggregations or item.view.visible_at == "created_timestamp":
            query = _own_plan(query, index, item, relations, joins, projections)
            continue
        query, alias = _with_candidates(query, index, item, relations)
        joins.append(_asof_join(item, alias, relations))
        projections.extend(_feature_columns(item, alias, relations))
    query = _from_entities(query, projections)
    for join in joins:
        query = query.join(join, copy=False)
    return query.order_by(_col(ROW_ID, ENTITY_ALIAS), copy=False)


def _asof_join(item: PitItem, alias: str, relations: Relations) -> exp.Join:
    """DuckDB's `ASOF LEFT JOIN ... ON keys AND ineq`, or Snowflake's
    `ASOF JOIN ... MATCH_CONDITION (ineq) ON keys` (left outer as it stands).

    Keys compare with `=`, so a NULL entity key never matches and gets NULL features.
    The inequality keeps the entity side on the left: Snowflake requires the left
    table's column first, and nothing here runs sqlglot's optimizer, which has been
    seen swapping MATCH_CONDITION operands.
    """
    inequality = _asof_inequality(item, alias, relations)
    keys = _keys_equal(item, ENTITY_ALIAS, alias)
    right = _table(alias).as_(alias, copy=False)
    if relations.dialect.asof_match_condition:
        return exp.Join(
            this=right,
            method="ASOF",
            match_condition=inequality,
            on=exp.and_(*keys, copy=False),
        )
    return exp.Join(this=right, method="ASOF", side="LEFT", on=exp.and_(*keys, inequality))


def _window_query(items: Sequence[PitItem], relations: Relations) -> exp.Select:
    """The portable plan: per view, stacked rows, a running max, and two equi-joins.

    `__fsql_s<i>` stacks entity rows and candidate times; `__fsql_m<i>` holds, per
    entity row id, the time of the newest candidate row at or before it
    (`__fsql_match`); joining `__fsql_v<i>` on (keys, that time) fetches the row, and
    the LEFT JOINs keep one output row per entity row.
    """
    projections: list[exp.Expr] = [_col(ROW_ID, ENTITY_ALIAS)]
    query = exp.select()
    joins: list[exp.Join] = []
    for index, item in enumerate(items):
        if item.view.aggregations or item.view.visible_at == "created_timestamp":
            query = _own_plan(query, index, item, relations, joins, projections)
            continue
        query, alias = _with_candidates(query, index, item, relations)
        stacked, matches = f"__fsql_s{index}", f"__fsql_m{index}"
        query = query.with_(stacked, as_=_stacked_rows(item, alias, relations), copy=False)
        query = query.with_(matches, as_=matched_times(item.view.join_keys, stacked), copy=False)
        by_row = exp.EQ(this=_col(ROW_ID, matches), expression=_col(ROW_ID, ENTITY_ALIAS))
        same_time = exp.EQ(this=_col(FEATURE_TS, alias), expression=_col(MATCH_TS, matches))
        joins.append(_left_join(matches, by_row))
        joins.append(
            _left_join(
                alias, exp.and_(*_keys_equal(item, alias, ENTITY_ALIAS), same_time, copy=False)
            )
        )
        projections.extend(_feature_columns(item, alias, relations))
    query = _from_entities(query, projections)
    for join in joins:
        query = query.join(join, copy=False)
    return query.order_by(_col(ROW_ID, ENTITY_ALIAS), copy=False)


def _own_plan(
    query: exp.Select,
    index: int,
    item: PitItem,
    relations: Relations,
    joins: list[exp.Join],
    projections: list[exp.Expr],
) -> exp.Select:
    """A view with aggregations (fsql.compile.windows) or with `visible_at:
    created_timestamp` (fsql.compile.visible), in either plan: their CTEs and joins."""
    if item.view.aggregations:
        query, item_joins, columns = windowed_features(query, index, item, relations)
    else:
        source = _candidate_source(item, relations)
        query, item_joins, columns = visible_features(query, index, item, relations, source)
    joins.extend(item_joins)
    projections.extend(columns)
    return query


def _left_join(name: str, on: exp.Expr) -> exp.Join:
    return exp.Join(this=_table(name).as_(name, copy=False), side="LEFT", on=on)


def _stacked_rows(item: PitItem, rows: str, relations: Relations) -> exp.Union:
    """Entity rows `(keys, ts, NULL, row id, 1)` UNION ALL feature rows
    `(keys, feature ts, feature ts, NULL, 0)`, each column cast to one type.

    Entity rows with a NULL key or time are left out: they can match nothing, and the
    LEFT JOIN on row id gives them NULL features. Keys are not cast: their SQL type is
    the model's, unknown here; the entity table's keys were checked to be of the same
    family before the join runs, and engines widen integers in a UNION.
    """
    dialect = relations.dialect
    keys = item.view.join_keys

    def typed(value: exp.Expr, dtype: exp.DataType, name: str) -> exp.Expr:
        return exp.alias_(exp.cast(value, dtype, copy=False), name, copy=False)

    present = [exp.Not(this=exp.Is(this=_col(c), expression=exp.null())) for c in keys]
    present.append(exp.Not(this=exp.Is(this=_col(ENTITY_TS), expression=exp.null())))
    entities = (
        exp.select(
            *[_col(k) for k in keys],
            typed(_col(ENTITY_TS), dialect.timestamp(), STACK_TS),
            typed(exp.null(), dialect.timestamp(), FEATURE_TS),
            typed(_col(ROW_ID), dialect.data_type(FeatureType.INT64), ROW_ID),
            exp.alias_(exp.Literal.number(1), IS_ENTITY),
            copy=False,
        )
        .from_(_table(ENTITY_TABLE), copy=False)
        .where(exp.and_(*present, copy=False), copy=False)
    )
    features = exp.select(
        *[_col(k) for k in keys],
        typed(_col(FEATURE_TS), dialect.timestamp(), STACK_TS),
        typed(_col(FEATURE_TS), dialect.timestamp(), FEATURE_TS),
        typed(exp.null(), dialect.data_type(FeatureType.INT64), ROW_ID),
        exp.alias_(exp.Literal.number(0), IS_ENTITY),
        copy=False,
    ).from_(_table(rows), copy=False)
    return exp.union(entities, features, distinct=False, copy=False)
