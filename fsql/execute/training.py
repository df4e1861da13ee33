"""Training sets: the point-in-time join run on an adapter, results in entity order."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pyarrow as pa
from sqlglot import exp

from fsql.adapters.base import OfflineAdapter, conform_names
from fsql.arrow_buffers import int64_array
from fsql.compile.on_demand import request_columns
from fsql.compile.pit import ENTITY_TABLE, ROW_ID, PitItem
from fsql.compile.plan import CompiledProject
from fsql.compile.selection import FeatureSelection
from fsql.compile.statements import row_count
from fsql.compile.views import push_log_name
from fsql.config.secrets import scrub
from fsql.definitions.nested import conform
from fsql.dialects.statement import read_upload
from fsql.errors import RunError
from fsql.execute.entities import EVENT_TIMESTAMP, prepare_entities


@dataclass(frozen=True)
class TrainingSet:
    """The joined table plus what produced it (for the sidecar metadata)."""

    table: pa.Table
    sql: str
    selection: FeatureSelection


def compile_training_sql(
    compiled: CompiledProject,
    items: Sequence[PitItem],
    selection: FeatureSelection | None = None,
) -> str:
    """The training set's SQL; with `selection`, its on-demand features too."""
    return compiled.sql(compiled.training_query(items, selection), pretty=True)


def with_push_logs(adapter: OfflineAdapter, items: Sequence[PitItem]) -> tuple[PitItem, ...]:
    """`items` with `push_log` set for each online view whose push log table exists
    (only online views can be pushed, so the others cost no lookup)."""
    return tuple(
        replace(item, push_log=True)
        if item.view.online and adapter.table_schema(push_log_name(item.view.name)) is not None
        else item
        for item in items
    )


def _row_count(adapter: OfflineAdapter, compiled: CompiledProject, view: str) -> int:
    """Rows in a view's table (asked only to explain a key type mismatch)."""
    query = row_count(exp.Table(this=exp.to_identifier(view)))
    return int(adapter.fetch_arrow(compiled.sql(query)).column(0)[0].as_py())


def run_training_set(
    adapter: OfflineAdapter,
    compiled: CompiledProject,
    entities: pa.Table,
    selection: FeatureSelection,
    where: str = "entity table",
    progress: Callable[[str], None] | None = None,
    timestamp_column: str = EVENT_TIMESTAMP,
) -> TrainingSet:
    """Join features onto `entities`; entity columns are returned exactly as given.

    Views with a push log take their candidate rows from their table and the log.
    `progress` hears of the join once the entity table has passed its checks;
    `timestamp_column` names the entity table's time column."""
    items = with_push_logs(adapter, selection.items)
    schemas = {}
    for item in items:
        schema = adapter.table_schema(item.view.name)
        if schema is None:
            raise RunError(f"view '{item.view.name}' has no table yet", hint="run `fsql run` first")
        schemas[item.view.name] = schema
    slim = prepare_entities(
        entities,
        items,
        schemas,
        where,
        request_columns(selection.on_demand),
        [item.output_name for item in selection.on_demand],
        timestamp_column,
        lambda view: _row_count(adapter, compiled, view) == 0,
    )
    tree = compiled.training_query(items, selection)
    if progress:
        progress(f"joining features onto {slim.num_rows:,} entity rows")
    name = ENTITY_TABLE
    uploaded = adapter.register(name, slim)
    try:
        # Written once where the entity table is read under its own name (DuckDB,
        # Snowflake); job.sql shows that name, not where an upload went.
        reading = read_upload(tree, name, uploaded)
        statement = compiled.dialect.statement(reading, pretty=True)
        sql = statement.text if reading is tree else compiled.sql(tree, pretty=True)
        result = conform_names(adapter.fetch_arrow(statement), [ROW_ID, *selection.columns])
        result = conform(result, selection.feature_types)
    except Exception as err:  # driver errors differ per engine
        text = scrub(str(err)).strip().splitlines()
        raise RunError(
            f"training-set query failed: {text[0] if text else repr(err)}",
            hint="see the SQL with --debug or job.sql",
        ) from err
    finally:
        adapter.unregister(name)
    if result.num_rows != entities.num_rows:
        raise RunError(
            f"training-set query returned {result.num_rows} rows for {entities.num_rows} entity "
            "rows",
            hint="this is a bug in fsql; please report it with the SQL",
        )
    rows = result.column(ROW_ID)
    if not rows.equals(pa.chunked_array([int64_array(np.arange(entities.num_rows))])):
        result = result.sort_by(ROW_ID)
    out = entities
    for name in selection.columns:
        out = out.append_column(name, result.column(name))
    return TrainingSet(out, sql, selection)
