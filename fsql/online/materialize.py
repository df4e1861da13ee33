"""Materialization: make each online view's stored values the offline answer at `end`.

The engine computes the chosen row per key (the point-in-time rule at `end`, over the
view's table and its push log); the result streams as Arrow batches into the store, so
memory does not grow with the data. Two ways, chosen per view and run:

- **full**: into a new, pending namespace that is swapped in atomically at the end
  (`OnlineStore.begin_rebuild` / `commit_rebuild`). The stored values then equal the
  offline answer exactly: a corrected row replaces its old version, and keys with no row
  left are gone. Used when the view was never materialized, its definition or layout
  changed, its offline table was rebuilt from changed inputs since the last full run
  (its base version moved), by `fsql run` on `table` and `view` views, and by a range
  that covers the whole TTL window; except that an END before the view's watermark is a
  backfill, always partial, since a swap to older values would go back in time.
- **partial**: upserts into the live namespace, greatest version wins: an incremental
  run from the watermark, or a range that leaves older rows alone.

Every write carries a `Fence` (the definition and the run's start time): a run whose
definition is no longer the live one fails with FencedError (exit 1) and writes nothing
over the newer values. Run state moves only after the writes it describes, and only
forward; the watermark never passes the moment the run started, so rows that arrive
during a run are read again by the next one.

A view with aggregations is written in full by every run but a backfill: each key's rows
of the longest window, one value per key, as of END (fsql.online.windowed).

Size: full and partial writes, and the windowed views' rows, share the fencing, state and
error handling that make a run safe to interrupt; one module keeps them alike.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from fsql.compile.plan import CompiledProject, ViewPlan
from fsql.config.secrets import scrub
from fsql.defaults import MATERIALIZE_MEMORY_MB
from fsql.definitions.models import FeatureView
from fsql.definitions.nested import conform
from fsql.errors import RunError
from fsql.online.base import (
    CREATED_TS,
    EVENT_TS,
    VERSION,
    Fence,
    FencedError,
    Namespace,
    OnlineStore,
    OnlineTable,
    ViewState,
)
from fsql.online.open import online_table
from fsql.online.times import datetime_to_us, us_to_datetime
from fsql.online.windowed import store_batches

if TYPE_CHECKING:
    from fsql.adapters.base import OfflineAdapter

Progress = Callable[[str], None]
# What one key of the latest-per-key aggregate is taken to need per column of the view's
# rows, against the memory budget (fsql.defaults.MATERIALIZE_MEMORY_MB). Measured on
# DuckDB (bench/materialize.py at XL): 8 columns need about 620 bytes a key, and below
# that the aggregate spills and takes twice as long; 96 leaves a margin.
BYTES_PER_KEY_COLUMN = 96
RANGE_COVERS_TTL = "range covers the TTL window"
NEVER = "never materialized"
# Each key's rows of the longest window are rewritten whole (fsql.online.windowed).
WINDOWS_IN_FULL = "windowed aggregations keep each key's rows, rewritten whole"


@dataclass(frozen=True)
class MaterializeResult:
    view: str
    rows: int
    start: datetime | None
    end: datetime
    reason: str
    rejected: int = 0  # rows not written: the store cannot hold their key


@dataclass(frozen=True)
class Run:
    """What one command's materialization of one view works from."""

    end: datetime
    started: datetime  # when the command started: the fence's generation, the watermark cap
    incremental: bool  # `materialize-incremental`, or `fsql run` of an incremental view
    start: datetime | None = None  # `materialize START END`
    base_version: str | None = None  # the offline table's base version (BuildRecord)
    push_log: bool = False  # the view has an offline push log to read too
    # The engine memory a materialization's latest-per-key read may use (MiB), and the
    # keys per key-hash partition (None: as many as the budget holds, see `partitions`).
    memory_mb: int = MATERIALIZE_MEMORY_MB
    partition_keys: int | None = None


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


def _full_reason(
    view: FeatureView,
    table: OnlineTable,
    state: ViewState | None,
    live: Namespace | None,
    run: Run,
) -> str | None:
    """Why this run must materialize `view` in full, or None for a partial write."""
    if live is None or state is None:
        return NEVER
    if live.layout != table.layout:
        return "keys or features changed"
    if live.view_hash != view.content_hash or state.view_hash != view.content_hash:
        if run.start is not None:
            return "definition changed: in full to END, not only from START"
        return "definition changed"
    if state.watermark is not None and as_utc(run.end) < state.watermark:
        return None  # a backfill: values newer than END stay (writes never go back)
    if view.aggregations:
        return WINDOWS_IN_FULL
    if run.start is not None:
        if view.ttl is not None and run.start <= run.end - view.ttl:
            return RANGE_COVERS_TTL
        return None
    if not run.incremental:
        return "full"
    if run.base_version is not None and state.base_version != run.base_version:
        return "offline table rebuilt since the last full materialization"
    return None


def _full_start(view: FeatureView, run: Run, end: datetime, reason: str) -> datetime | None:
    """Where a full materialization starts reading. Rows older than the TTL before the run
    started are expired for every read from now on (an END in the future does not make
    them readable earlier); a START asked for that reaches further back is honoured. A
    view without a TTL is read whole, except on its first materialization, where a START
    asked for is the user's range and nothing older was there to keep."""
    asked = as_utc(run.start) if run.start is not None else None
    if view.ttl is None:
        return asked if reason == NEVER else None
    alive = min(end, as_utc(run.started)) - view.ttl
    return alive if asked is None else min(asked, alive)


def materialize_view(
    adapter: OfflineAdapter,
    store: OnlineStore,
    compiled: CompiledProject,
    name: str,
    run: Run,
    progress: Progress | None = None,
) -> MaterializeResult:
    """Make view `name`'s online values the offline answer at `run.end` (see module)."""
    plan = compiled.plans[name]
    view = plan.view
    table = online_table(view)
    end = as_utc(run.end)
    fence = Fence(view.content_hash, datetime_to_us(run.started) or 0)
    state = store.get_state(name)
    store.take_rejected(name)  # left by an earlier run of this thread that failed
    full = _full_reason(view, table, state, store.namespace(name), run)
    if full is not None:
        start = _full_start(view, run, end, full)
        part = "latest_full" if start is None else "latest_range"
        return _rebuild(adapter, store, plan, table, fence, state, run, start, part, full, progress)
    assert state is not None
    if run.start is not None:
        start, part, reason = as_utc(run.start), "latest_range", "range requested"
    elif state.watermark is not None:
        start = state.watermark - (view.lookback or timedelta(0))
        since_created = plan.latest_since is not None
        part = "latest_since" if since_created else "latest_range"
        basis = "rows created" if since_created else "events"
        reason = f"incremental: {basis} from {start.isoformat()}"
    else:
        start, part, reason = None, "latest_full", "incremental: no watermark yet"
    store.prepare(table, fence)
    write = functools.partial(store.upsert, table, fence=fence)
    rows, newest = _stream(adapter, plan, run, part, start, write, progress)
    rejected = _report_rejected(store, view, progress)
    store.set_state(_state(view, run, end, newest, state), fence)
    return MaterializeResult(name, rows - rejected, start, end, reason, rejected)


def _rebuild(
    adapter: OfflineAdapter,
    store: OnlineStore,
    plan: ViewPlan,
    table: OnlineTable,
    fence: Fence,
    state: ViewState | None,
    run: Run,
    start: datetime | None,
    part: str,
    reason: str,
    progress: Progress | None,
) -> MaterializeResult:
    """A full materialization into a pending namespace, swapped in at the end."""
    view = plan.view
    end = as_utc(run.end)
    token = store.begin_rebuild(table, fence)
    try:
        write = functools.partial(store.upsert_pending, table, token)
        rows, newest = _stream(adapter, plan, run, part, start, write, progress)
    except BaseException:
        try:
            store.abort_rebuild(table, token)
        except Exception:  # the store may be what failed: report the first error
            pass  # an abandoned pending namespace is dropped by a later rebuild
        raise
    rejected = _report_rejected(store, view, progress)
    new_state = _state(view, run, end, newest, state)
    if not store.commit_rebuild(table, token, fence, new_state):
        live = store.namespace(view.name)
        if live is not None and live.view_hash != view.content_hash:
            raise FencedError(
                f"online view '{view.name}': a newer definition was materialized meanwhile "
                "(by a run that started after this one); this run wrote nothing over it",
                file=view.sql_path,
                hint="if this run's definition is the one wanted, run it again",
            )
        return MaterializeResult(
            view.name, 0, start, end, "skipped: a run started later already materialized it"
        )
    return MaterializeResult(
        view.name,
        rows - rejected,
        start,
        end,
        f"full ({reason})" if reason != "full" else "full",
        rejected,
    )


def _report_rejected(store: OnlineStore, view: FeatureView, progress: Progress | None) -> int:
    """Say once per view and run which rows the store could not hold (their key is too
    long for it), through `progress`, else as a warning of the `fsql` logger; returns how
    many. The run still completes and moves the watermark: such a key can never be
    stored, so re-running would not help."""
    rejected = store.take_rejected(view.name)
    if rejected is None:
        return 0
    if progress:
        progress(rejected.message())
    else:
        logging.getLogger("fsql").warning(rejected.message())
    return rejected.count


def _state(
    view: FeatureView,
    run: Run,
    end: datetime,
    newest_us: int | None,
    previous: ViewState | None,
) -> ViewState:
    """The state this run leaves: the watermark never past the run's start (an END in
    the future was read up to END, but rows may still arrive before it)."""
    started = as_utc(run.started)
    newest = us_to_datetime(newest_us) if newest_us is not None else None
    return ViewState(
        view=view.name,
        watermark=min(end, started),
        materialized_at=datetime.now(UTC),
        view_hash=view.content_hash,
        newest_event=newest,
        base_version=run.base_version
        if run.base_version is not None
        else (previous.base_version if previous is not None else None),
    )


def _stream(
    adapter: OfflineAdapter,
    plan: ViewPlan,
    run: Run,
    part: str,
    start: datetime | None,
    write: Callable[[pa.RecordBatch], int],
    progress: Progress | None,
) -> tuple[int, int | None]:
    """Run the view's latest-per-key query `part` (from `start` to the run's END) and
    write every batch; returns the rows written and the newest event time among them
    (microseconds)."""
    from fsql.adapters.base import conform_names

    view = plan.view
    if view.aggregations:
        return _stream_windows(adapter, plan, run, write, progress)
    params: dict[str, Any] = {"end": as_utc(run.end)}
    if start is not None:
        params["start"] = as_utc(start)
    names = [*view.join_keys, EVENT_TS, CREATED_TS, *view.feature_names, VERSION]
    types = {f.name: f.type for f in view.features}
    parts = partitions(adapter, plan, run, part, params)
    if parts > 1 and progress:
        progress(f"  {view.name}: in {parts} key-hash partitions")

    def batches() -> Iterator[tuple[pa.RecordBatch, int | None]]:
        with adapter.memory_budget(run.memory_mb):
            for index in range(parts):
                if parts == 1:
                    statement, bound = plan.latest_statement(part, run.push_log), params
                else:
                    statement = plan.latest_statement(part, run.push_log, partitioned=True)
                    bound = {**params, "parts": parts, "part": index}
                for batch in adapter.fetch_batches(statement, bound):
                    if batch.num_rows:
                        batch = _store_batch(conform(conform_names(batch, names), types))
                        yield batch, pc.max(batch.column(EVENT_TS)).as_py()

    return _write_all(view, batches(), write, progress)


def partitions(
    adapter: OfflineAdapter, plan: ViewPlan, run: Run, part: str, params: dict[str, Any]
) -> int:
    """How many key-hash partitions the latest-per-key read runs in: one, unless the
    view's rows (a cheap count first, then the engine's approximate distinct count of
    keys) exceed the keys one partition may hold: `run.partition_keys`, or as many as
    `run.memory_mb` holds at `BYTES_PER_KEY_COLUMN` per column of the view's rows. The
    engine aggregates and sorts one partition at a time, and each is written before the
    next is read, so memory stays flat however many keys there are."""
    view = plan.view
    columns = len(view.join_keys) + 3 + len(view.row_columns)  # + time, created, version
    budget = run.partition_keys or max(1, run.memory_mb * 2**20 // (BYTES_PER_KEY_COLUMN * columns))
    rows = _scalar(adapter, plan.row_count_statement(run.push_log), {})
    if rows <= budget:
        return 1
    with_start = part == "latest_range"
    estimate = plan.key_estimate_statement(with_start, run.push_log)
    keys = _scalar(adapter, estimate, params if with_start else {"end": params["end"]})
    return max(1, math.ceil(keys / budget))


def _scalar(adapter: OfflineAdapter, statement: Any, params: dict[str, Any]) -> int:
    value = adapter.fetch_arrow(statement, params or None).column(0)[0].as_py()
    return int(value or 0)


def _write_all(
    view: FeatureView,
    batches: Iterable[tuple[pa.RecordBatch, int | None]],
    write: Callable[[pa.RecordBatch], int],
    progress: Progress | None,
) -> tuple[int, int | None]:
    """Write store batches (each with its newest event time); returns the rows written
    and the newest event time. A failure of the engine or the store is one line, and
    the state stays where it was."""
    rows = 0
    newest: int | None = None
    try:
        for batch, top in batches:
            rows += write(batch)
            if top is not None and (newest is None or top > newest):
                newest = top
            if progress:
                progress(f"  {view.name}: {rows:,} keys so far")
    except RunError:
        raise
    except Exception as err:
        raise _failed(view, err) from err
    return rows, newest


def _failed(view: FeatureView, err: Exception) -> RunError:
    first = scrub(str(err)).strip().splitlines()
    return RunError(
        f"materializing view '{view.name}' failed: {first[0] if first else repr(err)}",
        file=view.sql_path,
        hint="nothing was lost; re-run the same command",
    )


def _stream_windows(
    adapter: OfflineAdapter,
    plan: ViewPlan,
    run: Run,
    write: Callable[[pa.RecordBatch], int],
    progress: Progress | None,
) -> tuple[int, int | None]:
    """A view with aggregations: each key's rows from END (or the run's start, when END
    is later) minus the longest window on, one stored value per key, as of END
    (fsql.online.windowed): every read from then on finds the rows its windows need."""
    view = plan.view
    end = as_utc(run.end)
    longest = max(agg.window for agg in view.aggregations)
    start = min(end, as_utc(run.started)) - longest
    statement = plan.window_rows_statement(run.push_log)
    fetched = adapter.fetch_batches(statement, {"start": start})
    return _write_all(view, store_batches(fetched, view, datetime_to_us(end) or 0), write, progress)
