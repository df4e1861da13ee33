"""The production online store: Redis, one compact string per entity and view.

The exact bytes are in `KEY_LAYOUT` (fsql.online.redis_codec), written so another
language can read the store. Why this design (figures: bench/redis_online.py, 1M keys):

- Data keys are `P <tag>:K`, not `P fsql:<project>:<view>:<layout>:K`. The tag is a
  random 8-character name that the project's meta hash maps from the view (with its
  layout). Readable keys were 40+ bytes and cost 16 B more per key (167 vs 151 B/key
  measured): over the 160 B/key budget once the index below is counted. The tag still
  carries project, view and layout (through the meta hash) and acts as an epoch: a
  layout change or a teardown gives the view a new tag, so old bytes can never be read
  as new, at once and atomically, however long their deletion takes.
- Newest-wins is decided inside Redis by one Lua script per chunk of keys (MGET, compare
  the 16-byte prefixes, MSET the winners): no read-then-write race between batch runs,
  incremental runs and pushes. The script first checks that the view's tag is current,
  so a writer that missed a teardown fails instead of writing into a dead namespace; the
  store then re-reads the tag and repeats the batch (writes are idempotent).
- Teardown without SCAN: the script appends every key it creates to an index, a Redis
  list of packed key suffixes per tag (6-8 B/key, against ~50-80 B/key for a SET of keys).
  Teardown drops the view's meta and state fields in one step and queues the tag in a gc
  list; bounded atomic Lua steps then pop index elements and UNLINK their keys. A step cut
  off by a failure is resumed by the next prepare() or teardown(). With `expire`, index
  lists are bucketed by event time and expire after their keys, so the index of a view
  whose keys keep expiring and coming back does not grow.
- Each thread keeps one raw connection (built from the pool's settings): redis-py's pool
  checkout costs ~35 us, as much as the GET itself. Writes stream script calls on it with
  up to WINDOW unanswered, so Redis runs one chunk while Python encodes the next.
- Reads are one MGET per view (several views: `read_views`, one round trip) decoded in
  Python; the TTL is applied on the event time in the prefix, so expiry is optional.

Failures of Redis (refused, reset, timeout) become `RunError` naming host:port, never the
password; no call retries after a timeout, so none waits past the configured timeouts.
"""

from __future__ import annotations

import base64
import os
import threading
import time
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import hiredis
import msgpack
import pyarrow as pa
import pyarrow.compute as pc
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from fsql.errors import ProjectError, RunError
from fsql.online import redis_codec as codec
from fsql.online.base import CREATED_TS, EVENT_TS, OnlineStore, OnlineTable, ViewState

__all__ = ["KEY_LAYOUT", "RedisOnlineStore"]

KEY_LAYOUT = codec.KEY_LAYOUT
# Keys per script call: a call blocks Redis for ~1 ms, short enough for reads to
# interleave, long enough that the per-call overhead vanishes.
CHUNK = 1000
WINDOW = 8  # script calls sent but not yet answered
SLICE = 16 * CHUNK  # rows encoded at a time
MGET_CHUNK = 10_000
COLLECT_STEP = 20  # index list elements (~1000 keys each) per gc step
HOUR_MS = 3_600_000
META_RECHECK_S = 1.0  # how long a reader may miss a rebuild made by another process


@dataclass
class _View:
    """One view's namespace as last seen in the meta hash."""

    meta: bytes | None  # "<layout>:<tag>", None when the view is not stored
    layout: str | None
    base: bytes  # P <tag> ":"
    checked: float  # time.monotonic() of the last look at the meta hash


class RedisOnlineStore(OnlineStore):
    """Online store in Redis; one instance (one pool of settings) per FeatureStore.

    Safe to share between threads (each thread uses its own connection) and processes.
    """

    def __init__(
        self,
        url: str,
        project: str,
        key_prefix: str = "",
        socket_timeout: float | None = 5.0,
        connect_timeout: float | None = 5.0,
        expire: bool = False,
    ) -> None:
        self.where = codec.where(url)
        try:
            self._pool = redis.ConnectionPool.from_url(
                url,
                socket_timeout=socket_timeout,
                socket_connect_timeout=connect_timeout,
                retry=Retry(NoBackoff(), 0),
                decode_responses=False,
            )
        except ValueError as err:
            raise ProjectError(
                f"online store redis: invalid url ({err})",
                hint="e.g. url: redis://:PASSWORD@HOST:6379/0, or rediss://... for TLS",
            ) from None
        self._client = redis.Redis(connection_pool=self._pool)
        self.expire = expire
        self.prefix = key_prefix.encode()
        ns = f"{key_prefix}fsql:{project}:"
        self._meta_key = f"{ns}meta".encode()
        self._state_key = f"{ns}state".encode()
        self._gc_key = f"{ns}gc".encode()
        self._idx_prefix = f"{ns}idx:".encode()
        self._views: dict[str, _View] = {}
        self._plans: dict[int, codec.Plan] = {}
        self._sha: dict[str, str] = {}
        self._local = threading.local()
        self._conns: weakref.WeakSet[Any] = weakref.WeakSet()
        self._key_pack = codec.key_packer().pack

    # -- plumbing

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        """Redis failures -> one-line RunError naming host:port (never the password)."""
        try:
            yield
        except (redis.ConnectionError, redis.TimeoutError) as err:
            kind = "timed out" if isinstance(err, redis.TimeoutError) else "is unreachable"
            raise RunError(
                f"Redis at {self.where} {kind} while {doing}: {codec.first_line(err)}",
                hint="check that Redis runs and the online url in profiles.yml; "
                "nothing was lost, re-run the command",
            ) from None
        except redis.RedisError as err:
            message = f"Redis at {self.where} failed while {doing}: {codec.first_line(err)}"
            raise RunError(message) from None

    def _plan(self, table: OnlineTable) -> codec.Plan:
        plan = self._plans.get(id(table))
        if plan is None or plan.table is not table:
            if len(self._plans) >= 1024:  # callers building tables per call
                self._plans.clear()
            plan = self._plans[id(table)] = codec.Plan.build(table)
        return plan

    def _conn(self) -> Any:
        """This thread's connection, made from the pool's settings (URL, TLS, timeouts)."""
        local = self._local
        conn = getattr(local, "conn", None)
        if conn is None or local.pid != os.getpid():
            conn = self._pool.connection_class(**self._pool.connection_kwargs)
            local.conn, local.pid = conn, os.getpid()
            self._conns.add(conn)
        elif getattr(conn, "_sock", None) is not None:
            # Readable while no reply is due: EOF (say, Redis restarted since the last
            # call) or stray bytes. Reconnect now rather than fail this call (as the pool).
            try:
                if conn.can_read():
                    conn.disconnect()
            except (redis.ConnectionError, OSError):
                conn.disconnect()
        return conn

    def _send(self, commands: Sequence[tuple[Any, ...]], retry: bool = True) -> list[Any]:
        """Replies to `commands`, sent in one write. A broken connection (say, Redis was
        restarted since its last use) is reopened once: only idempotent reads come here."""
        conn = self._conn()
        try:
            conn.send_packed_command([hiredis.pack_command(c) for c in commands], False)
            return [conn.read_response() for _ in commands]
        except redis.ConnectionError:
            conn.disconnect()
            if not retry:
                raise
            return self._send(commands, retry=False)
        except BaseException:
            conn.disconnect()  # unread replies would confuse the next call
            raise

    def _script(self, name: str, source: str) -> str:
        sha = self._sha.get(name)
        if sha is None:
            sha = self._sha[name] = self._client.script_load(source)
        return sha

    def _eval(self, name: str, source: str, keys: Sequence[bytes], args: Sequence[Any]) -> Any:
        try:
            return self._client.evalsha(self._script(name, source), len(keys), *keys, *args)
        except redis.exceptions.NoScriptError:  # server restarted or SCRIPT FLUSH
            self._sha.clear()
            return self._client.evalsha(self._script(name, source), len(keys), *keys, *args)

    def _view(self, view: str, max_age: float | None = None) -> _View:
        cached = self._views.get(view)
        if cached is not None and (max_age is None or time.monotonic() - cached.checked < max_age):
            return cached
        return self._remember(view, self._client.hget(self._meta_key, view))

    def _remember(self, view: str, meta: bytes | None) -> _View:
        if meta is None:
            info = _View(None, None, b"", time.monotonic())
        else:
            layout, _, tag = meta.decode().partition(":")
            info = _View(meta, layout, self.prefix + tag.encode() + b":", time.monotonic())
        self._views[view] = info
        return info

    def _collect(self) -> None:
        """Delete the keys of dead tags, one bounded atomic step at a time."""
        args = (self.prefix, self._idx_prefix, COLLECT_STEP)
        while self._eval("collect", codec.COLLECT_LUA, [self._gc_key], args):
            pass

    # -- OnlineStore

    def prepare(self, table: OnlineTable) -> None:
        if not table.join_keys:
            raise ProjectError(f"online view {table.view!r} has no join keys")
        tag = base64.urlsafe_b64encode(os.urandom(6))
        keys = [self._meta_key, self._state_key, self._gc_key]
        with self._errors(f"preparing view '{table.view}'"):
            meta = self._eval("prepare", codec.PREPARE_LUA, keys, [table.view, table.layout, tag])
            self._remember(table.view, meta)
            self._collect()

    def upsert(self, table: OnlineTable, batch: pa.RecordBatch | pa.Table) -> int:
        plan = self._plan(table)
        data = pa.Table.from_batches([batch]) if isinstance(batch, pa.RecordBatch) else batch
        offered = data.num_rows
        if offered == 0:
            return 0
        names = set(data.column_names)
        missing = [c for c in (*table.join_keys, EVENT_TS, *table.feature_names) if c not in names]
        if missing:
            raise RunError(f"rows for online view {table.view!r} lack columns {', '.join(missing)}")
        for k in table.join_keys:  # a null key can never be read: drop such rows
            if data.column(k).null_count:
                data = data.filter(pc.is_valid(data.column(k)))
        if data.num_rows == 0:
            return offered
        if data.column(EVENT_TS).null_count:
            raise RunError(f"rows for online view {table.view!r} have a null {EVENT_TS}")
        if CREATED_TS not in names:
            data = data.append_column(CREATED_TS, pa.nulls(data.num_rows, pa.int64()))
        ttl = table.ttl_us if self.expire else None
        width = 0 if ttl is None else max(ttl // 1000, HOUR_MS)
        head = [table.view, b"", 0, width, (ttl or 0) // 1000]
        with self._errors(f"writing view '{table.view}'"):
            for _ in range(3):
                info = self._view(table.view)
                if info.meta is None or info.layout != plan.layout:
                    raise RunError(
                        f"online view {table.view!r} is missing in Redis or has another layout",
                        hint="call prepare() before upsert(); re-run the command",
                    )
                head[1:3] = [info.meta, len(info.base)]
                chunks = codec.encode_chunks(
                    plan, data, self._key_pack, info.base, ttl, CHUNK, SLICE
                )
                outcome = self._write(info, head, chunks)
                if outcome is None:
                    return offered
                if outcome == "stale":  # rebuilt or torn down meanwhile: re-read the tag
                    self._views.pop(table.view, None)
                else:  # the server lost its scripts (restart, SCRIPT FLUSH)
                    self._sha.clear()
        raise RunError(f"online view {table.view!r} kept changing while being written")

    def _write(
        self, info: _View, head: list[Any], chunks: Iterator[tuple[list[bytes], list[Any]]]
    ) -> str | None:
        """Stream one script call per chunk, at most WINDOW unanswered.

        Returns "stale" or "noscript" when the batch must be repeated, None when done.
        """
        registry = self._idx_prefix + info.base[len(self.prefix) : -1]
        sha = self._script("upsert", codec.UPSERT_LUA)
        conn = self._conn()
        outcome: str | None = None
        pending = 0

        def answer() -> None:
            nonlocal outcome, pending
            pending -= 1
            try:
                conn.read_response()
            except redis.exceptions.NoScriptError:
                outcome = outcome or "noscript"
            except redis.ResponseError as err:
                if not str(err).startswith("FSQL_STALE"):
                    raise
                outcome = "stale"

        try:
            for keys, args in chunks:
                command = (b"EVALSHA", sha, len(keys) + 2, self._meta_key, registry, *keys)
                conn.send_packed_command([hiredis.pack_command((*command, *head, *args))], False)
                pending += 1
                if pending >= WINDOW:
                    answer()
                if outcome is not None:
                    break  # the rest would fail the same way
            while pending:
                answer()
        except BaseException:
            conn.disconnect()  # unanswered replies would confuse the next call
            raise
        return outcome

    def read(
        self, table: OnlineTable, keys: Sequence[tuple[Any, ...]], now_us: int
    ) -> list[tuple[Any, ...] | None]:
        return self.read_views([(table, keys)], now_us)[0]

    def read_views(
        self, requests: Sequence[tuple[OnlineTable, Sequence[tuple[Any, ...]]]], now_us: int
    ) -> list[list[tuple[Any, ...] | None]]:
        """Several views' reads in one round trip: one MGET per view (and per 10k keys)."""
        asks: list[tuple[codec.Plan, list[int], list[bytes]]] = []
        commands: list[tuple[Any, ...]] = []
        with self._errors("reading online features"):
            for table, keys in requests:
                plan = self._plan(table)
                info = self._view(table.view, META_RECHECK_S)
                where: list[int] = []
                wanted: list[bytes] = []
                if info.layout == plan.layout:  # else: never materialized with this layout
                    pack, base = self._key_pack, info.base
                    for i, key in enumerate(keys):
                        try:
                            k = codec.encode_key(pack, key)
                        except (TypeError, ValueError, OverflowError):  # no key holds it
                            continue
                        if k is not None:
                            where.append(i)
                            wanted.append(base + k)
                asks.append((plan, where, wanted))
                for lo in range(0, len(wanted), MGET_CHUNK):
                    commands.append((b"MGET", *wanted[lo : lo + MGET_CHUNK]))
            replies = self._send(commands) if commands else []
        found = [v for reply in replies for v in reply]
        out: list[list[tuple[Any, ...] | None]] = []
        pos = 0
        for (plan, where, _), (_, keys) in zip(asks, requests, strict=True):
            rows: list[tuple[Any, ...] | None] = [None] * len(keys)
            ttl = plan.table.ttl_us
            oldest = b"" if ttl is None else codec.u64(now_us - ttl + codec.OFFSET)
            decode = plan.decode
            for i, value in zip(where, found[pos : pos + len(where)], strict=True):
                if value is not None and value[:8] >= oldest:
                    rows[i] = decode(value)
            pos += len(where)
            out.append(rows)
        return out

    def get_state(self, view: str) -> ViewState | None:
        with self._errors(f"reading the state of view '{view}'"):
            raw = self._client.hget(self._state_key, view)
        if raw is None:
            return None
        # Three items when no newest event is known (and in state older fsql wrote).
        watermark, materialized_at, view_hash, *rest = msgpack.unpackb(raw)
        newest = rest[0] if rest else None
        when = codec.us_to_datetime
        return ViewState(
            view=view,
            watermark=None if watermark is None else when(watermark),
            materialized_at=None if materialized_at is None else when(materialized_at),
            view_hash=view_hash,
            newest_event=None if newest is None else when(newest),
        )

    def set_state(self, state: ViewState) -> None:
        us = codec.datetime_to_us
        record = [us(state.watermark), us(state.materialized_at), state.view_hash]
        if state.newest_event is not None:  # else the three-item form older fsql wrote
            record.append(us(state.newest_event))
        with self._errors(f"recording the state of view '{state.view}'"):
            self._client.hset(self._state_key, state.view, msgpack.packb(record))

    def teardown(self, table: OnlineTable) -> None:
        keys = [self._meta_key, self._state_key, self._gc_key]
        with self._errors(f"tearing down view '{table.view}'"):
            self._eval("teardown", codec.TEARDOWN_LUA, keys, [table.view])
            self._remember(table.view, None)
            self._collect()

    def close(self) -> None:
        for conn in list(self._conns):
            conn.disconnect()
        self._pool.disconnect()
