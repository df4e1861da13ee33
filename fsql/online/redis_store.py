"""The production online store: Redis, one compact string per entity and namespace.

The exact bytes are in `KEY_LAYOUT` (fsql.online.redis_codec), written so another
language can read the store. Why this design (figures: bench/redis_online.py, 1M keys):

- Data keys are `P <tag>:K`, not `P fsql:<project>:<view>:<layout>:K`. The tag is a
  random 8-character name for one namespace of a view: the meta hash maps each view to its
  live tag (with layout, definition and generation), the pending hash lists the tags of
  rebuilds being filled. Readable keys were 40+ bytes and cost 16 B more per key: over the
  160 B/key budget once the index below is counted. A tag is never reused, so old bytes
  can never be read as new, however long their deletion takes.
- Greatest-version-wins is decided inside Redis by one Lua script per chunk of keys (MGET,
  compare the 24-byte prefixes, MSET the winners) for every namespace the write goes to:
  no read-then-write race between batch runs, incremental runs and pushes. The script
  first checks that those namespaces are still the current ones (the live tag, and the
  pending tags of the writer's definition), so a writer that missed a swap or a new
  rebuild fails instead of writing into a dead namespace or missing a new one; the store
  then re-reads them and repeats the batch (writes are idempotent).
- Full materializations fill a pending tag and swap it in with one transaction
  (fsql.online.redis_control): readers see the old tag's values or the new one's. The old
  tag is deleted 10 s later at the earliest (RETIRE_GRACE_MS): a reader may use a meta
  value for up to META_RECHECK_S.
- Deletion without SCAN: the script appends every key it creates to an index, a Redis
  list of packed key suffixes per tag (6-8 B/key, against ~50-80 B/key for a SET of keys).
  A tag leaves the meta or pending hash and enters the gc list in one transaction; bounded
  atomic Lua steps then pop index elements and UNLINK their keys. Every control operation
  runs the collector, so a step cut off by a failure, or a tag still in its grace time, is
  finished by a later one. With `expire`, index lists are bucketed by event time and expire
  after their keys, so the index of a view whose keys keep expiring does not grow.
- Writes stream script calls on the thread's own connection (fsql.online.redis_link) with
  up to WINDOW unanswered, so Redis runs one chunk while Python encodes the next.
- Reads are one MGET per view (several views: `read_views`, one round trip) decoded in
  Python; the TTL is applied on the event time in the prefix, so expiry is optional.
- A join key over 32 KiB once encoded (codec.MAX_KEY_BYTES: the index gives key lengths in
  15 bits) can never be stored. A write skips such rows and writes every other one, since
  one odd key must not fail a whole materialization; it counts them per view and thread
  for the caller to report (`take_rejected`). A push refuses them before anything is
  written (`check_keys`); a read of one gets None, as for any key never stored.

Failures of Redis become one-line `RunError`s naming host:port (fsql.online.redis_link).

Size: the OnlineStore interface implemented for Redis (writes, reads, rebuild hooks, key
limits); the bytes, scripts, control plane and connections are in their own modules.
"""

from __future__ import annotations

import base64
import os
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pyarrow as pa

from fsql.definitions.keys import key_families
from fsql.errors import ProjectError, RunError
from fsql.online import redis_codec as codec
from fsql.online import redis_scripts as scripts
from fsql.online.base import (
    Fence,
    Found,
    Namespace,
    OnlineStore,
    OnlineTable,
    ViewState,
)
from fsql.online.redis_control import (
    Control,
    Keys,
    Meta,
    Pending,
    fenced,
    owned_by_other,
    state_from_record,
    unpack_state,
)
from fsql.online.redis_link import RedisLink

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
RETIRE_GRACE_MS = 10_000  # a retired live tag's keys outlive it this long (>> META_RECHECK_S)
WRITE_TRIES = 10  # a batch is repeated when its namespaces changed under it


@dataclass
class _View:
    """One view's live namespace as last seen in the meta hash."""

    meta: Meta | None  # None when the view is not stored
    base: bytes  # P <tag> ":"
    checked: float  # time.monotonic() of the last look at the meta hash

    @property
    def layout(self) -> str | None:
        return None if self.meta is None else self.meta.layout


def _new_tag() -> str:
    return base64.urlsafe_b64encode(os.urandom(6)).decode()


class RedisOnlineStore(OnlineStore):
    """Online store in Redis; one instance (one pool of settings) per FeatureStore.

    Safe to share between threads (each thread uses its own connection) and processes.
    """

    @classmethod
    def from_config(
        cls, config: Mapping[str, Any], project_root: Path, project: str
    ) -> RedisOnlineStore:
        """`url` (required), `key_prefix`, `socket_timeout`, `connect_timeout` (seconds;
        absent or null: the defaults of fsql.online.redis_link) and `expire`."""
        url = config.get("url")
        if not isinstance(url, str) or not url:
            raise ProjectError(
                "online store redis needs url", hint="e.g. url: redis://127.0.0.1:6379/0"
            )
        return cls(
            url,
            project=project,
            key_prefix=str(config.get("key_prefix", "")),
            socket_timeout=config.get("socket_timeout"),
            connect_timeout=config.get("connect_timeout"),
            expire=bool(config.get("expire", False)),
        )

    def __init__(
        self,
        url: str,
        project: str,
        key_prefix: str = "",
        socket_timeout: float | None = 5.0,
        connect_timeout: float | None = 5.0,
        expire: bool = False,
    ) -> None:
        self._link = link = RedisLink(url, socket_timeout, connect_timeout)
        self.where = link.where
        self._errors = link.errors
        self.expire = expire
        self.prefix = key_prefix.encode()
        ns = f"{key_prefix}fsql:{project}:"
        self._meta_key = f"{ns}meta".encode()
        self._state_key = f"{ns}state".encode()
        self._pending_key = f"{ns}pending".encode()
        self._gc_key = f"{ns}gc".encode()
        self._types_key = f"{ns}keys".encode()
        self._idx_prefix = f"{ns}idx:".encode()
        keys = Keys(
            self._meta_key, self._state_key, self._pending_key, self._gc_key, self._types_key
        )
        self._control = Control(link.client, keys)
        self._views: dict[str, _View] = {}
        self._pending: dict[str, Pending] | None = None  # the pending hash, cached
        # view -> (key type families, monotonic time read) for reads; what this instance
        # wrote last, to skip writing them again.
        self._key_types: dict[str, tuple[tuple[str, ...] | None, float]] = {}
        self._wrote_types: dict[str, str] = {}
        self._plans: dict[int, codec.Plan] = {}
        self._key_pack = codec.key_packer().pack
        # (view, thread id) -> rows skipped by that thread's writes, until taken.
        self._rejected: dict[tuple[str, int], codec.Rejected] = {}
        self._rejected_lock = threading.Lock()

    # -- plumbing

    def _plan(self, table: OnlineTable) -> codec.Plan:
        plan = self._plans.get(id(table))
        if plan is None or plan.table is not table:
            if len(self._plans) >= 1024:  # callers building tables per call
                self._plans.clear()
            plan = self._plans[id(table)] = codec.Plan.build(table)
        return plan

    def _view(self, view: str, max_age: float | None = None) -> _View:
        cached = self._views.get(view)
        if cached is not None and (max_age is None or time.monotonic() - cached.checked < max_age):
            return cached
        return self._remember(view, self._control.meta(view))

    def _remember(self, view: str, meta: Meta | None) -> _View:
        base = b"" if meta is None else self.prefix + meta.tag.encode() + b":"
        info = self._views[view] = _View(meta, base, time.monotonic())
        return info

    def _pendings(self) -> dict[str, Pending]:
        pending = self._pending
        if pending is None:
            pending = self._pending = self._control.pending()
        return pending

    def _collect(self) -> None:
        """Delete the keys of dead tags, one bounded atomic step at a time."""
        args = (self.prefix, self._idx_prefix, COLLECT_STEP, RETIRE_GRACE_MS)
        while self._link.eval("collect", scripts.COLLECT_LUA, [self._gc_key], args):
            pass

    # -- namespaces

    def namespace(self, view: str) -> Namespace | None:
        with self._errors(f"reading the namespace of view '{view}'"):
            meta = self._remember(view, self._control.meta(view)).meta
        return None if meta is None else Namespace(meta.layout, meta.view_hash, meta.generation)

    def prepare(self, table: OnlineTable, fence: Fence | None = None) -> None:
        if not table.join_keys:
            raise ProjectError(f"online view {table.view!r} has no join keys")
        plan = self._plan(table)
        with self._errors(f"preparing view '{table.view}'"):
            try:
                meta = self._control.prepare(table.view, plan.layout, fence, _new_tag())
            finally:
                self._views.pop(table.view, None)
            self._remember(table.view, meta)
            self._control.sweep()
            self._collect()

    def begin_rebuild(self, table: OnlineTable, fence: Fence) -> str:
        if not table.join_keys:
            raise ProjectError(f"online view {table.view!r} has no join keys")
        plan = self._plan(table)
        with self._errors(f"starting a rebuild of view '{table.view}'"):
            self._control.sweep()
            self._collect()
            while True:
                tag = _new_tag()
                if self._control.begin(table.view, plan.layout, fence, tag):
                    self._pending = None
                    return tag

    def upsert_pending(
        self, table: OnlineTable, token: str, batch: pa.RecordBatch | pa.Table
    ) -> int:
        return self._upsert(table, batch, None, token)

    def commit_rebuild(
        self, table: OnlineTable, token: str, fence: Fence, state: ViewState
    ) -> bool:
        plan = self._plan(table)
        with self._errors(f"swapping in the rebuild of view '{table.view}'"):
            try:
                meta = self._control.commit(table.view, plan.layout, token, fence, state)
            finally:
                self._pending = None
                self._views.pop(table.view, None)
            if meta is not None:
                self._remember(table.view, meta)
            self._collect()
        return meta is not None

    def abort_rebuild(self, table: OnlineTable, token: str) -> None:
        with self._errors(f"dropping the rebuild of view '{table.view}'"):
            self._control.abort(token)
            self._pending = None
            self._collect()

    # -- writes

    def upsert(
        self, table: OnlineTable, batch: pa.RecordBatch | pa.Table, fence: Fence | None = None
    ) -> int:
        return self._upsert(table, batch, fence, None)

    def _upsert(
        self,
        table: OnlineTable,
        batch: pa.RecordBatch | pa.Table,
        fence: Fence | None,
        token: str | None,
    ) -> int:
        plan = self._plan(table)
        data = pa.Table.from_batches([batch]) if isinstance(batch, pa.RecordBatch) else batch
        offered = data.num_rows
        if offered == 0:
            return 0
        data = codec.normalized(table, data)
        if data.num_rows == 0:
            return offered
        ttl = table.ttl_us if self.expire else None
        width = 0 if ttl is None else max(ttl // 1000, HOUR_MS)
        tail = [self.prefix, self._idx_prefix, width, (ttl or 0) // 1000]
        families = key_families(data.schema, table.join_keys)
        with self._errors(f"writing view '{table.view}'"):
            for _ in range(WRITE_TRIES):
                try:
                    head = self._targets(plan, fence, token)
                except RunError:  # decided on cached namespaces: look again
                    self._views.pop(table.view, None)
                    self._pending = None
                    head = self._targets(plan, fence, token)
                if self._wrote_types.get(table.view) != families:  # for reads to check keys
                    self._link.client.hset(self._types_key, table.view, families)
                    self._wrote_types[table.view] = families
                rejected = codec.Rejected(table.view, table.join_keys)  # of this attempt
                chunks = codec.encode_chunks(
                    plan, data, self._key_pack, ttl, CHUNK, SLICE, rejected
                )
                sha = self._link.script("upsert", scripts.UPSERT_LUA)
                command = (b"EVALSHA", sha, 2, self._meta_key, self._pending_key, *head, *tail)
                outcome = self._link.stream(command, chunks, WINDOW)
                if outcome is None:
                    if rejected.count:
                        self._note_rejected(rejected)
                    return offered
                if outcome == "stale":  # namespaces changed meanwhile: re-read them
                    self._views.pop(table.view, None)
                    self._pending = None
                    self._wrote_types.pop(table.view, None)
                else:  # the server lost its scripts (restart, SCRIPT FLUSH)
                    self._link.sha.clear()
        raise RunError(f"online view {table.view!r} kept changing while being written")

    def _note_rejected(self, rejected: codec.Rejected) -> None:
        where = (rejected.view, threading.get_ident())
        with self._rejected_lock:
            seen = self._rejected.get(where)
            if seen is None:
                if len(self._rejected) >= 1024:  # nobody takes them (writes without a run)
                    self._rejected.clear()
                self._rejected[where] = rejected
            else:
                seen.add(rejected)

    def take_rejected(self, view: str) -> codec.Rejected | None:
        """The rows of `view` that this thread's writes skipped since the last call,
        because their key is too long to store (see module); None when there were none.
        A materialization takes them when its writes are done, to report them once."""
        with self._rejected_lock:
            return self._rejected.pop((view, threading.get_ident()), None)

    def check_keys(self, table: OnlineTable, rows: pa.Table, where: str | None = None) -> None:
        """Raise ProjectError when a key of `rows` (with `table`'s join-key columns) is
        too long to store: a push checks this before it writes anything, offline or
        online, rather than have the write skip the row."""
        rejected = codec.Rejected(table.view, table.join_keys)
        for start in range(0, rows.num_rows, SLICE):
            part = rows.slice(start, SLICE)
            try:
                keys = codec.key_suffixes(self._key_pack, [part.column(k) for k in table.join_keys])
            except (ValueError, TypeError, OverflowError) as err:
                raise ProjectError(
                    f"view '{table.view}': bad join key: {err}", file=where
                ) from None
            rejected.note(part, codec.too_long(keys), keys)
        count = rejected.count
        if count:
            rows_of = f"{count:,} {'row' if count == 1 else 'rows'} of view '{table.view}'"
            have = "has a join key" if count == 1 else "have join keys"
            raise ProjectError(
                f"{rows_of} {have} too long to store in Redis (first: {rejected.first}); "
                "nothing was written",
                file=where,
                hint=f"{codec.key_advice(table.join_keys)}, and push the key the model makes",
            )

    def _targets(self, plan: codec.Plan, fence: Fence | None, token: str | None) -> list[Any]:
        """The upsert script's checks and targets (ARGV 1-6, see redis_scripts)."""
        view = plan.table.view
        if token is not None:
            entry = self._pendings().get(token)
            if entry is None or entry.view != view or entry.layout != plan.layout:
                raise RunError(
                    f"the rebuild of online view {view!r} ended meanwhile "
                    "(committed, aborted, torn down, or pending for over a day)",
                    hint="re-run the command",
                )
            return [view, b"", b"T", plan.layout, b"", token]
        meta = self._view(view).meta
        if fence is not None and meta is not None and owned_by_other(meta.view_hash, fence):
            raise fenced(view, "a newer definition was materialized meanwhile")
        if meta is None or meta.layout != plan.layout:
            raise RunError(
                f"online view {view!r} is missing in Redis or has another layout",
                hint="call prepare() before upsert(); re-run the command",
            )
        if fence is None:
            return [view, meta.raw, b"", plan.layout, b"", b""]
        tags = sorted(
            p.tag
            for p in self._pendings().values()
            if (p.view, p.layout, p.view_hash) == (view, plan.layout, fence.view_hash)
        )
        return [view, meta.raw, b"D", plan.layout, fence.view_hash, ",".join(tags)]

    # -- reads

    def read(
        self, table: OnlineTable, keys: Sequence[tuple[Any, ...]], now_us: int
    ) -> list[tuple[Any, ...] | None]:
        return self.read_views([(table, keys)], now_us)[0]

    def read_views(
        self, requests: Sequence[tuple[OnlineTable, Sequence[tuple[Any, ...]]]], now_us: int
    ) -> list[list[tuple[Any, ...] | None]]:
        """Several views' reads in one round trip: one MGET per view (and per 10k keys)."""
        out: list[list[tuple[Any, ...] | None]] = []
        for plan, values in self._fetch(requests):
            ttl = plan.table.ttl_us
            oldest = b"" if ttl is None else codec.u64(now_us - ttl + codec.OFFSET)
            decode = plan.decode
            out.append([None if v is None or v[:8] < oldest else decode(v) for v in values])
        return out

    def read_timed(
        self, table: OnlineTable, keys: Sequence[tuple[Any, ...]], now_us: int
    ) -> list[Found | None]:
        return self.read_views_timed([(table, keys)], now_us)[0]

    def read_views_timed(
        self, requests: Sequence[tuple[OnlineTable, Sequence[tuple[Any, ...]]]], now_us: int
    ) -> list[list[Found | None]]:
        out: list[list[Found | None]] = []
        for plan, values in self._fetch(requests):
            ttl = plan.table.ttl_us
            oldest = None if ttl is None else now_us - ttl
            rows: list[Found | None] = []
            for value in values:
                if value is None:
                    rows.append(None)
                    continue
                event = int.from_bytes(value[:8], "big") - codec.OFFSET
                expired = oldest is not None and event < oldest
                rows.append(Found(event, None if expired else plan.decode(value)))
            out.append(rows)
        return out

    def _fetch(
        self, requests: Sequence[tuple[OnlineTable, Sequence[tuple[Any, ...]]]]
    ) -> list[tuple[codec.Plan, list[bytes | None]]]:
        """Each view's stored value per key (None: no value), by one MGET per view (and
        per 10k keys), all views in one round trip."""
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
                        if k is not None and len(k) <= codec.MAX_KEY_BYTES:  # else never stored
                            where.append(i)
                            wanted.append(base + k)
                asks.append((plan, where, wanted))
                for lo in range(0, len(wanted), MGET_CHUNK):
                    commands.append((b"MGET", *wanted[lo : lo + MGET_CHUNK]))
            replies = self._link.send(commands) if commands else []
        found = [v for reply in replies for v in reply]
        out: list[tuple[codec.Plan, list[bytes | None]]] = []
        pos = 0
        for (plan, where, _), (_, keys) in zip(asks, requests, strict=True):
            values: list[bytes | None] = [None] * len(keys)
            for i, value in zip(where, found[pos : pos + len(where)], strict=True):
                values[i] = value
            pos += len(where)
            out.append((plan, values))
        return out

    def key_types(self, view: str) -> tuple[str, ...] | None:
        cached = self._key_types.get(view)
        now = time.monotonic()
        if cached is not None and now - cached[1] < META_RECHECK_S:
            return cached[0]
        with self._errors(f"reading the key types of view '{view}'"):
            raw = self._link.client.hget(self._types_key, view)
        families = None if raw is None else tuple(cast(bytes, raw).decode().split(","))
        self._key_types[view] = (families, now)
        return families

    # -- state and lifecycle

    def stored_views(self) -> list[str]:
        with self._errors("listing the stored views"):
            live = self._link.client.hkeys(self._meta_key)
            state = self._link.client.hkeys(self._state_key)
            pending = self._control.pending().values()
        names = {cast(bytes, v).decode() for v in [*live, *state]}
        return sorted(names | {p.view for p in pending})

    def get_state(self, view: str) -> ViewState | None:
        with self._errors(f"reading the state of view '{view}'"):
            raw = self._link.client.hget(self._state_key, view)
        return None if raw is None else state_from_record(view, unpack_state(cast(bytes, raw)))

    def set_state(self, state: ViewState, fence: Fence | None = None) -> None:
        with self._errors(f"recording the state of view '{state.view}'"):
            self._control.set_state(state, fence)

    def teardown(self, table: OnlineTable) -> None:
        with self._errors(f"tearing down view '{table.view}'"):
            try:
                self._control.teardown(table.view)
            finally:
                self._pending = None
                self._views.pop(table.view, None)
                self._key_types.pop(table.view, None)
                self._wrote_types.pop(table.view, None)
            self._remember(table.view, None)
            self._collect()

    def close(self) -> None:
        self._link.close()
