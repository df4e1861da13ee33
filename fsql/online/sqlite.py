"""The embedded online store: one SQLite file, one `WITHOUT ROWID` table per view namespace.

Why SQLite this way (measured in ENGINE_NOTES "Online stores"):

- `WITHOUT ROWID` with the join keys as primary key keeps each row inside the key
  b-tree, so a point read is one b-tree descent (p50 of a few microseconds);
- newest-wins is one guarded `INSERT ... ON CONFLICT ... DO UPDATE ... WHERE
  (excluded.event_ts, excluded.created_ts, excluded.version) > (stored triple)`,
  decided inside SQLite, so batch runs, incremental runs and pushes (threads or
  processes) may race without going back in time;
- a full materialization fills a new table and swaps it in (one transaction updates
  `fsql_namespaces` and drops the old table), so deleted keys disappear and readers
  never see a half-built view; every write checks the definition it was made with
  against the live one in the same transaction (fencing);
- rows are written sorted by key, which SQLite takes about 4x faster;
- join-key columns have no declared type (no affinity): `1` and `'1'` stay
  different keys, as key types matter everywhere else in fsql.

The statements live in `fsql.online.sqlite_sql` (built with sqlglot), the value
conversions in `fsql.online.sqlite_values` and (Arrow batches) `fsql.online.sqlite_rows`,
the per-view plan (statements generated once per view layout, namespace and read batch
size) in `fsql.online.sqlite_plan`; this module holds the store itself: namespaces,
fences, run state, reads and writes.

Threading: writes (and schema changes) share one connection, are serialized by a lock
and run in one `BEGIN IMMEDIATE` transaction per call. Reads take no lock and use a
connection per thread, so they see only committed writes and never run inside another
thread's write transaction (a read's snapshot there could make that BEGIN or COMMIT
fail). An in-memory store has one connection for both.

Size: the OnlineStore interface implemented for SQLite, with its connection and locking
rules in one place; statements, per-view plans and value conversions are in their own
modules.
"""

from __future__ import annotations

import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from fsql.errors import RunError
from fsql.online.base import (
    Fence,
    FencedError,
    Found,
    Namespace,
    OnlineStore,
    OnlineTable,
    ViewState,
    merge_state,
    swap_state,
)
from fsql.online.sqlite_plan import Plan
from fsql.online.sqlite_sql import (
    drop_sql,
    meta_sql,
    session_sql,
    table_name,
)
from fsql.online.sqlite_values import key_value
from fsql.online.times import datetime_to_us, us_to_datetime

if TYPE_CHECKING:  # writes convert batches in fsql.online.sqlite_rows; reads need none
    import pyarrow as pa

__all__ = ["SQLiteOnlineStore"]

# How often a reader looks again for a namespace it found missing or of another layout.
_RECHECK_S = 1.0
_READ_ATTEMPTS = 20
# A pending namespace this much older than a new rebuild is a dead run's: dropped.
_ABANDONED_US = 86_400_000_000
_T = TypeVar("_T")

# --- the store ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Live:
    """A view's live namespace as read from `fsql_namespaces`."""

    layout: str
    tag: str
    view_hash: str
    generation: int


_BUSY_SECONDS = 10.0  # the wait for another writer (PRAGMA busy_timeout, in seconds)
# Key values stored as they are (others are normalised by key_value first).
_PLAIN_KEYS = frozenset({int, str, float, bytes, type(None)})
_NO_KEY = (None,)  # a key that cannot be stored: matches nothing


def _plain_key(key: tuple[Any, ...]) -> bool:
    """Whether every value of `key` is stored as it is (no normalisation needed)."""
    return all(type(v) in _PLAIN_KEYS for v in key)


class SQLiteOnlineStore(OnlineStore):
    """Online store in one SQLite file (or `":memory:"`), safe to share between threads.

    Tables: `fsql_view__<view>__<tag>` per namespace; `fsql_namespaces` records each
    view's live namespace (layout, tag, definition, generation), `fsql_pending` the
    namespaces of rebuilds in progress, `fsql_run_state` the run state, kept here so a
    fresh checkout (CI) still knows where incremental runs stopped. A swap updates
    `fsql_namespaces` and drops the old table in one transaction: a reader holding the
    old table's name gets "no such table" on its next statement, looks the namespace up
    again and reads the new one, so readers see old or new values, never an error.
    """

    @classmethod
    def from_config(
        cls, config: Mapping[str, Any], project_root: Path, project: str
    ) -> SQLiteOnlineStore:
        """`path` (default target/online.db, relative to the project) or ":memory:"."""
        raw = str(config.get("path") or "target/online.db")
        if raw == ":memory:":
            return cls(raw)
        path = Path(raw)
        return cls(path if path.is_absolute() else project_root / path)

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
        # Reads use a connection per thread: on the writer's connection they would run
        # inside another thread's write transaction, and a read's snapshot can make that
        # transaction's BEGIN or COMMIT fail. (":memory:" has one connection only.)
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._plans: dict[tuple[OnlineTable, str], Plan] = {}
        # Plans by object identity: hashing a frozen OnlineTable costs microseconds
        # (enum hashes), more than the point read itself. Holds the table to pin its id.
        self._plans_by_id: dict[int, tuple[OnlineTable, str, Plan]] = {}
        # view -> (live namespace as last seen, monotonic time seen), for readers.
        self._live: dict[str, tuple[_Live | None, float]] = {}
        self._key_types: dict[str, tuple[tuple[str, ...] | None, float]] = {}
        self._meta = meta_sql()
        self._session = session_sql()
        conn = self._conn
        for setting in self._session.writer_settings:  # WAL, busy timeout, cache size
            conn.execute(setting)
        with self._lock:
            meta = self._meta
            for ddl in (meta.create_live, meta.create_pending, meta.create_state, meta.create_keys):
                conn.execute(ddl)

    def _reader(self) -> sqlite3.Connection:
        """This thread's read connection (autocommit: each read sees the latest commit)."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            return conn
        if self.path == ":memory:":
            conn = self._conn
        else:
            conn = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, cached_statements=512
            )
            for setting in self._session.settings:
                conn.execute(setting)
            with self._lock:
                self._readers.append(conn)
        self._local.conn = conn
        return conn

    # -- plans and bookkeeping

    def _plan(self, table: OnlineTable, tag: str) -> Plan:
        entry = self._plans_by_id.get(id(table))
        if entry is not None and entry[0] is table and entry[1] == tag:
            return entry[2]
        plan = self._plans.get((table, tag))
        if plan is None:
            if len(self._plans) >= 4096:  # namespaces come and go with every rebuild
                self._plans.clear()
            plan = self._plans[(table, tag)] = Plan.build(table, table_name(table.view, tag))
        if len(self._plans_by_id) >= 1024:  # callers building tables per call
            self._plans_by_id.clear()
        self._plans_by_id[id(table)] = (table, tag, plan)
        return plan

    def _get_live(self, conn: sqlite3.Connection, view: str) -> _Live | None:
        row = conn.execute(self._meta.get_live, (view,)).fetchone()
        return None if row is None else _Live(row[0], row[1], row[2] or "", int(row[3] or 0))

    def _reader_live(self, view: str, refresh: bool = False) -> _Live | None:
        """The live namespace for reads: cached, looked up again when the cached table
        is gone (`refresh`) and, when there was none or of another layout, once a
        second (another process may create it)."""
        cached = self._live.get(view)
        now = time.monotonic()
        if cached is not None and not refresh:
            live, seen = cached
            if live is not None or now - seen < _RECHECK_S:
                return live
        live = self._get_live(self._reader(), view)
        self._live[view] = (live, now)
        return live

    def _transaction(self, work: Callable[[sqlite3.Connection], _T]) -> _T:
        conn, session = self._conn, self._session
        with self._lock:
            self._begin(conn)
            try:
                result = work(conn)
            except BaseException:
                conn.execute(session.rollback)
                raise
            conn.execute(session.commit)
            return result

    def _begin(self, conn: sqlite3.Connection) -> None:
        """BEGIN IMMEDIATE, waiting while another process writes. SQLite's busy timeout
        covers most waits, but not one: when a read of another thread of this instance
        holds a snapshot older than another process's last commit, BEGIN fails at once
        with "database is locked" (a stale snapshot cannot become a writer). Those are
        retried, within the same bound as the busy timeout."""
        deadline = time.monotonic() + _BUSY_SECONDS
        delay = 0.001
        while True:
            try:
                conn.execute(self._session.begin)
                return
            except sqlite3.OperationalError as err:
                if "locked" not in str(err) or time.monotonic() >= deadline:
                    raise
            time.sleep(delay)
            delay = min(delay * 2, 0.05)

    def _new_namespace(self, conn: sqlite3.Connection, table: OnlineTable) -> tuple[str, Plan]:
        tag = secrets.token_hex(4)  # lower-case: SQLite folds the case of table names
        plan = self._plan(table, tag)
        conn.execute(plan.create_sql)
        return tag, plan

    def _drop_namespace(self, conn: sqlite3.Connection, table: OnlineTable, tag: str) -> None:
        conn.execute(self._plan(table, tag).drop_sql)

    # -- OnlineStore: namespaces

    def namespace(self, view: str) -> Namespace | None:
        live = self._get_live(self._reader(), view)
        return None if live is None else Namespace(live.layout, live.view_hash, live.generation)

    def prepare(self, table: OnlineTable, fence: Fence | None = None) -> None:
        meta = self._meta
        view = table.view

        def work(conn: sqlite3.Connection) -> None:
            live = self._get_live(conn, view)
            if live is not None and live.layout == table.layout:
                if fence is None or live.view_hash in ("", fence.view_hash):
                    if fence is not None and not live.view_hash:
                        conn.execute(
                            meta.set_live,
                            (view, live.layout, live.tag, fence.view_hash, live.generation),
                        )
                    return
            if live is not None:
                if fence is not None:
                    raise _fenced(view, "its online values were made with another definition")
                self._drop_namespace(conn, table, live.tag)
                conn.execute(meta.delete_state, (view,))
            tag, _ = self._new_namespace(conn, table)
            owner = fence.view_hash if fence is not None else ""
            conn.execute(meta.set_live, (view, table.layout, tag, owner, 0))

        self._transaction(work)
        self._live.pop(view, None)

    def begin_rebuild(self, table: OnlineTable, fence: Fence) -> str:
        meta = self._meta

        def work(conn: sqlite3.Connection) -> str:
            # Namespaces of rebuilds whose run died long ago (a killed process) go first.
            for tag, _, _, _, generation in conn.execute(
                meta.pending_of_view, (table.view,)
            ).fetchall():
                if generation is not None and generation < fence.started_us - _ABANDONED_US:
                    conn.execute(_drop_table_sql(table.view, tag))
                    conn.execute(meta.delete_pending, (tag,))
            tag, _ = self._new_namespace(conn, table)
            conn.execute(
                meta.add_pending,
                (tag, table.view, table.layout, fence.view_hash, fence.started_us),
            )
            return tag

        return self._transaction(work)

    def upsert_pending(
        self, table: OnlineTable, token: str, batch: pa.RecordBatch | pa.Table
    ) -> int:
        from fsql.online.sqlite_rows import batch_families, store_columns

        rows, offered = store_columns(table, batch)
        if rows is None:
            return offered
        plan = self._plan(table, token)
        families = batch_families(table, batch)

        def work(conn: sqlite3.Connection) -> None:
            if conn.execute(self._meta.get_pending, (token,)).fetchone() is None:
                raise RunError(
                    f"online view {table.view!r}: the rebuild was committed or aborted meanwhile"
                )
            conn.executemany(plan.upsert_sql, zip(*rows, strict=True))
            self._record_key_types(conn, table.view, families)

        self._transaction(work)
        return offered

    def commit_rebuild(
        self, table: OnlineTable, token: str, fence: Fence, state: ViewState
    ) -> bool:
        meta = self._meta
        view = table.view

        def work(conn: sqlite3.Connection) -> bool:
            if conn.execute(meta.get_pending, (token,)).fetchone() is None:
                raise RunError(f"online view {view!r}: the rebuild was aborted meanwhile")
            conn.execute(meta.delete_pending, (token,))
            live = self._get_live(conn, view)
            current = None
            if live is not None:
                current = Namespace(live.layout, live.view_hash, live.generation)
            after = swap_state(current, self._read_state(conn, view), fence, state)
            if after is None:
                self._drop_namespace(conn, table, token)
                return False
            if live is not None:
                self._drop_namespace(conn, table, live.tag)
            conn.execute(
                meta.set_live, (view, table.layout, token, fence.view_hash, fence.started_us)
            )
            self._write_state(conn, after)
            return True

        done = self._transaction(work)
        self._live.pop(view, None)
        return done

    def abort_rebuild(self, table: OnlineTable, token: str) -> None:
        def work(conn: sqlite3.Connection) -> None:
            conn.execute(self._meta.delete_pending, (token,))
            self._drop_namespace(conn, table, token)

        self._transaction(work)

    # -- OnlineStore: writes

    def _record_key_types(self, conn: sqlite3.Connection, view: str, families: str) -> None:
        """Remember the type family of each join key as written, for reads to check
        keys against (fsql.definitions.keys)."""
        row = conn.execute(self._meta.get_keys, (view,)).fetchone()
        if row is None or row[0] != families:
            conn.execute(self._meta.set_keys, (view, families))

    def key_types(self, view: str) -> tuple[str, ...] | None:
        cached = self._key_types.get(view)
        now = time.monotonic()
        if cached is not None and now - cached[1] < _RECHECK_S:
            return cached[0]
        row = self._reader().execute(self._meta.get_keys, (view,)).fetchone()
        families = None if row is None else tuple(row[0].split(","))
        self._key_types[view] = (families, now)
        return families

    def upsert(
        self, table: OnlineTable, batch: pa.RecordBatch | pa.Table, fence: Fence | None = None
    ) -> int:
        from fsql.online.sqlite_rows import batch_families, store_columns

        rows, offered = store_columns(table, batch)
        if rows is None:
            return offered
        meta = self._meta
        view = table.view
        families = batch_families(table, batch)

        def work(conn: sqlite3.Connection) -> None:
            live = self._get_live(conn, view)
            if live is None or live.layout != table.layout:
                raise RunError(
                    f"online table of view {view!r} is missing or has another layout",
                    hint="call prepare() before upsert()",
                )
            if fence is not None and live.view_hash not in ("", fence.view_hash):
                raise _fenced(view, "a newer definition was materialized meanwhile")
            tags = [live.tag]
            if fence is not None:
                for tag, _, layout, owner, _ in conn.execute(meta.pending_of_view, (view,)):
                    if layout == table.layout and owner == fence.view_hash:
                        tags.append(tag)
            for tag in tags:
                conn.executemany(self._plan(table, tag).upsert_sql, zip(*rows, strict=True))
            self._record_key_types(conn, view, families)

        self._transaction(work)
        return offered

    # -- OnlineStore: reads

    def read(
        self, table: OnlineTable, keys: Sequence[tuple[Any, ...]], now_us: int
    ) -> list[tuple[Any, ...] | None]:
        # Not `read_timed` unwrapped: the serving hot path skips building a Found per row
        # (14% of a 100-row read, bench/online_reads.py).
        hits = self._live_rows(table, keys)
        if hits is None:
            return [None] * len(keys)
        plan, rows = hits
        ttl = plan.ttl_us
        oldest = None if ttl is None else now_us - ttl
        decode = plan.decode
        return [
            None if row is None or (oldest is not None and row[0] < oldest) else decode(row[1])
            for row in rows
        ]

    def read_timed(
        self, table: OnlineTable, keys: Sequence[tuple[Any, ...]], now_us: int
    ) -> list[Found | None]:
        hits = self._live_rows(table, keys)
        if hits is None:
            return [None] * len(keys)
        plan, rows = hits
        ttl = plan.ttl_us
        oldest = None if ttl is None else now_us - ttl
        return [
            None
            if row is None
            else Found(
                row[0], None if oldest is not None and row[0] < oldest else plan.decode(row[1])
            )
            for row in rows
        ]

    def _live_rows(
        self, table: OnlineTable, keys: Sequence[tuple[Any, ...]]
    ) -> tuple[Plan, list[tuple[int, tuple[Any, ...]] | None]] | None:
        """Each key's stored (event_us, encoded values) in the live namespace, or None when
        the view was never materialized with this layout."""
        for attempt in range(_READ_ATTEMPTS):
            live = self._reader_live(table.view, refresh=attempt > 0)
            if live is None or live.layout != table.layout:
                return None  # never materialized with this layout: no values
            plan = self._plan(table, live.tag)
            if not keys:
                return plan, []
            try:
                return plan, self._stored(plan, keys)
            except sqlite3.OperationalError as err:
                # The namespace was swapped (its table dropped) since we looked it up:
                # look again. Each swap is a whole rebuild, so a few tries always do.
                if attempt == _READ_ATTEMPTS - 1 or "no such table" not in str(err):
                    raise
        raise AssertionError("unreachable")

    def _stored(
        self, plan: Plan, keys: Sequence[tuple[Any, ...]]
    ) -> list[tuple[int, tuple[Any, ...]] | None]:
        nk = len(plan.keys)
        if len(keys) == 1:  # the serving hot path: one point lookup
            key: tuple[Any, ...] | None = keys[0]
            plain = type(keys[0][0]) in _PLAIN_KEYS if nk == 1 else _plain_key(keys[0])
            if not plain:
                key = key_value(keys[0])
            if key is None:
                return [None]
            if (key[0] is None) if nk == 1 else any(v is None for v in key):
                return [None]
            row = self._reader().execute(plan.point_sql, tuple(key)).fetchone()
            return [None if row is None else (row[0], row[1:])]
        return self._stored_many(plan, keys)

    def _stored_many(
        self, plan: Plan, keys: Sequence[tuple[Any, ...]]
    ) -> list[tuple[int, tuple[Any, ...]] | None]:
        nk = len(plan.keys)
        keys = [k if _plain_key(k) else key_value(k) or _NO_KEY for k in keys]
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
        conn = self._reader()
        step = plan.rows_per_chunk
        for start in range(0, len(wanted), step):
            chunk = wanted[start : start + step]
            size = plan.bucket(len(chunk))
            chunk += [chunk[-1]] * (size - len(chunk))
            params = chunk if nk == 1 else [v for key in chunk for v in key]
            for row in conn.execute(plan.batch_sql(size), params):
                found[row[0] if nk == 1 else row[:nk]] = row
        out: list[tuple[int, tuple[Any, ...]] | None] = []
        for k in keys:
            try:
                row = found.get(k[0] if nk == 1 else tuple(k))
            except TypeError:  # an unhashable key value cannot have been stored
                row = None
            out.append(None if row is None else (row[nk], row[nk + 1 :]))
        return out

    # -- OnlineStore: run state

    def _read_state(self, conn: sqlite3.Connection, view: str) -> ViewState | None:
        row = conn.execute(self._meta.get_state, (view,)).fetchone()
        if row is None:
            return None
        watermark, materialized_at, view_hash, newest_event, base_version = row
        when = us_to_datetime
        return ViewState(
            view=view,
            watermark=None if watermark is None else when(watermark),
            materialized_at=None if materialized_at is None else when(materialized_at),
            view_hash=view_hash or "",
            newest_event=None if newest_event is None else when(newest_event),
            base_version=base_version,
        )

    def _write_state(self, conn: sqlite3.Connection, state: ViewState) -> None:
        params = (
            state.view,
            datetime_to_us(state.watermark),
            datetime_to_us(state.materialized_at),
            state.view_hash,
            datetime_to_us(state.newest_event),
            state.base_version,
        )
        conn.execute(self._meta.set_state, params)

    def get_state(self, view: str) -> ViewState | None:
        return self._read_state(self._reader(), view)

    def stored_views(self) -> list[str]:
        return sorted(row[0] for row in self._reader().execute(self._meta.stored_views))

    def set_state(self, state: ViewState, fence: Fence | None = None) -> None:
        view = state.view

        def work(conn: sqlite3.Connection) -> None:
            stored = self._read_state(conn, view)
            if fence is not None:
                live = self._get_live(conn, view)
                owners = {stored.view_hash if stored else "", live.view_hash if live else ""}
                if owners - {"", fence.view_hash}:
                    raise _fenced(view, "a newer definition was materialized meanwhile")
            self._write_state(conn, merge_state(stored, state))

        self._transaction(work)

    def teardown(self, table: OnlineTable) -> None:
        meta = self._meta
        view = table.view

        def work(conn: sqlite3.Connection) -> None:
            live = self._get_live(conn, view)
            if live is not None:
                conn.execute(_drop_table_sql(view, live.tag))
            for tag, *_ in conn.execute(meta.pending_of_view, (view,)).fetchall():
                conn.execute(_drop_table_sql(view, tag))
                conn.execute(meta.delete_pending, (tag,))
            conn.execute(meta.delete_live, (view,))
            conn.execute(meta.delete_state, (view,))
            conn.execute(meta.delete_keys, (view,))

        self._transaction(work)
        self._live.pop(view, None)

    def close(self) -> None:
        with self._lock:
            for reader in self._readers:
                reader.close()
            self._readers.clear()
            self._conn.close()


def _fenced(view: str, why: str) -> FencedError:
    return FencedError(
        f"online view {view!r}: {why}; nothing of this run was written over it",
        hint="if this run's definition is the one wanted, run it again (fsql run)",
    )


def _drop_table_sql(view: str, tag: str) -> str:
    return drop_sql(table_name(view, tag))
