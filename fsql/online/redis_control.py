"""The control plane of the Redis online store: namespaces, rebuilds, run state, teardown.

Each operation is one optimistic transaction: WATCH the project's meta, pending and state
hashes (those it decides on), read them, then MULTI ... EXEC the writes; EXEC fails
(WatchError) when any watched hash changed in between, by a transaction or by a script,
and the operation starts over from its reads. So every operation is atomic: it takes
effect at its EXEC, against exactly the values it read. The data-plane upsert script only
reads these hashes, so writes of feature values never make a transaction start over.

The records (meta, pending and state values, gc elements) are read and written here only;
KEY_LAYOUT (fsql.online.redis_codec) documents their bytes. Merges happen here in Python
on exact integers (Lua numbers are doubles: microsecond times past the year 2255 would
round). Retirement and pending times are the Redis server's TIME, never the client's.

Size: the whole control plane (namespaces, rebuilds, run state, teardown) is one set of
WATCH/MULTI/EXEC transactions over the same records; it stays in one module so each
transaction can be read beside the others it races with.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import msgpack
import redis

from fsql.errors import RunError
from fsql.online.base import (
    Fence,
    FencedError,
    Namespace,
    ViewState,
    merge_state,
    swap_state,
)
from fsql.online.times import datetime_to_us, us_to_datetime


@dataclass(frozen=True)
class Meta:
    """A view's live namespace as the meta hash records it."""

    raw: bytes
    layout: str
    tag: str
    view_hash: str
    generation: int

    @classmethod
    def make(cls, layout: str, tag: str, view_hash: str, generation: int) -> Meta:
        raw = f"{layout}:{tag}:{view_hash}:{generation}".encode()
        return cls(raw, layout, tag, view_hash, generation)

    @classmethod
    def parse(cls, raw: bytes) -> Meta:
        layout, _, rest = raw.decode().partition(":")
        tag, sep, rest = rest.partition(":")
        if not sep:  # "<layout>:<tag>" as older fsql wrote it
            return cls(raw, layout, tag, "", 0)
        view_hash, _, generation = rest.rpartition(":")
        return cls(raw, layout, tag, view_hash, int(generation or 0))


@dataclass(frozen=True)
class Pending:
    """One entry of the pending hash: a rebuild being filled under `tag`."""

    tag: str
    view: str
    layout: str
    view_hash: str
    generation: int
    created_ms: int

    def pack(self) -> bytes:
        record = [self.view, self.layout, self.view_hash, self.generation, self.created_ms]
        return msgpack.packb(record)

    @classmethod
    def parse(cls, tag: bytes | str, raw: bytes) -> Pending:
        view, layout, view_hash, generation, created_ms = msgpack.unpackb(raw)[:5]
        name = tag.decode() if isinstance(tag, bytes) else tag
        return cls(name, view, layout, view_hash, generation, created_ms)


def gc_entry(tag: str, retired_ms: int) -> bytes:
    """A gc list element; `retired_ms` 0 lets the keys go at once."""
    return f"{tag}:{retired_ms}".encode()


StateRecord = list[Any]  # [watermark_us, materialized_at_us, view_hash, newest_us, base_version]


def state_record(state: ViewState) -> StateRecord:
    us = datetime_to_us
    return [
        us(state.watermark),
        us(state.materialized_at),
        state.view_hash,
        us(state.newest_event),
        state.base_version,
    ]


def unpack_state(raw: bytes) -> StateRecord:
    record = list(msgpack.unpackb(raw))
    return record + [None] * (5 - len(record))


def pack_state(record: StateRecord) -> bytes:
    return msgpack.packb(record)


def state_from_record(view: str, record: StateRecord) -> ViewState:
    watermark, materialized_at, view_hash, newest, base_version = record[:5]
    when = us_to_datetime
    return ViewState(
        view=view,
        watermark=None if watermark is None else when(watermark),
        materialized_at=None if materialized_at is None else when(materialized_at),
        view_hash=view_hash,
        newest_event=None if newest is None else when(newest),
        base_version=base_version,
    )


def owned_by_other(view_hash: str | None, fence: Fence) -> bool:
    """Whether a namespace or state of definition `view_hash` refuses `fence`'s writes
    ("" or None: made without a fence, owned by no definition: a fence adopts it)."""
    return bool(view_hash) and view_hash != fence.view_hash


T = TypeVar("T")
PENDING_MAX_AGE_MS = 24 * 3_600_000  # a rebuild pending longer is taken for dead
MAX_TRIES = 200  # transaction attempts before giving up (each failure: another made progress)


@dataclass(frozen=True)
class Keys:
    """The project's control keys."""

    meta: bytes
    state: bytes
    pending: bytes
    gc: bytes
    key_types: bytes


def fenced(view: str, why: str) -> FencedError:
    """The refusal of a write under a definition that is not the live one (one line)."""
    return FencedError(
        f"online view {view!r}: {why}; nothing of this run was written over it",
        hint="if this run's definition is the one wanted, run it again (fsql run)",
    )


def _server_ms(pipe: Any) -> int:
    seconds, micros = pipe.time()
    return int(seconds) * 1000 + int(micros) // 1000


class Control:
    """The transactions, over one redis-py client; errors are mapped by the caller."""

    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        self.client = client
        self.keys = keys

    def _transact(self, watch: tuple[bytes, ...], body: Callable[[Any], T]) -> T:
        """Run `body(pipe)` until its EXEC succeeds. `body` reads in immediate mode, then
        calls pipe.multi() and pipe.execute(), or returns early (nothing to write)."""
        with self.client.pipeline(transaction=True) as pipe:
            for attempt in range(MAX_TRIES):
                try:
                    pipe.watch(*watch)
                    return body(pipe)
                except redis.WatchError:
                    pipe.reset()
                    time.sleep(random.random() * min(0.0005 * attempt, 0.01))
        raise RunError("the online store kept changing under a control operation; re-run")

    def pending(self) -> dict[str, Pending]:
        raw = self.client.hgetall(self.keys.pending)  # bytes: decode_responses is off
        entries = [Pending.parse(t, cast(bytes, v)) for t, v in raw.items()]
        return {p.tag: p for p in entries}

    def meta(self, view: str) -> Meta | None:
        raw = self.client.hget(self.keys.meta, view)
        return None if raw is None else Meta.parse(cast(bytes, raw))

    def sweep(self) -> None:
        """Queue the keys of rebuilds pending for over a day (their runs died) for deletion."""
        k = self.keys
        with self.client.pipeline(transaction=False) as pipe:
            pipe.time()
            pipe.hgetall(k.pending)
            (seconds, micros), raw = pipe.execute()
        now = int(seconds) * 1000 + int(micros) // 1000
        if not any(
            Pending.parse(t, v).created_ms < now - PENDING_MAX_AGE_MS for t, v in raw.items()
        ):
            return

        def body(pipe: Any) -> None:
            now = _server_ms(pipe)
            entries = [Pending.parse(t, v) for t, v in pipe.hgetall(k.pending).items()]
            dead = [p.tag for p in entries if p.created_ms < now - PENDING_MAX_AGE_MS]
            pipe.multi()
            for tag in dead:
                pipe.hdel(k.pending, tag)
                pipe.rpush(k.gc, gc_entry(tag, 0))
            pipe.execute()

        self._transact((k.pending,), body)

    def prepare(self, view: str, layout: str, fence: Fence | None, tag: str) -> Meta:
        """The view's live namespace: created empty (generation 0) when it has none; one
        of another layout replaced (its state dropped) when unfenced. With a fence, one
        made without a fence is adopted (takes the fence's definition); one of another
        layout or definition raises FencedError."""
        k = self.keys

        def decide(cur: Meta | None) -> Meta | None:
            """`cur` when it fits as it is; None when it must be written."""
            if cur is None:
                return None
            if fence is not None and (cur.layout != layout or owned_by_other(cur.view_hash, fence)):
                raise fenced(view, "its online values were made with another definition")
            if cur.layout != layout:
                return None
            if fence is not None and cur.view_hash != fence.view_hash:
                return None  # unowned: adopt it
            return cur

        cur = self.meta(view)
        if decide(cur) is not None:
            assert cur is not None
            return cur

        def body(pipe: Any) -> Meta:
            raw = pipe.hget(k.meta, view)
            cur = None if raw is None else Meta.parse(raw)
            if decide(cur) is not None:
                assert cur is not None
                return cur
            owner = fence.view_hash if fence is not None else ""
            if cur is not None and cur.layout == layout:  # adopted by the fence
                new = Meta.make(layout, cur.tag, owner, cur.generation)
            else:
                new = Meta.make(layout, tag, owner, 0)
            pipe.multi()
            pipe.hset(k.meta, view, new.raw)
            if cur is not None and cur.tag != new.tag:  # unfenced, another layout
                pipe.hdel(k.state, view)
                pipe.rpush(k.gc, gc_entry(cur.tag, 0))  # its values go at once
            pipe.execute()
            return new

        return self._transact((k.meta, k.state), body)

    def begin(self, view: str, layout: str, fence: Fence, tag: str) -> bool:
        """Register a pending namespace; False when `tag` is taken (pick another)."""
        seconds, micros = self.client.time()
        now = int(seconds) * 1000 + int(micros) // 1000
        entry = Pending(tag, view, layout, fence.view_hash, fence.started_us, now)
        return bool(self.client.hsetnx(self.keys.pending, tag, entry.pack()))

    def commit(
        self, view: str, layout: str, token: str, fence: Fence, state: ViewState
    ) -> Meta | None:
        """Swap the pending namespace in and merge `state` (definition and base version
        replaced), unless the live generation is newer than the fence: then drop the
        pending one and return None. The old live tag is queued with its retirement time."""
        k = self.keys

        def body(pipe: Any) -> Meta | None:
            raw = pipe.hget(k.pending, token)
            if raw is None:
                raise RunError(
                    f"the rebuild of online view {view!r} was dropped meanwhile "
                    "(aborted, torn down, or pending for over a day)",
                    hint="re-run the command",
                )
            entry = Pending.parse(token, raw)
            if (entry.view, entry.layout) != (view, layout):
                raise ValueError(f"token {token!r} is not a rebuild of view {view!r}")
            cur_raw = pipe.hget(k.meta, view)
            cur = None if cur_raw is None else Meta.parse(cur_raw)
            stored_raw = pipe.hget(k.state, view)
            stored = (
                None if stored_raw is None else state_from_record(view, unpack_state(stored_raw))
            )
            live = None if cur is None else Namespace(cur.layout, cur.view_hash, cur.generation)
            after = swap_state(live, stored, fence, state)
            if after is None:
                pipe.multi()
                pipe.hdel(k.pending, token)
                pipe.rpush(k.gc, gc_entry(token, 0))
                pipe.execute()
                return None
            now = _server_ms(pipe)
            new = Meta.make(layout, token, fence.view_hash, fence.started_us)
            pipe.multi()
            pipe.hset(k.meta, view, new.raw)
            pipe.hdel(k.pending, token)
            pipe.hset(k.state, view, pack_state(state_record(after)))
            if cur is not None:  # readers may hold its meta for a second: keep it a while
                pipe.rpush(k.gc, gc_entry(cur.tag, now))
            pipe.execute()
            return new

        return self._transact((k.meta, k.pending, k.state), body)

    def abort(self, token: str) -> None:
        k = self.keys

        def body(pipe: Any) -> None:
            if not pipe.hexists(k.pending, token):
                return
            pipe.multi()
            pipe.hdel(k.pending, token)
            pipe.rpush(k.gc, gc_entry(token, 0))
            pipe.execute()

        self._transact((k.pending,), body)

    def set_state(self, state: ViewState, fence: Fence | None) -> None:
        """Merge `state` into the stored one; FencedError when fenced and the live
        namespace or the stored state belongs to another definition."""
        k = self.keys
        view = state.view

        def body(pipe: Any) -> None:
            if fence is not None:
                raw = pipe.hget(k.meta, view)
                if raw is not None and owned_by_other(Meta.parse(raw).view_hash, fence):
                    raise fenced(view, "a newer definition was materialized meanwhile")
            stored_raw = pipe.hget(k.state, view)
            stored = None if stored_raw is None else unpack_state(stored_raw)
            if fence is not None and stored is not None and owned_by_other(stored[2], fence):
                raise fenced(view, "a newer definition was materialized meanwhile")
            previous = None if stored is None else state_from_record(view, stored)
            merged = state_record(merge_state(previous, state))  # the one merge rule
            if merged == stored:
                return
            pipe.multi()
            pipe.hset(k.state, view, pack_state(merged))
            pipe.execute()

        watch = (k.meta, k.state) if fence is not None else (k.state,)
        self._transact(watch, body)

    def teardown(self, view: str) -> None:
        """Drop meta, state, key types and every pending namespace of the view; their keys
        go at once."""
        k = self.keys

        def body(pipe: Any) -> None:
            raw = pipe.hget(k.meta, view)
            mine = [
                tag
                for tag, value in pipe.hgetall(k.pending).items()
                if Pending.parse(tag, value).view == view
            ]
            pipe.multi()
            pipe.hdel(k.meta, view)
            pipe.hdel(k.state, view)
            pipe.hdel(k.key_types, view)
            if raw is not None:
                pipe.rpush(k.gc, gc_entry(Meta.parse(raw).tag, 0))
            for tag in mine:
                pipe.hdel(k.pending, tag)
                pipe.rpush(k.gc, gc_entry(tag.decode(), 0))
            pipe.execute()

        self._transact((k.meta, k.pending, k.state), body)
