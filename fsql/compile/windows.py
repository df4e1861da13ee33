"""Windowed aggregations in training sets, exact at every entity time.

For an entity row with keys k at time t (rounded down to the view's
`aggregation_interval`, if any) and a window w, a feature aggregates the view's rows
with keys k and `t - w < event_ts <= t` (SPEC §2). Versions of one row (equal keys,
event and created time) count once: the one with the greatest version hash. Times are
whole microseconds since the epoch (`__fsql_at`).

Two methods, chosen per key inside the one query, by the key's rows in its span:

- **frames**, for keys with more than HOT_KEY_ROWS rows: entity rows are stacked with
  the key's rows, and each feature is a window function per key ordered by time with
  the frame `RANGE BETWEEN w - 1 PRECEDING AND CURRENT ROW`: exactly `t - w < at <= t`,
  rows at `t` included as the entity row's peers. Entity rows carry NULL values and no
  row marker, so they change no aggregate. Engines evaluate such frames with segment
  trees or running state, never per pair of rows: the cost grows with the rows, however
  many of them one key holds;
- **a join**, for the other keys: each entity row joined to its key's rows in the
  longest window, one `FUNC(CASE WHEN in window THEN value END)` per feature. With few
  rows per key this is cheaper than sorting the stack, and it never grows large.

`count` counts a row marker (rows) or the column (non-NULL values); `sum`, `avg`, `min`,
`max` and `stddev` (STDDEV_SAMP) ignore NULLs, as the SPEC says; `last` takes the greatest
row number (`__fsql_seq`, rows ordered by event time, created time, version) in the window
and fetches that row, so a NULL value is returned as it is, not skipped. `count_distinct`
has no framed form in BigQuery or Snowflake, and a view with `visible_at:
created_timestamp` needs a second condition (`created_ts <= t`) no frame expresses: those
always take the join, whose cost then grows with the rows per key in the window.

Rows are pruned first to the keys the entity table asks for, and to the span of their
entity times widened by the longest window. Frames are whole microseconds: event times
with finer digits (Snowflake keeps nanoseconds) count from the microsecond they fall in.

Size: one plan of a dozen CTEs (entity times, key bounds, rows, rows per key, the split,
stack, frames, join) that must agree on their column names; split into modules, they
would only pass them around.
"""

from __future__ import annotations

from sqlglot import exp

from fsql.compile.items import ENTITY_ALIAS, ENTITY_TS, ROW_ID, PitItem
from fsql.compile.ordering import version_hash
from fsql.compile.relations import Relations
from fsql.compile.stacking import HIGH, LOW, entity_rows, key_bounds, keys_equal
from fsql.compile.stacking import column as _col
from fsql.compile.stacking import not_null as _not_null
from fsql.compile.stacking import table_named as _table
from fsql.compile.views import item_rows_as
from fsql.definitions.aggregations import Aggregation
from fsql.dialects.base import built_type

AT = "__fsql_at"  # microseconds since the epoch
EVENT = "__fsql_ev"  # 1 on the view's rows, NULL on entity rows
SEQ = "__fsql_seq"  # a view row's place in its key's order of versions
CREATED = "__fsql_cr"  # created time in microseconds (views visible at created time)
ROWS_ALIAS = "f"
FRAMED = "__fsql_framed"
ROW_COUNT = "__fsql_n"
# Keys with more rows than this in their span are aggregated by window frames; the others
# by a join of each entity row to its key's rows, cheaper while a key has few rows.
HOT_KEY_ROWS = 64

_FRAMED_FUNCTIONS: dict[str, type[exp.Func]] = {
    "sum": exp.Sum,
    "avg": exp.Avg,
    "min": exp.Min,
    "max": exp.Max,
    "stddev": exp.StddevSamp,
}


def _value_name(index: int) -> str:
    return f"__fsql_f{index}"


def windowed_features(
    query: exp.Select, index: int, item: PitItem, relations: Relations
) -> tuple[exp.Select, list[exp.Join], list[exp.Expr]]:
    """Add view `index`'s CTEs to `query`; returns it with the joins onto the entity
    table (aliased `e`) and the projections, one per requested feature, in order."""
    view = item.view
    by_name = {agg.name: agg for agg in view.aggregations}
    wanted = [by_name[name] for name in item.features]
    parts = ("e", "b", "r", "q", "a", "d", "l", "n", "h", "g", "k")
    names = {part: f"__fsql_{part}{index}" for part in parts}
    query = query.with_(names["e"], as_=_entity_times(item, relations), copy=False)
    query = query.with_(names["b"], as_=key_bounds(view.join_keys, names["e"], AT), copy=False)
    longest = max(agg.window_micros for agg in wanted)
    # Only what the requested features read: their columns, and row numbers for `last`.
    columns = tuple(dict.fromkeys(agg.column for agg in wanted if agg.column))
    numbered = any(agg.function == "last" for agg in wanted)
    visible = view.visible_at == "created_timestamp"
    rows = _view_rows(item, relations, names["b"], longest, columns, numbered, visible)
    query = query.with_(names["r"], as_=rows, copy=False)
    # count_distinct, and every feature of a view visible at created time, take the join.
    joined = [
        (j, agg) for j, agg in enumerate(wanted) if visible or agg.function == "count_distinct"
    ]
    framed = [(j, agg) for j, agg in enumerate(wanted) if (j, agg) not in joined]
    joins: list[exp.Join] = []
    on_row = {}
    if framed:
        # Keys with many rows are aggregated by frames, the others by a join (see above).
        query = query.with_(names["n"], as_=_rows_per_key(item, names["r"]), copy=False)
        for part, hot in (("h", True), ("g", False)):
            split = _entities_of(item, names["e"], names["n"], hot)
            query = query.with_(names[part], as_=split, copy=False)
        query = query.with_(
            names["k"], as_=_rows_of_hot_keys(item, names["r"], names["n"]), copy=False
        )
        stacked = _stacked(item, names["h"], names["k"], columns, numbered)
        query = query.with_(names["q"], as_=stacked, copy=False)
        by_frames = _framed(item, names["q"], framed)
        by_join = _joined(item, names["g"], names["r"], framed, visible=False)
        both = exp.union(by_frames, by_join, distinct=False, copy=False)
        query = query.with_(names["a"], as_=both, copy=False)
        joins.append(_left_join(names["a"], names["a"]))
        on_row.update({j: names["a"] for j, _ in framed})
    if joined:
        by_join = _joined(item, names["e"], names["r"], joined, visible)
        query = query.with_(names["d"], as_=by_join, copy=False)
        joins.append(_left_join(names["d"], names["d"]))
        on_row.update({j: names["d"] for j, _ in joined})
    projections: list[exp.Expr] = []
    for j, agg in enumerate(wanted):
        value: exp.Expr = _col(_value_name(j), on_row[j])
        if agg.function == "last":
            alias = f"{names['l']}_{j}"
            joins.append(_last_row(item, names["r"], alias, value))
            value = _col(str(agg.column), alias)
        cast = exp.cast(value, relations.dialect.data_type(agg.type), copy=False)
        projections.append(exp.alias_(cast, item.output_names[j], copy=False))
    return query, joins, projections


def _rows_per_key(item: PitItem, rows: str) -> exp.Select:
    """How many rows each key has in its span (`__fsql_n`)."""
    keys = [_col(k) for k in item.view.join_keys]
    return (
        exp.select(*keys, exp.alias_(exp.Count(this=exp.Star()), ROW_COUNT), copy=False)
        .from_(_table(rows), copy=False)
        .group_by(*[k.copy() for k in keys], copy=False)
    )


def _is_hot(counts: str) -> exp.Expr:
    return exp.GT(this=_col(ROW_COUNT, counts), expression=exp.Literal.number(HOT_KEY_ROWS))


def _entities_of(item: PitItem, entities: str, counts: str, hot: bool) -> exp.Select:
    """The entity rows whose key has more than HOT_KEY_ROWS rows (`hot`), or the others
    (no row at all included)."""
    view = item.view
    on = exp.and_(
        *keys_equal(view.join_keys, entities, counts),
        copy=False,
    )
    where = (
        _is_hot(counts)
        if hot
        else exp.or_(
            exp.Is(this=_col(ROW_COUNT, counts), expression=exp.null()),
            exp.Not(this=exp.paren(_is_hot(counts), copy=False)),
            copy=False,
        )
    )
    return (
        exp.select(
            _col(ROW_ID, entities),
            *[_col(k, entities) for k in view.join_keys],
            _col(AT, entities),
            copy=False,
        )
        .from_(_table(entities).as_(entities, copy=False), copy=False)
        .join(
            _table(counts).as_(counts, copy=False),
            on=on,
            join_type="INNER" if hot else "LEFT",
            copy=False,
        )
        .where(where, copy=False)
    )


def _rows_of_hot_keys(item: PitItem, rows: str, counts: str) -> exp.Select:
    """The view's rows of the keys aggregated by frames."""
    view = item.view
    on = exp.and_(
        *keys_equal(view.join_keys, rows, counts),
        copy=False,
    )
    return (
        exp.select(exp.Column(this=exp.Star(), table=exp.to_identifier(rows)), copy=False)
        .from_(_table(rows).as_(rows, copy=False), copy=False)
        .join(_table(counts).as_(counts, copy=False), on=on, join_type="INNER", copy=False)
        .where(_is_hot(counts), copy=False)
    )


def _left_join(name: str, alias: str) -> exp.Join:
    on = exp.EQ(this=_col(ROW_ID, alias), expression=_col(ROW_ID, ENTITY_ALIAS))
    return exp.Join(this=_table(name).as_(alias, copy=False), side="LEFT", on=on)


def _entity_times(item: PitItem, relations: Relations) -> exp.Select:
    """Entity rows that can match (keys and time present): row id, keys, and the time
    in microseconds, rounded down to the view's aggregation interval."""
    view = item.view
    at: exp.Expr = relations.dialect.epoch_micros(_col(ENTITY_TS))
    if view.aggregation_interval is not None:
        step = exp.Literal.number(int(view.aggregation_interval.total_seconds()) * 1_000_000)
        # at - ((at % step) + step) % step: rounds down before 1970 too.
        remainder = exp.Mod(
            this=exp.paren(exp.Add(this=exp.Mod(this=at.copy(), expression=step), expression=step)),
            expression=step.copy(),
        )
        at = exp.Sub(this=at, expression=exp.paren(remainder))
    return entity_rows(view.join_keys, at, AT)


def _view_rows(
    item: PitItem,
    relations: Relations,
    bounds: str,
    longest: int,
    columns: tuple[str, ...],
    numbered: bool,
    with_created: bool = False,
) -> exp.Select:
    """The view's rows some entity row can count: keys asked for, times inside the
    key's span of entity times widened by the longest window, one per version; each
    with its time in microseconds, `columns`, and (`numbered`) its place in the key's
    order (`__fsql_seq`)."""
    view = item.view
    dialect = relations.dialect
    keys = [_col(k, ROWS_ALIAS) for k in view.join_keys]
    ts = _col(view.timestamp, ROWS_ALIAS)
    created = _col(view.created_timestamp, ROWS_ALIAS) if view.created_timestamp else None
    hashed = version_hash(view.row_columns, dialect, ROWS_ALIAS)
    at = dialect.epoch_micros(ts.copy())
    on = exp.and_(
        *keys_equal(view.join_keys, ROWS_ALIAS, bounds),
        copy=False,
    )
    within = exp.and_(
        _not_null(ts.copy()),
        exp.LTE(this=at.copy(), expression=_col(HIGH, bounds)),
        exp.GT(
            this=at.copy(),
            expression=exp.Sub(this=_col(LOW, bounds), expression=exp.Literal.number(longest)),
        ),
        copy=False,
    )
    order = [exp.Ordered(this=ts.copy(), desc=False, nulls_first=True)]
    if created is not None:
        order.append(exp.Ordered(this=created.copy(), desc=False, nulls_first=True))
    order.append(exp.Ordered(this=hashed.copy(), desc=False, nulls_first=True))
    seq = exp.Window(
        this=exp.RowNumber(),
        partition_by=[k.copy() for k in keys],
        order=exp.Order(expressions=order),
    )
    version = [exp.Ordered(this=hashed.copy(), desc=True, nulls_first=False)]
    one_per_version = exp.Window(
        this=exp.RowNumber(),
        partition_by=[k.copy() for k in keys] + [ts.copy()] + ([created] if created else []),
        order=exp.Order(expressions=version),
    )
    values = [_col(c, ROWS_ALIAS) for c in columns]
    return (
        exp.select(
            *keys,
            exp.alias_(at, AT),
            *values,
            *([exp.alias_(seq, SEQ)] if numbered else []),
            *(
                [exp.alias_(dialect.epoch_micros(created.copy()), CREATED)]
                if with_created and created is not None
                else []
            ),
            copy=False,
        )
        .from_(_source(item, relations), copy=False)
        .join(_table(bounds).as_(bounds, copy=False), on=on, join_type="INNER", copy=False)
        .where(within, copy=False)
        .qualify(exp.EQ(this=one_per_version, expression=exp.Literal.number(1)), copy=False)
    )


def _source(item: PitItem, relations: Relations) -> exp.Expr:
    """The view's table as `f`, or with a push log the union of both (`view_rows`)."""
    return item_rows_as(item, relations, ROWS_ALIAS)


def _stacked(
    item: PitItem, entities: str, rows: str, values: tuple[str, ...], numbered: bool
) -> exp.Union:
    """The view's rows `(keys, at, 1, values, [seq,] NULL)` UNION ALL entity rows
    `(keys, at, NULL, NULL..., [NULL,] row id)`; the view's rows first, so that their
    columns give the union its types."""
    view = item.view
    keys = [_col(k) for k in view.join_keys]
    seq = [_col(SEQ)] if numbered else []
    events = exp.select(
        *keys,
        _col(AT),
        exp.alias_(exp.Literal.number(1), EVENT),
        *[_col(c) for c in values],
        *seq,
        exp.alias_(exp.cast(exp.null(), built_type("BIGINT")), ROW_ID),
        copy=False,
    ).from_(_table(rows), copy=False)
    asking = exp.select(
        *[k.copy() for k in keys],
        _col(AT),
        exp.alias_(exp.null(), EVENT),
        *[exp.alias_(exp.null(), c) for c in values],
        *[exp.alias_(exp.null(), SEQ) for _ in seq],
        _col(ROW_ID),
        copy=False,
    ).from_(_table(entities), copy=False)
    return exp.union(events, asking, distinct=False, copy=False)


def _frame(agg: Aggregation) -> exp.WindowSpec:
    """`RANGE BETWEEN w - 1 PRECEDING AND CURRENT ROW`, in microseconds."""
    return exp.WindowSpec(
        kind="RANGE",
        start=exp.Literal.number(agg.window_micros - 1),
        start_side="PRECEDING",
        end="CURRENT ROW",
    )


def _framed_value(agg: Aggregation) -> exp.Expr:
    if agg.function == "count":
        return exp.Count(this=_col(agg.column or EVENT))
    if agg.function == "last":
        return exp.Max(this=_col(SEQ))
    return _FRAMED_FUNCTIONS[agg.function](this=_col(str(agg.column)))


def _framed(item: PitItem, stacked: str, framed: list[tuple[int, Aggregation]]) -> exp.Select:
    """Per entity row id, each framed aggregate (`__fsql_f<j>`) over its window."""
    keys = [_col(k) for k in item.view.join_keys]
    windows = [
        exp.alias_(
            exp.Window(
                this=_framed_value(agg),
                partition_by=[k.copy() for k in keys],
                order=exp.Order(expressions=[exp.Ordered(this=_col(AT), desc=False)]),
                spec=_frame(agg),
            ),
            _value_name(j),
        )
        for j, agg in framed
    ]
    inner = exp.select(_col(ROW_ID), *windows, copy=False).from_(_table(stacked), copy=False)
    return (
        exp.select(_col(ROW_ID), *[_col(_value_name(j)) for j, _ in framed], copy=False)
        .from_(inner.subquery(FRAMED, copy=False), copy=False)
        .where(_not_null(_col(ROW_ID)), copy=False)
    )


def _joined(
    item: PitItem, entities: str, rows: str, aggs: list[tuple[int, Aggregation]], visible: bool
) -> exp.Select:
    """Per entity row id, each aggregate as `FUNC(CASE WHEN in window THEN value END)`
    over a join to its key's rows within the longest window: `count_distinct`, and every
    function of a view with `visible_at: created_timestamp`, whose rows also need
    `created_ts <= t` (a second condition no frame can express)."""
    view = item.view
    longest = max(agg.window_micros for _, agg in aggs)
    r_at, e_at = _col(AT, rows), _col(AT, entities)

    def since(micros: int) -> exp.Expr:
        return exp.GT(
            this=r_at.copy(),
            expression=exp.Sub(this=e_at.copy(), expression=exp.Literal.number(micros)),
        )

    conditions = [
        *keys_equal(view.join_keys, rows, entities),
        exp.LTE(this=r_at.copy(), expression=e_at.copy()),
        since(longest),
    ]
    if visible:
        arrived = exp.or_(
            exp.Is(this=_col(CREATED, rows), expression=exp.null()),
            exp.LTE(this=_col(CREATED, rows), expression=e_at.copy()),
            copy=False,
        )
        conditions.append(exp.paren(arrived, copy=False))

    def aggregate(agg: Aggregation) -> exp.Expr:
        value: exp.Expr
        if agg.function == "last":
            value = _col(SEQ, rows)  # the latest row number, fetched by `_last_row`
        elif agg.column is None:
            value = exp.Literal.number(1)  # a count of rows
        else:
            value = _col(agg.column, rows)
        inside = exp.Case(ifs=[exp.If(this=since(agg.window_micros), true=value)])
        if agg.function == "count_distinct":
            return exp.Count(this=exp.Distinct(expressions=[inside]))
        if agg.function == "count":
            return exp.Count(this=inside)
        if agg.function == "last":
            return exp.Max(this=inside)
        return _FRAMED_FUNCTIONS[agg.function](this=inside)

    values = [exp.alias_(aggregate(agg), _value_name(j)) for j, agg in aggs]
    return (
        exp.select(_col(ROW_ID, entities), *values, copy=False)
        .from_(_table(entities).as_(entities, copy=False), copy=False)
        .join(
            _table(rows).as_(rows, copy=False),
            on=exp.and_(*conditions, copy=False),
            join_type="LEFT",
            copy=False,
        )
        .group_by(_col(ROW_ID, entities), copy=False)
    )


def _last_row(item: PitItem, rows: str, alias: str, seq: exp.Expr) -> exp.Join:
    """The row a `last` aggregate picked: the key's row with that place in its order."""
    on = exp.and_(
        *keys_equal(item.view.join_keys, alias, ENTITY_ALIAS),
        exp.EQ(this=_col(SEQ, alias), expression=seq.copy()),
        copy=False,
    )
    return exp.Join(this=_table(rows).as_(alias, copy=False), side="LEFT", on=on)
