"""The SQL that builds a view's offline table, merges new rows into it, and reads
its latest row per key for materialization.

The table is the model's output with the timestamp columns cast to UTC
TIMESTAMPTZ and each declared feature cast to its declared type, so training
sets, materialization and `ref()` consumers all see the declared schema. An
`incremental` view's later builds MERGE the model's incremental rendering into
that table, matching rows on (join keys, event time, created time): the identity
of a row version in the point-in-time rule.

Size: the four statements of a view (create, merge, latest per key, rows with the push
log) share their column and ordering helpers; together they are one view's plan.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from sqlglot import exp

from fsql.compile.items import PitItem
from fsql.compile.ordering import row_version, version_hash
from fsql.compile.relations import Relations
from fsql.definitions.models import FeatureView
from fsql.dialects.base import EngineDialect
from fsql.errors import ProjectError

MODEL_ALIAS = "__fsql_model"
EVENT_TS = "__event_ts"
CREATED_TS = "__created_ts"
VERSION = "__version"
LATEST = "__fsql_latest"
LATEST_ALIAS = "__fsql_keys"
LATEST_ROWS = "__fsql_rows"
PUSH_LOG_SUFFIX = "__push"


def _casts(view: FeatureView, dialect: EngineDialect) -> list[exp.Expr]:
    casts: list[exp.Expr] = []
    for col in (view.timestamp, view.created_timestamp):
        if col:
            cast = exp.cast(exp.column(col), dialect.timestamp(), copy=False)
            casts.append(exp.alias_(cast, col, copy=False))
    # A view with aggregations keeps its event rows as the model gives them: its features
    # are computed from them (fsql.compile.windows), not columns of the table.
    for feature in () if view.aggregations else view.features:
        target = dialect.data_type(feature.type)
        cast = exp.cast(exp.column(feature.name), target, copy=False)
        casts.append(exp.alias_(cast, feature.name, copy=False))
    return casts


def table_query(view: FeatureView, relations: Relations, incremental: bool = False) -> exp.Query:
    """SELECT producing the view's table: the model, with declared types enforced."""
    query = _table_query(view, relations, incremental)
    relations.dialect.finish(query)
    return query


def _table_query(view: FeatureView, relations: Relations, incremental: bool) -> exp.Select:
    """`SELECT * REPLACE (CAST(col AS type) AS col, ...) FROM (model)`.

    The star keeps every model column in place and recasts the declared ones. DuckDB,
    Snowflake and BigQuery all take `* REPLACE (...)`, and sqlglot writes it for each.
    """
    model = relations.resolve(view.incremental_query if incremental else view.query)
    star = exp.Star(replace=_casts(view, relations.dialect))
    # Builders copy their inputs by default; these trees are fresh, so skip the copies.
    return exp.select(star, copy=False).from_(model.subquery(MODEL_ALIAS, copy=False), copy=False)


def model_columns_query(
    view: FeatureView, relations: Relations, incremental: bool = False
) -> exp.Select:
    """`SELECT * FROM (model) AS __fsql_model LIMIT 0`: the model's columns, no rows.

    Run only after a build failed, for a model whose columns the definition could not
    know (`SELECT *` over a source): it tells a declared column the model never outputs
    (the engine's `... in REPLACE list not found`) from any other failure.
    """
    model = relations.resolve(view.incremental_query if incremental else view.query)
    query = (
        exp.select(exp.Star(), copy=False)
        .from_(model.subquery(MODEL_ALIAS, copy=False), copy=False)
        .limit(0, copy=False)
    )
    relations.dialect.finish(query)
    return query


def missing_column_error(view: FeatureView, columns: Sequence[str]) -> ProjectError | None:
    """The error for the first declared column (key, timestamp, feature) that the
    model's actual output `columns` lacks, or None when it has them all."""
    have = {c.casefold() for c in columns}
    created = (view.created_timestamp,) if view.created_timestamp else ()
    for column in (*view.join_keys, view.timestamp, *created, *view.row_columns):
        if column.casefold() not in have:
            return ProjectError(
                f"feature view '{view.name}': the SQL does not output column '{column}'",
                file=view.sql_path,
                hint=f"select it in the model or remove it from {view.yml_path}",
            )
    return None


def create_table(view: FeatureView, relations: Relations) -> exp.Create:
    """CREATE OR REPLACE TABLE (or VIEW, for `materialized: view`): atomic in every
    engine we target."""
    create = exp.Create(
        this=relations.view_table(view.name),
        kind="VIEW" if view.materialized == "view" else "TABLE",
        replace=True,
        expression=_table_query(view, relations, incremental=False),
    )
    relations.dialect.finish(create)
    return create


def _col(name: str, table: str | None = None) -> exp.Column:
    return exp.column(name, table=table)


MERGE_TARGET = "t"
MERGE_SOURCE = "s"
MERGE_ROWS = "__fsql_rows"


def merge_key(view: FeatureView) -> tuple[str, ...]:
    """The columns that identify one row version: join keys, event time, created time."""
    created = (view.created_timestamp,) if view.created_timestamp else ()
    return (*view.join_keys, view.timestamp, *created)


def merge_columns(view: FeatureView) -> tuple[str, ...]:
    """The table's columns as far as the definition knows them.

    The table keeps every model column, so the model's select list when it names its
    columns; a model that selects `*` has columns only its table knows, and the
    declared ones stand in here (the runner merges with the table's real columns).
    """
    if view.output_columns:
        return view.output_columns
    created = (view.created_timestamp,) if view.created_timestamp else ()
    return (*view.join_keys, view.timestamp, *created, *view.row_columns)


def _one_row_per_version(view: FeatureView, relations: Relations) -> exp.Select:
    """The incremental rows, one per (keys, event time, created time).

    MERGE needs at most one source row per target row: Snowflake fails on two (a
    nondeterministic merge) and DuckDB applies both in no set order. Two rows with one
    version are versions of one row: the one with the greatest version hash is kept,
    the same one the point-in-time rule would pick (fsql.compile.ordering).
    """
    hashed = version_hash(view.row_columns, relations.dialect)
    rank = exp.Window(
        this=exp.RowNumber(),
        partition_by=[_col(c) for c in merge_key(view)],
        order=exp.Order(expressions=[exp.Ordered(this=hashed, desc=True, nulls_first=False)]),
    )
    rows = _table_query(view, relations, incremental=True).subquery(MERGE_ROWS, copy=False)
    return (
        exp.select(exp.Star(), copy=False)
        .from_(rows, copy=False)
        .qualify(exp.EQ(this=rank, expression=exp.Literal.number(1)), copy=False)
    )


def upsert(
    target: exp.Table,
    source: exp.Query,
    on: exp.Expr,
    columns: Sequence[str],
    key: set[str],
) -> exp.Merge:
    """`MERGE INTO target AS t USING (source) AS s ON <on>`: matched rows get every
    column not in `key` (casefolded names) from `s`, others are inserted whole."""
    update = exp.Update(
        expressions=[
            exp.EQ(this=_col(c), expression=_col(c, MERGE_SOURCE))
            for c in columns
            if c.casefold() not in key
        ]
    )
    insert = exp.Insert(
        this=exp.Tuple(expressions=[_col(c) for c in columns]),
        expression=exp.Tuple(expressions=[_col(c, MERGE_SOURCE) for c in columns]),
    )
    target.set("alias", exp.TableAlias(this=exp.to_identifier(MERGE_TARGET)))
    return exp.Merge(
        this=target,
        using=source.subquery(MERGE_SOURCE, copy=False),
        on=on,
        whens=exp.Whens(
            expressions=[
                exp.When(matched=True, then=update),
                exp.When(matched=False, then=insert),
            ]
        ),
    )


def merge_into(
    view: FeatureView, relations: Relations, columns: Sequence[str] | None = None
) -> exp.Merge:
    """MERGE the incremental rendering of an `incremental` view into its table.

    Rows match on `merge_key`: a re-stated row version (late data re-read through a
    lookback) replaces its old values, a new one is inserted, and no row is deleted.
    Keys and event time compare with `=`, an equi-join every engine hashes; a row with
    a NULL key or event time never joins nor serves, so one re-read is inserted again
    rather than matched. The created timestamp compares NULL-safely (`IS NOT DISTINCT
    FROM`, accepted by DuckDB and Snowflake alike), since a view may leave it NULL.
    `columns` are the table's columns (default: `merge_columns`).
    """
    columns = tuple(columns or merge_columns(view))
    key = merge_key(view)
    folded = {c.casefold() for c in key}
    conditions: list[exp.Expression] = [
        exp.EQ(this=_col(c, MERGE_TARGET), expression=_col(c, MERGE_SOURCE))
        for c in (*view.join_keys, view.timestamp)
    ]
    if view.created_timestamp:
        created = view.created_timestamp
        conditions.append(
            exp.NullSafeEQ(this=_col(created, MERGE_TARGET), expression=_col(created, MERGE_SOURCE))
        )
    target = relations.view_table(view.name)
    source = _one_row_per_version(view, relations)
    merge = upsert(target, source, exp.and_(*conditions, copy=False), columns, folded)
    relations.dialect.finish(merge)
    return merge


def view_rows(view: FeatureView, relations: Relations, push_log: bool) -> exp.Query | exp.Table:
    """Where a view's feature rows are read from: its table, or with a push log
    (`<view>__push`, rows written by `fsql push`) `SELECT cols FROM view UNION ALL SELECT
    cols FROM view__push`, over every declared column (the version hash covers all
    features), in one order for both. Training sets and materialization read the same."""
    table = relations.view_table(view.name)
    if not push_log:
        return table
    created = (view.created_timestamp,) if view.created_timestamp else ()
    names = (*view.join_keys, view.timestamp, *created, *view.row_columns)

    def rows(source: exp.Table) -> exp.Select:
        return exp.select(*[_col(n) for n in names], copy=False).from_(source, copy=False)

    log = relations.view_table(push_log_name(view.name))
    return exp.union(rows(table), rows(log), distinct=False, copy=False)


def view_rows_as(view: FeatureView, relations: Relations, push_log: bool, alias: str) -> exp.Expr:
    """`view_rows` ready for a FROM clause, named `alias`."""
    rows = view_rows(view, relations, push_log)
    if isinstance(rows, exp.Query):
        return rows.subquery(alias, copy=False)
    return rows.as_(alias, copy=False)


# The inner name of a view's rows whose keys a training-set item renames.
KEYED_ROWS = "__fsql_keyed"


def item_rows_as(item: PitItem, relations: Relations, alias: str) -> exp.Expr:
    """A training-set item's candidate rows named `alias`: `view_rows_as`, and for a view
    joined through other entity columns, its key columns renamed to those columns
    (`SELECT location_id AS origin_id, ts, ... FROM location_stats`)."""
    if not item.stored_keys:
        return view_rows_as(item.view, relations, item.push_log, alias)
    view = replace(item.view, join_keys=item.stored_keys)
    rows = view_rows_as(view, relations, item.push_log, KEYED_ROWS)
    created = (view.created_timestamp,) if view.created_timestamp else ()
    renamed = [exp.alias_(_col(stored), entity) for entity, stored in item.key_pairs]
    rest = [_col(n) for n in (view.timestamp, *created, *view.row_columns)]
    return (
        exp.select(*renamed, *rest, copy=False).from_(rows, copy=False).subquery(alias, copy=False)
    )


def push_log_name(view: str) -> str:
    """The name of a view's offline push log table: the one place it is spelled."""
    return f"{view}{PUSH_LOG_SUFFIX}"


def _from_rows(view: FeatureView, relations: Relations, push_log: bool) -> exp.Expr:
    rows = view_rows(view, relations, push_log)
    if not push_log:
        return rows
    assert isinstance(rows, exp.Query)  # the UNION ALL of table and log
    return rows.subquery(LATEST_ROWS, copy=False)


def latest_per_key(
    view: FeatureView,
    relations: Relations,
    with_start: bool,
    start_on_created: bool = False,
    push_log: bool = False,
    partitioned: bool = False,
) -> exp.Query:
    """Per entity key, the row the point-in-time rule picks at `$end`.

    `partitioned` keeps only the keys of one hash partition, `ABS(MOD(hash(keys),
    $parts)) = $part`: materialization runs the query once per partition, so the engine
    holds one partition's keys at a time and memory stays flat however many keys there
    are (the hash is the dialect's version hash, one rule on every engine).

    Rows are limited to `$start <= ts <= $end` when `with_start`, or, with
    `start_on_created` (incremental runs of views with a created timestamp), to rows
    created since `$start` with `ts <= $end`: a late row, whose event time is long
    past but which arrived after the last run, is still picked up, and newest-wins
    keeps the stored value when it is newer; rows without a created timestamp are read
    by every incremental run, since nothing says when they arrived. Ties on event time
    go to the greatest created timestamp, then the greatest version hash (`__version`,
    written to the online store, which breaks ties the same way). Output is ordered by
    key because online stores write sorted keys several times faster. Engines that
    compare STRUCTs get one `arg_max` per key (twice as fast as ranking every row, and
    it keeps one row per key in memory, not a sorted partition); others rank with
    ROW_NUMBER.
    """
    dialect = relations.dialect
    ts = _col(view.timestamp)
    keys = [_col(k) for k in view.join_keys]
    where: exp.Expr = exp.and_(
        *[exp.Not(this=exp.Is(this=k.copy(), expression=exp.null())) for k in keys],
        exp.Not(this=exp.Is(this=ts.copy(), expression=exp.null())),
        exp.LTE(this=ts.copy(), expression=exp.Placeholder(this="end")),
        copy=False,
    )
    if view.visible_at == "created_timestamp" and view.created_timestamp:
        # Only rows that had arrived by END (SPEC §2 `visible_at`).
        arrived = exp.or_(
            exp.Is(this=_col(view.created_timestamp), expression=exp.null()),
            exp.LTE(this=_col(view.created_timestamp), expression=exp.Placeholder(this="end")),
            copy=False,
        )
        where = exp.and_(where, exp.paren(arrived, copy=False), copy=False)
    if partitioned:
        bucket = exp.Abs(
            this=exp.Mod(
                this=dialect.version([k.copy() for k in keys]),
                expression=exp.Placeholder(this="parts"),
            )
        )
        where = exp.and_(
            where, exp.EQ(this=bucket, expression=exp.Placeholder(this="part")), copy=False
        )
    if with_start:
        start: exp.Expr
        if start_on_created and view.created_timestamp:
            # A row without a created time cannot say when it arrived: never skip it.
            created = _col(view.created_timestamp)
            start = exp.paren(
                exp.or_(
                    exp.GTE(this=created, expression=exp.Placeholder(this="start")),
                    exp.Is(this=created.copy(), expression=exp.null()),
                    copy=False,
                ),
                copy=False,
            )
        else:
            start = exp.GTE(this=ts.copy(), expression=exp.Placeholder(this="start"))
        where = exp.and_(where, start, copy=False)
    created_out = (
        _col(view.created_timestamp)
        if view.created_timestamp
        else exp.cast(exp.null(), dialect.timestamp(), copy=False)
    )
    outputs = {
        EVENT_TS: ts.copy(),
        CREATED_TS: created_out,
        **{name: _col(name) for name in view.row_columns},
        VERSION: version_hash(view.row_columns, dialect),
    }
    source = _from_rows(view, relations, push_log)
    if dialect.asof_struct_order:
        query = _latest_by_arg_max(view, relations, keys, outputs, where, source)
    else:
        query = _latest_by_rank(view, keys, outputs, where, source)
    dialect.finish(query)
    return query


def key_estimate(
    view: FeatureView, relations: Relations, with_start: bool, push_log: bool = False
) -> exp.Select:
    """About how many keys a latest-per-key read of the view yields: the engine's
    approximate distinct count of the key hash over the rows at or before `$end` (from
    `$start` on when `with_start`), reading the key and time columns only. Materialization
    sizes its key-hash partitions by it."""
    dialect = relations.dialect
    ts = _col(view.timestamp)
    keys = [_col(k) for k in view.join_keys]
    conditions: list[exp.Expr] = [
        exp.LTE(this=ts.copy(), expression=exp.Placeholder(this="end")),
    ]
    if with_start:
        conditions.append(exp.GTE(this=ts.copy(), expression=exp.Placeholder(this="start")))
    count = exp.ApproxDistinct(this=dialect.version(keys))
    query = (
        exp.select(count, copy=False)
        .from_(_from_rows(view, relations, push_log), copy=False)
        .where(exp.and_(*conditions, copy=False), copy=False)
    )
    dialect.finish(query)
    return query


def _latest_by_rank(
    view: FeatureView,
    keys: list[exp.Column],
    outputs: dict[str, exp.Expression],
    where: exp.Expr,
    source: exp.Expr,
) -> exp.Select:
    order = [exp.Ordered(this=_col(view.timestamp), desc=True)]
    if view.created_timestamp:
        order.append(exp.Ordered(this=_col(view.created_timestamp), desc=True, nulls_first=False))
    order.append(exp.Ordered(this=outputs[VERSION].copy(), desc=True, nulls_first=False))
    rank = exp.Window(
        this=exp.RowNumber(),
        partition_by=[k.copy() for k in keys],
        order=exp.Order(expressions=order),
    )
    columns = [
        exp.alias_(value, name) if name in (EVENT_TS, CREATED_TS, VERSION) else value
        for name, value in outputs.items()
    ]
    return (
        exp.select(*[k.copy() for k in keys], *columns, copy=False)
        .from_(source, copy=False)
        .where(where, copy=False)
        .qualify(exp.EQ(this=rank, expression=exp.Literal.number(1)), copy=False)
        .order_by(*[k.copy() for k in keys], copy=False)
    )


def _latest_by_arg_max(
    view: FeatureView,
    relations: Relations,
    keys: list[exp.Column],
    outputs: dict[str, exp.Expression],
    where: exp.Expr,
    source: exp.Expr,
) -> exp.Select:
    """`arg_max({columns}, {t: ts, c: created, v: version})` per key, the struct
    unpacked outside."""
    dialect = relations.dialect
    ts = _col(view.timestamp)
    created = _col(view.created_timestamp) if view.created_timestamp else None
    version = row_version(ts, created, outputs[VERSION].copy(), dialect)
    packed = exp.Struct(
        expressions=[
            exp.PropertyEQ(this=exp.to_identifier(name), expression=value)
            for name, value in outputs.items()
        ]
    )
    inner = (
        exp.select(
            *[k.copy() for k in keys],
            exp.alias_(exp.ArgMax(this=packed, expression=version), LATEST, copy=False),
            copy=False,
        )
        .from_(source, copy=False)
        .where(where, copy=False)
        .group_by(*[k.copy() for k in keys], copy=False)
    )
    latest = _col(LATEST, table=LATEST_ALIAS)
    unpacked = [exp.Dot(this=latest.copy(), expression=exp.to_identifier(name)) for name in outputs]
    return (
        exp.select(*[k.copy() for k in keys], *unpacked, copy=False)
        .from_(inner.subquery(LATEST_ALIAS, copy=False), copy=False)
        .order_by(*[k.copy() for k in keys], copy=False)
    )
