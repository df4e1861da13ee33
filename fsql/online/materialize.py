"""Materialization: stream each view's latest-per-key rows into the online store.

The engine computes the chosen row per key (the point-in-time rule at `end`); the
result streams as Arrow batches into the store's newest-wins upsert, so memory does
not grow with the data. The view's watermark moves only after every batch landed:
a run that fails half-way leaves the old watermark, and re-running it is harmless
because an upsert never replaces a newer row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc

from fsql.adapters.base import OfflineAdapter, conform_names
from fsql.compile.plan import CompiledProject
from fsql.config.secrets import scrub
from fsql.errors import RunError
from fsql.online.base import CREATED_TS, EVENT_TS, OnlineStore, ViewState
from fsql.online.open import online_table
from fsql.online.times import us_to_datetime

Progress = Callable[[str], None]


@dataclass(frozen=True)
class MaterializeResult:
    view: str
    rows: int
    start: datetime | None
    end: datetime
    reason: str


def _micros(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    if pa.types.is_timestamp(column.type):
        column = pc.cast(column, pa.timestamp("us", tz="UTC"), safe=False)
    return pc.cast(column, pa.int64())


def _store_batch(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Event and created times as int64 microseconds, the layout stores expect."""
    names = batch.schema.names
    arrays = list(batch.columns)
    for col in (EVENT_TS, CREATED_TS):
        index = names.index(col)
        arrays[index] = _micros(arrays[index])
    return pa.RecordBatch.from_arrays(arrays, names=names)


def as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def materialize_view(
    adapter: OfflineAdapter,
    store: OnlineStore,
    compiled: CompiledProject,
    name: str,
    start: datetime | None,
    end: datetime,
    incremental: bool = False,
    progress: Progress | None = None,
) -> MaterializeResult:
    """Write view `name`'s chosen rows at `end` (from `start`, when given) to `store`."""
    plan = compiled.plans[name]
    view = plan.view
    table = online_table(view)
    end = as_utc(end)
    store.prepare(table)
    state = store.get_state(name)
    reason = "range requested" if start is not None else "full"
    since_created = False
    if state is not None and state.view_hash != view.content_hash:
        # Rows written by another definition may carry the same (event_ts, created_ts)
        # as the new ones, and newest-wins would keep them: start the view over.
        store.teardown(table)
        store.prepare(table)
        state = None
        start = None
        reason = "definition changed: full re-materialization"
    elif incremental:
        if state is not None and state.watermark is not None:
            start = state.watermark - (view.lookback or timedelta(0))
            since_created = plan.latest_since is not None
            basis = "rows created" if since_created else "events"
            reason = f"incremental: {basis} from {start.isoformat()}"
        else:
            start = None
            reason = "never materialized: full"
    if start is None and view.ttl is not None:
        start = end - view.ttl  # anything older is expired at `end` anyway
    part = "latest_full" if start is None else "latest_range"
    if since_created:
        part = "latest_since"
    sql = plan.sql(part)
    params = {"end": end, **({"start": as_utc(start)} if start is not None else {})}
    names = [*view.join_keys, EVENT_TS, CREATED_TS, *(f.name for f in view.features)]
    rows = 0
    newest: int | None = None  # newest __event_ts written by this run, microseconds
    try:
        for batch in adapter.fetch_batches(sql, params):
            if batch.num_rows:
                batch = _store_batch(conform_names(batch, names))
                rows += store.upsert(table, batch)
                top = pc.max(batch.column(EVENT_TS)).as_py()
                if top is not None and (newest is None or top > newest):
                    newest = top
                if progress:
                    progress(f"  {name}: {rows:,} keys written")
    except RunError:
        raise
    except Exception as err:  # engine or store failure: the watermark stays where it was
        first = scrub(str(err)).strip().splitlines()
        raise RunError(
            f"materializing view '{name}' failed: {first[0] if first else repr(err)}",
            file=view.sql_path,
            hint="nothing was lost; re-run the same command",
        ) from err
    previous = state.watermark if state is not None else None
    watermark = max(previous, end) if previous is not None else end
    # A run that wrote nothing newer (an older range, an idle incremental run) keeps
    # the newest event time of the runs before it.
    newest_event = us_to_datetime(newest) if newest is not None else None
    earlier = state.newest_event if state is not None else None
    if earlier is not None and (newest_event is None or earlier > newest_event):
        newest_event = earlier
    store.set_state(ViewState(name, watermark, datetime.now(UTC), view.content_hash, newest_event))
    return MaterializeResult(name, rows, start, end, reason)
