"""The point-in-time join of a view with `visible_at: created_timestamp`, linear in rows.

Such a view adds a condition to the rule of fsql.compile.pit: a row is a candidate at t
only once it had arrived, `created_ts <= t` (a row without a created time: from its event
time). Leakage from late, back-dated or restated rows is gone: a correction written on
Tuesday for Monday is not seen by a label on Monday evening.

A row is visible at t exactly when its *visibility time* `vis = max(event_ts, created_ts)`
is at most t (`event_ts <= t` is part of it). So the plan is the window plan of
fsql.compile.pit with the view's rows stacked at `vis` instead of `event_ts`: a running
MAX of event time over each key's stack, taken on the entity rows, is the newest event
time among the rows visible at t. Versions at that event time are then fetched by an
equi-join on (keys, event time), kept only if created by t, and ranked by created time
(NULL lowest) and version hash: a handful of rows per entity row, never a range join.
The TTL applies to the chosen event time, as in the other plans. One plan for every
dialect: it needs no ASOF join and no STRUCT comparison.
"""

from __future__ import annotations

from sqlglot import exp

from fsql.compile.items import ENTITY_ALIAS, ENTITY_TS, ROW_ID, PitItem
from fsql.compile.ordering import version_hash
from fsql.compile.relations import Relations
from fsql.compile.stacking import (
    FEATURE_TS,
    HIGH,
    IS_ENTITY,
    LOW,
    MATCH_TS,
    STACK_TS,
    entity_rows,
    key_bounds,
    keys_equal,
    matched_times,
)
from fsql.compile.stacking import column as _col
from fsql.compile.stacking import not_null as _not_null
from fsql.compile.stacking import table_named as _table
from fsql.definitions.types import FeatureType

ROWS_ALIAS = "f"
CREATED = "__fsql_created"
VERSION = "__fsql_version"
VISIBLE = "__fsql_vis"


def _ttl(item: PitItem) -> exp.Interval | None:
    ttl = item.view.ttl
    if ttl is None:
        return None
    return exp.Interval(this=exp.Literal.number(int(ttl.total_seconds())), unit=exp.var("SECOND"))


def visible_features(
    query: exp.Select, index: int, item: PitItem, relations: Relations, source: exp.Expr
) -> tuple[exp.Select, list[exp.Join], list[exp.Expr]]:
    """Add view `index`'s CTEs to `query`, reading candidate rows from `source` (the
    view's rows aliased `f`); returns the query, the join onto the entity table (`e`) and
    the requested features, in order."""
    view = item.view
    names = {part: f"__fsql_{part}{index}" for part in ("ve", "vb", "vc", "vs", "vm", "vp")}
    query = query.with_(
        names["ve"], as_=entity_rows(view.join_keys, _col(ENTITY_TS), ENTITY_TS), copy=False
    )
    query = query.with_(
        names["vb"], as_=key_bounds(view.join_keys, names["ve"], ENTITY_TS), copy=False
    )
    candidates = _candidates(item, relations, source, names["vb"])
    query = query.with_(names["vc"], as_=candidates, copy=False)
    stacked = _stacked(item, relations, names["ve"], names["vc"])
    query = query.with_(names["vs"], as_=stacked, copy=False)
    query = query.with_(names["vm"], as_=matched_times(view.join_keys, names["vs"]), copy=False)
    picked = _picked(item, names["ve"], names["vc"], names["vm"])
    query = query.with_(names["vp"], as_=picked, copy=False)
    chosen = names["vp"]
    on = exp.EQ(this=_col(ROW_ID, chosen), expression=_col(ROW_ID, ENTITY_ALIAS))
    join = exp.Join(this=_table(chosen).as_(chosen, copy=False), side="LEFT", on=on)
    ttl = _ttl(item)
    projections: list[exp.Expr] = []
    for feature, out_name in zip(item.features, item.output_names, strict=True):
        value: exp.Expr = _col(feature, chosen)
        if ttl is not None:
            fresh = exp.GTE(
                this=_col(FEATURE_TS, chosen),
                expression=exp.Sub(this=_col(ENTITY_TS, ENTITY_ALIAS), expression=ttl.copy()),
            )
            value = exp.Case(ifs=[exp.If(this=fresh, true=value)])
        projections.append(exp.alias_(value, out_name, copy=False))
    return query, [join], projections


def _candidates(item: PitItem, relations: Relations, source: exp.Expr, bounds: str) -> exp.Select:
    """Rows of keys asked for, visible by the key's last entity time and, with a TTL, not
    older than its first entity time minus the TTL; ties are not reduced here."""
    view = item.view
    ts = _col(view.timestamp, ROWS_ALIAS)
    created = _col(str(view.created_timestamp), ROWS_ALIAS)
    later = exp.GT(this=created.copy(), expression=ts.copy())
    visible = exp.Case(ifs=[exp.If(this=later, true=created.copy())], default=ts.copy())
    on = exp.and_(
        *keys_equal(view.join_keys, ROWS_ALIAS, bounds),
        copy=False,
    )
    conditions: list[exp.Expr] = [
        _not_null(ts.copy()),
        exp.LTE(this=visible.copy(), expression=_col(HIGH, bounds)),
    ]
    ttl = _ttl(item)
    if ttl is not None:
        lower = exp.Sub(this=_col(LOW, bounds), expression=ttl)
        conditions.append(exp.GTE(this=ts.copy(), expression=lower))
    hashed = version_hash(view.feature_names, relations.dialect, ROWS_ALIAS)
    return (
        exp.select(
            *[_col(k, ROWS_ALIAS) for k in view.join_keys],
            exp.alias_(ts.copy(), FEATURE_TS),
            exp.alias_(created.copy(), CREATED),
            exp.alias_(hashed, VERSION),
            exp.alias_(visible, VISIBLE),
            *[_col(f, ROWS_ALIAS) for f in dict.fromkeys(item.features)],
            copy=False,
        )
        .from_(source, copy=False)
        .join(_table(bounds).as_(bounds, copy=False), on=on, join_type="INNER", copy=False)
        .where(exp.and_(*conditions, copy=False), copy=False)
    )


def _stacked(item: PitItem, relations: Relations, entities: str, rows: str) -> exp.Union:
    """Entity rows at their time UNION ALL candidate rows at their visibility time."""
    dialect = relations.dialect
    keys = item.view.join_keys

    def typed(value: exp.Expr, dtype: exp.DataType, name: str) -> exp.Expr:
        return exp.alias_(exp.cast(value, dtype, copy=False), name, copy=False)

    asking = exp.select(
        *[_col(k) for k in keys],
        typed(_col(ENTITY_TS), dialect.timestamp(), STACK_TS),
        typed(exp.null(), dialect.timestamp(), FEATURE_TS),
        typed(_col(ROW_ID), dialect.data_type(FeatureType.INT64), ROW_ID),
        exp.alias_(exp.Literal.number(1), IS_ENTITY),
        copy=False,
    ).from_(_table(entities), copy=False)
    visible = exp.select(
        *[_col(k) for k in keys],
        typed(_col(VISIBLE), dialect.timestamp(), STACK_TS),
        typed(_col(FEATURE_TS), dialect.timestamp(), FEATURE_TS),
        typed(exp.null(), dialect.data_type(FeatureType.INT64), ROW_ID),
        exp.alias_(exp.Literal.number(0), IS_ENTITY),
        copy=False,
    ).from_(_table(rows), copy=False)
    return exp.union(asking, visible, distinct=False, copy=False)


def _picked(item: PitItem, entities: str, rows: str, matches: str) -> exp.Select:
    """Per entity row, the version at the matched event time that had arrived by its
    time: the greatest created time (NULL lowest), then the greatest version hash."""
    view = item.view
    same_keys = keys_equal(view.join_keys, rows, entities)
    arrived = exp.or_(
        exp.Is(this=_col(CREATED, rows), expression=exp.null()),
        exp.LTE(this=_col(CREATED, rows), expression=_col(ENTITY_TS, entities)),
        copy=False,
    )
    on_rows = exp.and_(
        *same_keys,
        exp.EQ(this=_col(FEATURE_TS, rows), expression=_col(MATCH_TS, matches)),
        exp.paren(arrived, copy=False),
        copy=False,
    )
    rank = exp.Window(
        this=exp.RowNumber(),
        partition_by=[_col(ROW_ID, matches)],
        order=exp.Order(
            expressions=[
                exp.Ordered(this=_col(CREATED, rows), desc=True, nulls_first=False),
                exp.Ordered(this=_col(VERSION, rows), desc=True, nulls_first=False),
            ]
        ),
    )
    on_entity = exp.EQ(this=_col(ROW_ID, entities), expression=_col(ROW_ID, matches))
    return (
        exp.select(
            _col(ROW_ID, matches),
            _col(FEATURE_TS, rows),
            *[_col(f, rows) for f in dict.fromkeys(item.features)],
            copy=False,
        )
        .from_(_table(matches).as_(matches, copy=False), copy=False)
        .join(
            _table(entities).as_(entities, copy=False), on=on_entity, join_type="INNER", copy=False
        )
        .join(_table(rows).as_(rows, copy=False), on=on_rows, join_type="INNER", copy=False)
        .qualify(exp.EQ(this=rank, expression=exp.Literal.number(1)), copy=False)
    )
