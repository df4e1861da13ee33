"""Push, online side: pushed rows (already in the offline push log, with their versions)
written to the online store under a fence, newest wins (fsql.store orchestrates).

The view's watermark is not moved: a push is not a materialization, and a later
`fsql run` (which reads the view table only) cannot erase a pushed value unless it
carries a newer row for the key.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime

import pyarrow as pa

from fsql.adapters.base import OfflineAdapter, conform_names
from fsql.compile.plan import ViewPlan
from fsql.compile.window_rows import PUSHED_KEYS
from fsql.config.secrets import scrub
from fsql.definitions.models import FeatureView
from fsql.errors import RunError
from fsql.online.base import (
    CREATED_TS,
    EVENT_TS,
    VERSION,
    Fence,
    FencedError,
    OnlineStore,
    OnlineTable,
)
from fsql.online.times import datetime_to_us, to_micros
from fsql.online.windowed import store_batches


def online_rows(view: FeatureView, rows: pa.Table, columns: Sequence[str]) -> pa.Table:
    """The store layout: keys, `__event_ts` and `__created_ts` as int64 UTC micros,
    features, and `__version` when `rows` has it; `columns` are the log's columns (the
    engine may return them in another case)."""
    rows = conform_names(rows, [*columns, VERSION])
    event = to_micros(rows.column(view.timestamp))
    if view.created_timestamp:
        created = to_micros(rows.column(view.created_timestamp))
    else:
        created = pa.chunked_array([pa.nulls(rows.num_rows, pa.int64())])
    arrays = [rows.column(k) for k in view.join_keys]
    arrays += [event, created, *(rows.column(f) for f in view.feature_names)]
    names = [*view.join_keys, EVENT_TS, CREATED_TS, *view.feature_names]
    if VERSION in rows.column_names:
        arrays.append(rows.column(VERSION))
        names.append(VERSION)
    return pa.Table.from_arrays(arrays, names=names)


@contextmanager
def _online_write(view: FeatureView) -> Iterator[None]:
    """A push's online write: its failures as one line saying the rows are safe offline."""
    try:
        yield
    except FencedError as err:
        raise FencedError(
            f"pushing to view '{view.name}': {err.message}",
            hint="the rows are in the offline push log; materialize the view with its "
            "current definition (fsql run), then push again",
        ) from err
    except Exception as err:
        lines = scrub(str(err)).strip().splitlines()
        raise RunError(
            f"pushing to view '{view.name}': the online write failed: "
            f"{lines[0] if lines else repr(err)}",
            hint="the rows are in the offline push log; re-run the push (duplicates are harmless)",
        ) from err


def write_pushed_windows(
    adapter: OfflineAdapter,
    store: OnlineStore,
    plan: ViewPlan,
    table: OnlineTable,
    keys: pa.Table,
) -> None:
    """A view with aggregations: the pushed keys' rows (table and push log, the pushed
    ones included) rewritten whole, as of now (fsql.online.windowed); the rows are read
    after the push log was written, so the newest such value holds every push."""
    view = plan.view
    now = datetime.now(UTC)
    fence = Fence(view.content_hash, datetime_to_us(now) or 0)
    longest = max(agg.window for agg in view.aggregations)
    with _online_write(view):
        uploaded = adapter.register(PUSHED_KEYS, keys)
        try:
            statement = plan.pushed_window_rows(uploaded)
            batches = list(adapter.fetch_batches(statement, {"start": now - longest}))
        finally:
            adapter.unregister(PUSHED_KEYS)
        store.prepare(table, fence)
        for batch, _ in store_batches(batches, view, datetime_to_us(now) or 0):
            store.upsert(table, pa.Table.from_batches([batch]), fence)


def write_pushed(
    store: OnlineStore,
    table: OnlineTable,
    view: FeatureView,
    rows: pa.Table,
    columns: Sequence[str],
) -> None:
    """Upsert pushed rows into the live namespace (and pending ones) of their view."""
    fence = Fence(view.content_hash, datetime_to_us(datetime.now(UTC)) or 0)
    with _online_write(view):
        store.prepare(table, fence)
        store.upsert(table, online_rows(view, rows, columns), fence)
