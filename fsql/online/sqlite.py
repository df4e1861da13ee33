"""The embedded online store: one SQLite file, one `WITHOUT ROWID` table per view.

Why SQLite this way (measured in ENGINE_NOTES "Online stores"):

- `WITHOUT ROWID` with the join keys as primary key keeps each row inside the key
  b-tree, so a point read is one b-tree descent (p50 of a few microseconds);
- newest-wins is one guarded `INSERT ... ON CONFLICT ... DO UPDATE ... WHERE
  (excluded.event_ts, excluded.created_ts) > (stored pair)`, decided inside SQLite,
  so batch runs, incremental runs and pushes (threads or processes) may race
  without going back in time;
- rows are written sorted by key, which SQLite takes about 4x faster;
- join-key columns have no declared type (no affinity): `1` and `'1'` stay
  different keys, as key types matter everywhere else in fsql.

The statements live in `fsql.online.sqlite_sql` (built with sqlglot) and the value
conversions in `fsql.online.sqlite_values`; this module holds the per-view plan
(statements generated once per view layout and per read batch size, so a read does
no SQL generation after its first call) and the store itself.

Threading: one connection shared by all threads. Writes (and schema changes) are
serialized by a lock and run in one `BEGIN IMMEDIATE` transaction per call; reads
take no lock, so a read from another thread may see part of a write in progress,
which is harmless because every row on its own only ever moves forward in time.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from fsql.arrow_buffers import int64_scalar
from fsql.errors import ProjectError, RunError
from fsql.online.base import CREATED_TS, EVENT_TS, OnlineStore, OnlineTable, ViewState
from fsql.online.sqlite_sql import (
    NEWEST_EVENT,
    batch_select_sql,
    meta_sql,
    table_name,
    view_sql,
)
from fsql.online.sqlite_values import DECODERS, as_table, feature_values
from fsql.online.times import datetime_to_us, plain, to_micros, us_to_datetime

__all__ = ["SQLiteOnlineStore"]

# A null created_ts is stored as the smallest int64 so that it sorts before any
# real value in the row-value comparison (SQL NULL would make the guard NULL).
NULL_CREATED_TS = -(2**63)
_NULL_CREATED = int64_scalar(NULL_CREATED_TS)
# Parameters per read statement; batch sizes are rounded up to these buckets (the
# last key repeated) so a view needs only a handful of distinct statements.
_MAX_PARAMS = 500
_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 500)

# --- per-view plan ------------------------------------------------------------------


@dataclass
class _Plan:
    """Everything derived from one `OnlineTable`, computed once: names, SQL, decoders."""

    table: OnlineTable
    name: str
    layout: str
    keys: tuple[str, ...]
    ttl_us: int | None
    create_sql: str
    drop_sql: str
    upsert_sql: str
    point_sql: str
    decoders: tuple[tuple[int, Callable[[Any], Any]], ...]
    rows_per_chunk: int
    buckets: tuple[int, ...]
    in_sql: dict[int, str] = field(default_factory=dict)

    @classmethod
    def build(cls, table: OnlineTable) -> _Plan:
        keys = tuple(table.join_keys)
        if not keys:
            raise ProjectError(f"online view {table.view!r} has no join keys")
        features = tuple(table.feature_names)
        seen: dict[str, str] = {}
        for column in (*keys, EVENT_TS, CREATED_TS, *features):
            folded = column.lower()  # SQLite column names are case-insensitive
            if folded in seen:
                raise ProjectError(
                    f"online view {table.view!r}: columns {seen[folded]!r} and {column!r} "
                    "collide in SQLite (names compare case-insensitively)",
                    hint="rename one of them",
                )
            seen[folded] = column
        name = table_name(table.view)
        statements = view_sql(name, keys, table.features)
        rows_per_chunk = max(1, _MAX_PARAMS // len(keys))
        return cls(
            table=table,
            name=name,
            layout=table.layout,
            keys=keys,
            ttl_us=table.ttl_us,
            create_sql=statements.create,
            drop_sql=statements.drop,
            upsert_sql=statements.upsert,
            point_sql=statements.point,
            decoders=tuple(
                (i, DECODERS[t]) for i, (_, t) in enumerate(table.features) if t in DECODERS
            ),
            rows_per_chunk=rows_per_chunk,
            buckets=tuple(sorted({min(b, rows_per_chunk) for b in _BUCKETS})),
        )

    def batch_sql(self, n: int) -> str:
        """The statement reading `n` keys at once (n is one of `buckets`)."""
        sql = self.in_sql.get(n)
        if sql is None:
            columns = [*self.keys, EVENT_TS, *self.table.feature_names]
            sql = batch_select_sql(self.name, self.keys, columns, n)
            self.in_sql[n] = sql
        return sql

    def bucket(self, n: int) -> int:
        for b in self.buckets:
            if b >= n:
                return b
        return self.buckets[-1]

    def decode(self, values: tuple[Any, ...]) -> tuple[Any, ...]:
        """Stored feature values -> Python values (bool, UTC datetime, date)."""
        if not self.decoders:
            return values
        out = list(values)
        for i, fn in self.decoders:
            v = out[i]
            if v is not None:
                out[i] = fn(v)
        return tuple(out)


# --- the store ------------------------------------------------------------------------


class SQLiteOnlineStore(OnlineStore):
    """Online store in one SQLite file (or `":memory:"`), safe to share between threads.

    Tables: `fsql_view__<view>` per view, `fsql_tables(view, layout)` recording each
    view's layout so a changed view is rebuilt rather than read with old values, and
    `fsql_state(view, watermark, materialized_at, view_hash, newest_event)` for run
    state, kept here so a fresh checkout (CI) still knows where incremental runs stopped.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        # Autocommit mode: transactions are opened explicitly (BEGIN IMMEDIATE) so a
        # writer takes the write lock up front instead of failing on upgrade.
        self._conn = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, cached_statements=512
        )
        self._lock = threading.Lock()
        self._plans: dict[OnlineTable, _Plan] = {}
        # Plans by object identity: hashing a frozen OnlineTable costs microseconds
        # (enum hashes), more than the point read itself. Holds the table to pin its id.
        self._plans_by_id: dict[int, tuple[OnlineTable, _Plan]] = {}
        # Views whose stored layout this connection has checked (view -> layout).
        self._ready: dict[str, str] = {}
        self._meta = meta_sql()
        conn = self._conn
        conn.execute("PRAGMA busy_timeout = 10000")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        # Reads of random keys miss SQLite's default 2 MiB page cache and pay a
        # pread per page; a larger cache plus mmap halved point and batch read
        # latency on 200k keys (24 -> 11 us p50). Both are upper bounds, used lazily.
        conn.execute("PRAGMA cache_size = -65536")
        conn.execute("PRAGMA mmap_size = 268435456")
        with self._lock:
            conn.execute(self._meta.create_tables)
            conn.execute(self._meta.create_state)
            self._upgrade_state(conn)

    def _upgrade_state(self, conn: sqlite3.Connection) -> None:
        """Add `newest_event` to a state table made before it existed (`CREATE TABLE IF
        NOT EXISTS` keeps an old table as it is). The old rows read it as NULL."""
        columns = {row[0] for row in conn.execute(self._meta.state_columns)}
        if NEWEST_EVENT in columns:
            return
        try:
            conn.execute(self._meta.add_newest_event)
        except sqlite3.OperationalError as err:
            # "duplicate column": another process added it since the check above.
            if "duplicate column" not in str(err):
                raise

    # -- plans and bookkeeping

    def _plan(self, table: OnlineTable) -> _Plan:
        entry = self._plans_by_id.get(id(table))
        if entry is not None and entry[0] is table:
            return entry[1]
        plan = self._plans.get(table)
        if plan is None:
            plan = self._plans[table] = _Plan.build(table)
        if len(self._plans_by_id) >= 1024:  # callers building tables per call
            self._plans_by_id.clear()
        self._plans_by_id[id(table)] = (table, plan)
        return plan

    def _stored_layout(self, view: str) -> str | None:
        row = self._conn.execute(self._meta.get_layout, (view,)).fetchone()
        return row[0] if row else None

    def _is_ready(self, plan: _Plan) -> bool:
        """Whether the stored table has `plan`'s layout.

        Checked once per connection and view: a rebuild by another process with a
        different definition is not noticed until reopening (its own definitions
        would be stale then anyway).
        """
        view = plan.table.view
        if self._ready.get(view) == plan.layout:
            return True
        if self._stored_layout(view) != plan.layout:
            return False
        self._ready[view] = plan.layout
        return True

    def _transaction(self, work: Callable[[sqlite3.Connection], None]) -> None:
        conn = self._conn
        with self._lock:
            conn.execute("BEGIN IMMEDIATE")
            try:
                work(conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    # -- OnlineStore

    def prepare(self, table: OnlineTable) -> None:
        plan = self._plan(table)
        meta = self._meta
        view = table.view

        def work(conn: sqlite3.Connection) -> None:
            stored = self._stored_layout(view)
            if stored != plan.layout:
                # Also drops a leftover table whose layout was never recorded.
                conn.execute(plan.drop_sql)
                if stored is not None:
                    conn.execute(meta.delete_state, (view,))
                conn.execute(meta.set_layout, (view, plan.layout))
            conn.execute(plan.create_sql)

        self._ready.pop(view, None)
        self._transaction(work)
        self._ready[view] = plan.layout

    def upsert(self, table: OnlineTable, batch: pa.RecordBatch | pa.Table) -> int:
        plan = self._plan(table)
        data = as_table(batch)
        offered = data.num_rows
        if offered == 0:
            return 0
        if not self._is_ready(plan):
            raise RunError(
                f"online table of view {table.view!r} is missing or has another layout",
                hint="call prepare() before upsert()",
            )
        names = set(data.column_names)
        missing = [c for c in (*plan.keys, EVENT_TS, *table.feature_names) if c not in names]
        if missing:
            raise RunError(f"rows for online view {table.view!r} lack columns {', '.join(missing)}")
        # A row with a null key can never be read (reads of null keys return None)
        # and cannot be stored in a primary key: drop it.
        for k in plan.keys:
            if data.column(k).null_count:
                data = data.filter(pc.is_valid(data.column(k)))
        if data.num_rows == 0:
            return offered
        event = to_micros(data.column(EVENT_TS))
        if event.null_count:
            raise RunError(f"rows for online view {table.view!r} have a null {EVENT_TS}")
        if data.num_rows > 1:
            order = pc.sort_indices(data, sort_keys=[(k, "ascending") for k in plan.keys])
            data = data.take(order)
            event = event.take(order)
        if CREATED_TS in names:
            created = pc.fill_null(to_micros(data.column(CREATED_TS)), _NULL_CREATED)
            created_values = created.to_pylist()
        else:
            created_values = [NULL_CREATED_TS] * data.num_rows
        columns: list[list[Any]] = [plain(data.column(k)).to_pylist() for k in plan.keys]
        columns.append(event.to_pylist())
        columns.append(created_values)
        columns.extend(feature_values(data.column(f)) for f in table.feature_names)
        rows = zip(*columns, strict=True)

        def work(conn: sqlite3.Connection) -> None:
            conn.executemany(plan.upsert_sql, rows)

        self._transaction(work)
        return offered

    def read(
        self, table: OnlineTable, keys: Sequence[tuple[Any, ...]], now_us: int
    ) -> list[tuple[Any, ...] | None]:
        plan = self._plan(table)
        if not keys:
            return []
        if not self._is_ready(plan):
            return [None] * len(keys)  # never materialized with this layout: no values
        ttl = plan.ttl_us
        oldest = None if ttl is None else now_us - ttl
        nk = len(plan.keys)
        if len(keys) == 1:  # the serving hot path: one point lookup
            key = keys[0]
            if (key[0] is None) if nk == 1 else any(v is None for v in key):
                return [None]
            row = self._conn.execute(plan.point_sql, tuple(key)).fetchone()
            if row is None or (oldest is not None and row[0] < oldest):
                return [None]
            return [plan.decode(row[1:])]
        return self._read_many(plan, keys, oldest)

    def _read_many(
        self, plan: _Plan, keys: Sequence[tuple[Any, ...]], oldest: int | None
    ) -> list[tuple[Any, ...] | None]:
        nk = len(plan.keys)
        # Result rows are matched back by key value; SQLite and Python agree on
        # equality here (1 == 1.0, 1 != '1'), and duplicates are asked once.
        wanted: list[Any] = list(
            dict.fromkeys(
                (k[0] for k in keys if k[0] is not None)
                if nk == 1
                else (tuple(k) for k in keys if not any(v is None for v in k))
            )
        )
        found: dict[Any, tuple[Any, ...]] = {}
        conn = self._conn
        step = plan.rows_per_chunk
        for start in range(0, len(wanted), step):
            chunk = wanted[start : start + step]
            size = plan.bucket(len(chunk))
            chunk += [chunk[-1]] * (size - len(chunk))
            params = chunk if nk == 1 else [v for key in chunk for v in key]
            for row in conn.execute(plan.batch_sql(size), params):
                if oldest is not None and row[nk] < oldest:
                    continue
                found[row[0] if nk == 1 else row[:nk]] = row
        out: list[tuple[Any, ...] | None] = []
        for k in keys:
            try:
                row = found.get(k[0] if nk == 1 else tuple(k))
            except TypeError:  # an unhashable key value cannot have been stored
                row = None
            out.append(None if row is None else plan.decode(row[nk + 1 :]))
        return out

    def get_state(self, view: str) -> ViewState | None:
        row = self._conn.execute(self._meta.get_state, (view,)).fetchone()
        if row is None:
            return None
        watermark, materialized_at, view_hash, newest_event = row
        return ViewState(
            view=view,
            watermark=None if watermark is None else us_to_datetime(watermark),
            materialized_at=None if materialized_at is None else us_to_datetime(materialized_at),
            view_hash=view_hash,
            newest_event=None if newest_event is None else us_to_datetime(newest_event),
        )

    def set_state(self, state: ViewState) -> None:
        params = (
            state.view,
            datetime_to_us(state.watermark),
            datetime_to_us(state.materialized_at),
            state.view_hash,
            datetime_to_us(state.newest_event),
        )
        with self._lock:
            self._conn.execute(self._meta.set_state, params)

    def teardown(self, table: OnlineTable) -> None:
        plan = self._plan(table)
        meta = self._meta
        view = table.view

        def work(conn: sqlite3.Connection) -> None:
            conn.execute(plan.drop_sql)
            conn.execute(meta.delete_layout, (view,))
            conn.execute(meta.delete_state, (view,))

        self._ready.pop(view, None)
        self._transaction(work)

    def close(self) -> None:
        with self._lock:
            self._conn.close()
