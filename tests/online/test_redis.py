"""What only `fsql.online.redis_store.RedisOnlineStore` does, against a real Redis server.

The online-store semantics (newest-wins, TTL, keys, types, state, lifecycle, racing
writers) are the contract's, run on SQLite and Redis alike:
tests/online/test_store_contract.py. Here: what only a networked store keyed by bytes has:
its key encoding (composite keys, key width, timestamp and date keys), Lua scripts over
chunks, MGET and pipelined reads, projects sharing a prefix, the documented key layout,
the deletion of retired and abandoned namespaces, rebuilds racing writers and readers of
other instances, expiry, and a server that dies or hangs (`fsql run` over a dying server:
tests/online/test_redis_run_faults.py).

Uses database 13 of 127.0.0.1:6379 and a key prefix unique to each test; a test deletes
only the keys under its own prefix. Fault tests start their own redis-server on a free
port and always stop it (the `server` fixture, tests/support/redis_servers.py).
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import msgpack
import pyarrow as pa
import pytest

from tests.support.engines import require_module

redis = require_module("redis", "redis")

from fsql.definitions.types import FeatureType as T  # noqa: E402
from fsql.errors import ProjectError, RunError  # noqa: E402
from fsql.online import redis_store  # noqa: E402
from fsql.online.base import (  # noqa: E402
    CREATED_TS,
    EVENT_TS,
    VERSION,
    Fence,
    FencedError,
    OnlineTable,
    ViewState,
)
from fsql.online.redis_store import RedisOnlineStore  # noqa: E402
from tests.support import redis_servers  # noqa: E402
from tests.support.online_stores import (  # noqa: E402
    HOUR,
    NOW,
    USERS,
    Backend,
    batch,
    rebuild_under_readers,
    score,
    shuffled_versions,
    user,
)
from tests.support.redis_servers import RedisServer  # noqa: E402

URL = redis_servers.SHARED_URL


def index_entries(client: Any, list_key: bytes) -> list[bytes]:
    """The key suffixes K in one index list (length-prefixed, as KEY_LAYOUT says)."""
    out = []
    for item in client.lrange(list_key, 0, -1):
        pos = 0
        while pos < len(item):
            n = item[pos]
            if n >= 128:
                n, pos = (n - 128) * 256 + item[pos + 1], pos + 1
            out.append(item[pos + 1 : pos + 1 + n])
            pos += 1 + n
    return out


def count_prefix(client: Any, prefix: str) -> int:
    return sum(1 for _ in client.scan_iter(match=f"{prefix}*", count=1000))


@pytest.fixture
def raw() -> Iterator[Any]:
    """A client of the shared server (skips, or fails where Redis is required, without it)."""
    client = redis_servers.shared_client()
    yield client
    client.close()


@pytest.fixture
def prefix(raw: Any) -> Iterator[str]:
    """A key prefix owned by this test; every key under it is deleted afterwards."""
    p = redis_servers.new_prefix()
    yield p
    redis_servers.delete_prefix(raw, p)


@pytest.fixture
def make(prefix: str) -> Iterator[Callable[..., RedisOnlineStore]]:
    """Store instances on this test's prefix and project (closed at the end)."""
    made: list[RedisOnlineStore] = []

    def factory(**kwargs: Any) -> RedisOnlineStore:
        kwargs.setdefault("key_prefix", prefix)
        s = RedisOnlineStore(kwargs.pop("url", URL), kwargs.pop("project", "shop"), **kwargs)
        made.append(s)
        return s

    yield factory
    for s in made:
        s.close()


@pytest.fixture
def store(make: Callable[..., RedisOnlineStore]) -> RedisOnlineStore:
    s = make()
    s.prepare(USERS)
    return s


def live_tag(raw: Any, store: RedisOnlineStore, view: str) -> str:
    """The tag of the view's live namespace, read from the meta hash as KEY_LAYOUT says."""
    meta = raw.hget(store._meta_key, view)
    assert meta is not None
    return str(meta.decode().split(":")[1])


def data_keys(raw: Any, store: RedisOnlineStore, view: str, tag: str | None = None) -> int:
    """How many data keys the view's live tag (or `tag`) has (SCAN, test-only)."""
    tag = tag or live_tag(raw, store, view)
    return count_prefix(raw, f"{store.prefix.decode()}{tag}:")


class TestNewestWins:
    def test_duplicates_across_script_chunks(self, store: RedisOnlineStore) -> None:
        rows = [user(k, NOW - i, i % 3, float(i), i) for i in range(900) for k in range(3)]
        random.Random(2).shuffle(rows)
        assert len(rows) > 2 * redis_store.CHUNK
        store.upsert(USERS, batch(USERS, rows))
        assert store.read(USERS, [(0,), (1,), (2,)], NOW) == [(0.0, 0)] * 3


class TestKeys:
    def test_read_larger_than_one_mget(self, store: RedisOnlineStore) -> None:
        n = redis_store.MGET_CHUNK * 2 + 17
        store.upsert(USERS, batch(USERS, [user(i, NOW, 0, 0.0, i) for i in range(n)]))
        got = store.read(USERS, [(i,) for i in range(n + 5)], NOW)
        assert got == [(0.0, i) for i in range(n)] + [None] * 5

    def test_several_views_in_one_round_trip(self, make: Callable[..., RedisOnlineStore]) -> None:
        items = OnlineTable("items", ("item_id",), (("price", T.FLOAT64),), ttl_us=HOUR)
        s = make()
        s.prepare(USERS)
        s.prepare(items)
        s.upsert(USERS, batch(USERS, [user(1, NOW, 0, 1.0)]))
        s.upsert(items, batch(items, [{"item_id": 1, EVENT_TS: NOW - 2 * HOUR, "price": 3.0}]))
        s.upsert(items, batch(items, [{"item_id": 2, EVENT_TS: NOW, "price": 4.0}]))
        got = s.read_views([(USERS, [(1,), (2,)]), (items, [(1,), (2,)]), (USERS, [])], NOW)
        assert got == [[(1.0, 0), None], [None, (4.0,)], []]

    def test_projects_sharing_a_prefix_are_separate(
        self, make: Callable[..., RedisOnlineStore]
    ) -> None:
        a, b = make(project="a"), make(project="b")
        for s, value in ((a, 1.0), (b, 2.0)):
            s.prepare(USERS)
            s.upsert(USERS, batch(USERS, [user(1, NOW, 0, value)]))
        assert (score(a, 1), score(b, 1)) == (1.0, 2.0)
        a.teardown(USERS)
        assert (score(a, 1), score(b, 1)) == (None, 2.0)


class TestLifecycle:
    def test_layout_change_deletes_the_old_keys(self, store: RedisOnlineStore, raw: Any) -> None:
        """The old layout's value and its index are gone, not only unreachable (that the
        values are gone for readers is the contract's test of layout changes)."""
        store.upsert(USERS, batch(USERS, [user(1, NOW, 0, 1.0)]))
        store.set_state(ViewState("users", None, None, "h1"))
        changed = OnlineTable("users", ("user_id",), (("score", T.STRING),))
        old_keys = count_prefix(raw, store.prefix.decode())
        store.prepare(changed)
        assert count_prefix(raw, store.prefix.decode()) < old_keys
        assert data_keys(raw, store, "users") == 0

    def test_state_written_by_older_fsql_reads(self, store: RedisOnlineStore, raw: Any) -> None:
        raw.hset(store._state_key, "users", msgpack.packb([1_000_000, None, "h"]))
        epoch = datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC)
        assert store.get_state("users") == ViewState("users", epoch, None, "h")
        store.set_state(ViewState("users", None, None, "x", epoch, "b"))
        assert store.get_state("users") == ViewState("users", epoch, None, "h", epoch, "b")

    def test_teardown_removes_values_state_and_keys(
        self, store: RedisOnlineStore, raw: Any, prefix: str
    ) -> None:
        other = OnlineTable("other", ("id",), (("x", T.INT64),))
        store.prepare(other)
        store.upsert(other, batch(other, [{"id": 1, EVENT_TS: NOW, "x": 1}]))
        store.set_state(ViewState("other", None, None, "o"))
        store.upsert(USERS, batch(USERS, [user(i, NOW, 0, 1.0) for i in range(3000)]))
        store.set_state(ViewState("users", None, None, "h"))
        assert data_keys(raw, store, "users") == 3000
        tag = live_tag(raw, store, "users")
        store.teardown(USERS)
        assert store.get_state("users") is None
        assert store.read(USERS, [(1,)], NOW) == [None]
        # Every key of the view (values and index) is gone; the other view is intact.
        # (Counted by the tag: the control keys' count depends on what gc still holds.)
        assert data_keys(raw, store, "users", tag) == 0
        assert count_prefix(raw, store._idx_prefix.decode() + tag) == 0
        assert store.read(other, [(1,)], NOW) == [(1,)]
        assert store.get_state("other") is not None
        store.prepare(USERS)
        assert store.read(USERS, [(1,)], NOW) == [None]
        store.teardown(USERS)
        store.teardown(USERS)  # twice is harmless
        store.teardown(other)
        assert count_prefix(raw, prefix) == 0

    def test_interrupted_teardown_is_finished_later(
        self, store: RedisOnlineStore, raw: Any, prefix: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        store.upsert(USERS, batch(USERS, [user(i, NOW, 0, 1.0) for i in range(2500)]))
        monkeypatch.setattr(store, "_collect", lambda: None)  # as if cut off after step one
        store.teardown(USERS)
        assert store.read(USERS, [(1,)], NOW) == [None]  # unreachable at once
        assert count_prefix(raw, prefix) > 2500
        monkeypatch.undo()
        store.prepare(USERS)  # resumes the deletion
        assert count_prefix(raw, prefix) == 1  # the meta hash
        assert store.read(USERS, [(1,)], NOW) == [None]

    def test_rebuild_by_another_instance(
        self, make: Callable[..., RedisOnlineStore], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        writer, other = make(), make()
        writer.prepare(USERS)
        writer.upsert(USERS, batch(USERS, [user(1, NOW, 0, 1.0)]))
        assert score(other, 1) == 1.0
        other.teardown(USERS)
        other.prepare(USERS)  # a new tag: the writer's cached one is stale
        # The writer notices inside the script, re-reads the tag and writes where readers look.
        writer.upsert(USERS, batch(USERS, [user(2, NOW, 0, 2.0)]))
        assert other.read(USERS, [(1,), (2,)], NOW) == [None, (2.0, 0)]
        # A reader sees another process's rebuild after META_RECHECK_S at the latest.
        monkeypatch.setattr(redis_store, "META_RECHECK_S", 0.0)
        assert writer.read(USERS, [(1,), (2,)], NOW) == [None, (2.0, 0)]
        other.teardown(USERS)
        with pytest.raises(RunError, match="prepare"):
            writer.upsert(USERS, batch(USERS, [user(3, NOW, 0, 3.0)]))

    def test_layout_is_documented_bytes(
        self, make: Callable[..., RedisOnlineStore], raw: Any
    ) -> None:
        """Decode every record with nothing but KEY_LAYOUT's description and msgpack."""
        store = make()
        ns = f"{store.prefix.decode()}fsql:shop:"
        fence = Fence("f" * 64, 1_234)
        store.prepare(USERS, fence)
        data = batch(USERS, [user(42, NOW, 7, 2.5, 3)]).append_column(
            VERSION, pa.array([-5], pa.int64())
        )
        store.upsert(USERS, data, fence)
        assert 'P <tag> ":" K' in redis_store.KEY_LAYOUT
        layout, tag, view_hash, generation = raw.hget(f"{ns}meta", "users").decode().split(":")
        assert (layout, len(tag), view_hash, generation) == (USERS.layout, 8, "f" * 64, "0")
        value = raw.get(store.prefix + tag.encode() + b":" + msgpack.packb(42))
        assert int.from_bytes(value[:8], "big") - 2**63 == NOW
        assert int.from_bytes(value[8:16], "big") - 2**63 == 7
        assert int.from_bytes(value[16:24], "big") - 2**63 == -5
        assert msgpack.unpackb(value[24:]) == [2.5, 3]
        assert raw.hget(f"{ns}keys", "users") == b"integer"
        second = datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC)
        store.set_state(ViewState("users", second, None, "f" * 64, None, "v1"), fence)
        raw_state = raw.hget(f"{ns}state", "users")
        assert msgpack.unpackb(raw_state) == [1_000_000, None, "f" * 64, None, "v1"]
        rebuild = Fence("f" * 64, 5_000)
        token = store.begin_rebuild(USERS, rebuild)
        entry = msgpack.unpackb(raw.hget(f"{ns}pending", token))
        assert entry[:4] == ["users", USERS.layout, "f" * 64, 5_000]
        assert abs(entry[4] - time.time() * 1000) < 60_000  # created: Redis TIME, in ms
        done = ViewState("users", second, None, "x")  # at the live values' END, started later
        assert store.commit_rebuild(USERS, token, rebuild, done)
        assert raw.hget(f"{ns}meta", "users").decode().split(":")[1:] == [token, "f" * 64, "5000"]
        (gone,) = raw.lrange(f"{ns}gc", 0, -1)  # the old tag, with its retirement time
        old, retired = gone.decode().split(":")
        assert old == tag and abs(int(retired) - time.time() * 1000) < 60_000

    def test_close_then_reuse_reconnects(self, store: RedisOnlineStore) -> None:
        store.upsert(USERS, batch(USERS, [user(1, NOW, 0, 1.0)]))
        store.close()
        assert score(store, 1) == 1.0


FENCE = Fence("d" * 64, 1_000)
OTHER = Fence("e" * 64, 2_000)


def fenced_rows(lo: int, hi: int, value: float, ts: int = NOW) -> pa.Table:
    return batch(USERS, [user(i, ts, 0, value, i) for i in range(lo, hi)])


class TestNamespaces:
    """Rebuilds, fences and the deletion of retired and abandoned namespaces in Redis."""

    def _rebuild(
        self, s: RedisOnlineStore, fence: Fence, data: pa.Table, state_hash: str = "x"
    ) -> str:
        token = s.begin_rebuild(USERS, fence)
        s.upsert_pending(USERS, token, data)
        assert s.commit_rebuild(USERS, token, fence, ViewState("users", None, None, state_hash))
        return token

    def test_retired_tag_is_kept_for_the_grace_then_deleted(
        self, make: Callable[..., RedisOnlineStore], raw: Any, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(redis_store, "RETIRE_GRACE_MS", 400)
        s = make()
        s.prepare(USERS, FENCE)
        s.upsert(USERS, fenced_rows(0, 100, 1.0), FENCE)
        old = live_tag(raw, s, "users")
        again = Fence(FENCE.view_hash, 5_000)
        self._rebuild(s, again, fenced_rows(50, 150, 2.0))
        assert s.read(USERS, [(0,), (100,)], NOW) == [None, (2.0, 100)]
        s.prepare(USERS, again)  # runs the collector: too early for the old tag
        assert data_keys(raw, s, "users", old) == 100
        time.sleep(0.45)
        s.prepare(USERS, again)
        assert data_keys(raw, s, "users", old) == 0
        assert not raw.exists(s._idx_prefix + old.encode()) and not raw.exists(s._gc_key)
        assert data_keys(raw, s, "users") == 100

    def test_readers_while_retired_tags_are_deleted(
        self, prefix: str, monkeypatch: pytest.MonkeyPatch, raw: Any
    ) -> None:
        # Past META_RECHECK_S (readers of other instances hold a meta value that long):
        # old tags are deleted while the readers run, and not one read may miss a value.
        monkeypatch.setattr(redis_store, "RETIRE_GRACE_MS", 1_300)
        spec = {"kind": "redis", "url": URL, "project": "shop", "prefix": prefix}
        backend = Backend("redis", spec)
        try:
            assert rebuild_under_readers(backend, 200, 3.0) >= 2
        finally:
            backend.close()
        retired = raw.lrange(f"{prefix}fsql:shop:gc".encode(), 0, -1)
        tags = {k.split(b":")[1] for k in raw.scan_iter(match=f"{prefix}*", count=1000)}
        assert len(retired) < 150  # the run made hundreds: the early ones were deleted
        assert len(tags) <= len(retired) + 1 + 2  # data tags: retired ones and the live one

    def test_abort_deletes_the_pending_keys_at_once(
        self, make: Callable[..., RedisOnlineStore], raw: Any, prefix: str
    ) -> None:
        s = make()
        token = s.begin_rebuild(USERS, FENCE)
        s.upsert_pending(USERS, token, fenced_rows(0, 50, 1.0))
        assert data_keys(raw, s, "users", token) == 50
        s.abort_rebuild(USERS, token)
        assert count_prefix(raw, prefix) == 1  # the key types of the view, nothing else
        assert raw.hlen(s._types_key) == 1
        with pytest.raises(RunError, match="ended meanwhile"):
            s.upsert_pending(USERS, token, fenced_rows(0, 5, 1.0))
        with pytest.raises(RunError, match="dropped meanwhile"):
            s.commit_rebuild(USERS, token, FENCE, ViewState("users", None, None, "x"))
        s.abort_rebuild(USERS, token)  # twice is harmless
        assert count_prefix(raw, prefix) == 1

    def test_teardown_ends_a_rebuild_in_progress(
        self, make: Callable[..., RedisOnlineStore], raw: Any, prefix: str
    ) -> None:
        runner, other = make(), make()
        token = runner.begin_rebuild(USERS, FENCE)
        runner.upsert_pending(USERS, token, fenced_rows(0, 50, 1.0))
        other.teardown(USERS)
        assert count_prefix(raw, prefix) == 0
        with pytest.raises(RunError, match="ended meanwhile"):
            runner.upsert_pending(USERS, token, fenced_rows(0, 5, 1.0))
        with pytest.raises(RunError, match="dropped meanwhile"):
            runner.commit_rebuild(USERS, token, FENCE, ViewState("users", None, None, "x"))
        assert runner.namespace("users") is None and count_prefix(raw, prefix) == 0

    def test_a_killed_rebuild_is_collected_after_a_day(
        self, make: Callable[..., RedisOnlineStore], raw: Any
    ) -> None:
        s = make()
        dead = s.begin_rebuild(USERS, FENCE)  # its run is killed: no commit, no abort
        s.upsert_pending(USERS, dead, fenced_rows(0, 50, 1.0))
        alive = s.begin_rebuild(USERS, FENCE)
        s.upsert_pending(USERS, alive, fenced_rows(0, 10, 1.0))
        entry = msgpack.unpackb(raw.hget(s._pending_key, dead))
        entry[4] -= 25 * 3_600_000  # created 25 hours ago
        raw.hset(s._pending_key, dead, msgpack.packb(entry))
        s.prepare(USERS)
        assert raw.hkeys(s._pending_key) == [alive.encode()]
        assert data_keys(raw, s, "users", dead) == 0
        assert data_keys(raw, s, "users", alive) == 10

    def test_a_writer_with_a_stale_view_reaches_a_new_rebuild(
        self, make: Callable[..., RedisOnlineStore]
    ) -> None:
        pusher, runner = make(), make()
        pusher.prepare(USERS, FENCE)
        pusher.upsert(USERS, fenced_rows(0, 1, 1.0), FENCE)  # caches: no rebuild pending
        again = Fence(FENCE.view_hash, 5_000)
        token = runner.begin_rebuild(USERS, again)
        pusher.upsert(USERS, fenced_rows(9, 10, 9.0), FENCE)  # the script finds the rebuild
        runner.upsert_pending(USERS, token, fenced_rows(0, 3, 2.0))
        state = ViewState("users", None, None, FENCE.view_hash)
        assert runner.commit_rebuild(USERS, token, again, state)
        assert runner.read(USERS, [(0,), (9,)], NOW) == [(2.0, 0), (9.0, 9)]

    def test_batches_written_during_rebuilds_survive_the_swaps(
        self, make: Callable[..., RedisOnlineStore]
    ) -> None:
        """A pusher streams batches (three script calls each) while rebuilds begin and
        commit: every batch that started after a rebuild began is live after its swap."""
        runner, pusher = make(), make()
        runner.prepare(USERS, FENCE)
        errors: list[BaseException] = []
        stop = threading.Event()
        started: list[int] = []
        written: list[int] = []

        def push() -> None:
            try:
                lo = 100_000
                while not stop.is_set():
                    started.append(lo)
                    pusher.upsert(USERS, fenced_rows(lo, lo + 2500, 7.0), FENCE)
                    written.append(lo)
                    lo += 2500
            except BaseException as err:
                errors.append(err)

        thread = threading.Thread(target=push)
        thread.start()
        checked = 0
        try:
            for g in range(4):
                again = Fence(FENCE.view_hash, 2_000 + g)
                token = runner.begin_rebuild(USERS, again)
                first = len(started)  # batches from here on began after the rebuild did
                time.sleep(0.03)
                runner.upsert_pending(USERS, token, fenced_rows(0, 3000, float(g)))
                time.sleep(0.03)
                state = ViewState("users", None, None, FENCE.view_hash)
                assert runner.commit_rebuild(USERS, token, again, state)
                done = [lo for lo in written[:] if lo >= 100_000 + 2500 * first]
                keys = [(k,) for lo in done for k in range(lo, lo + 2500)]
                assert all(row is not None for row in runner.read(USERS, keys, NOW))
                checked += len(done)
        finally:
            stop.set()
            thread.join()
        assert errors == [] and checked >= 4
        assert runner.read(USERS, [(0,)], NOW) == [(3.0, 0)]

    def test_writer_of_an_older_definition_is_refused_inside_the_script(
        self, make: Callable[..., RedisOnlineStore]
    ) -> None:
        old, new = make(), make()
        old.prepare(USERS, FENCE)
        old.upsert(USERS, fenced_rows(0, 1, 1.0), FENCE)  # caches the live namespace
        token = new.begin_rebuild(USERS, OTHER)
        new.upsert_pending(USERS, token, fenced_rows(0, 1, 2.0))
        assert new.commit_rebuild(USERS, token, OTHER, ViewState("users", None, None, "x"))
        with pytest.raises(FencedError, match="newer definition"):
            old.upsert(USERS, fenced_rows(5, 6, 5.0), FENCE)
        assert new.read(USERS, [(0,), (5,)], NOW) == [(2.0, 0), None]
        state = new.get_state("users")
        assert state is not None and state.view_hash == OTHER.view_hash

    def test_commit_and_swap_race_between_processes(
        self, make: Callable[..., RedisOnlineStore], raw: Any
    ) -> None:
        """Rebuilds of two definitions committed from several threads: afterwards the live
        namespace is the newest run's, its definition is the state's, nothing is pending."""
        stores = [make() for _ in range(6)]
        results: list[tuple[int, bool]] = []
        errors: list[BaseException] = []

        def run(i: int, s: RedisOnlineStore) -> None:
            fence = Fence((FENCE, OTHER)[i % 2].view_hash, 10_000 + i)
            try:
                token = s.begin_rebuild(USERS, fence)
                s.upsert_pending(USERS, token, fenced_rows(0, 200, float(i)))
                state = ViewState("users", None, None, fence.view_hash)
                results.append((i, s.commit_rebuild(USERS, token, fence, state)))
            except BaseException as err:
                errors.append(err)

        threads = [threading.Thread(target=run, args=(i, s)) for i, s in enumerate(stores)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert dict(results)[5] is True  # the newest run always swaps in
        ns = stores[0].namespace("users")
        state = stores[0].get_state("users")
        assert ns is not None and state is not None
        assert (ns.generation, ns.view_hash, state.view_hash) == (
            10_005,
            OTHER.view_hash,
            OTHER.view_hash,
        )
        assert stores[0].read(USERS, [(7,)], NOW) == [(5.0, 7)]
        assert raw.hlen(stores[0]._pending_key) == 0

    def test_meta_written_by_older_fsql_parses(self) -> None:
        from fsql.online.redis_control import Meta

        assert Meta.parse(b"abc:TAG") == Meta(b"abc:TAG", "abc", "TAG", "", 0)
        meta = Meta.make("abc", "TAG", "h:with:colons", 7)
        assert Meta.parse(meta.raw) == meta


def make_reader(store: RedisOnlineStore) -> RedisOnlineStore:
    """Another instance on `store`'s prefix (nothing cached)."""
    return RedisOnlineStore(URL, "shop", key_prefix=store.prefix.decode())


class TestExpiry:
    def now(self) -> int:
        return time.time_ns() // 1000

    def test_keys_get_a_ttl_at_event_time_plus_ttl(
        self, make: Callable[..., RedisOnlineStore], raw: Any
    ) -> None:
        table = OnlineTable("t", ("id",), (("x", T.INT64),), ttl_us=HOUR)
        s = make(expire=True)
        s.prepare(table)
        now = self.now()
        rows = [
            {"id": 1, EVENT_TS: now - HOUR // 2, "x": 1},  # expires in ~30 min
            {"id": 2, EVENT_TS: now - 2 * HOUR, "x": 2},  # already expired: not kept
        ]
        s.upsert(table, batch(table, rows))
        assert s.read(table, [(1,), (2,)], now) == [(1,), None]
        tag = live_tag(raw, s, "t")
        key = s.prefix + tag.encode() + b":" + msgpack.packb(1)
        want_ms = (now - HOUR // 2 + HOUR) // 1000 + 1
        assert raw.pexpiretime(key) == want_ms
        assert not raw.exists(s.prefix + tag.encode() + b":" + msgpack.packb(2))
        # A newer row moves the expiry; the index lists outlive their keys.
        s.upsert(table, batch(table, [{"id": 1, EVENT_TS: now, "x": 3}]))
        assert raw.pexpiretime(key) == (now + HOUR) // 1000 + 1
        registry = s._idx_prefix + tag.encode()
        lists = {m: registry + b":" + m for m in raw.smembers(registry)}
        assert b"p" not in lists and all(raw.pexpiretime(k) > 0 for k in lists.values())
        listing = [k for k in lists.values() if msgpack.packb(1) in index_entries(raw, k)]
        assert max(raw.pexpiretime(k) for k in listing) > raw.pexpiretime(key)
        # Without a TTL on the view, nothing expires.
        plain = make(expire=True)
        plain.prepare(USERS)
        plain.upsert(USERS, batch(USERS, [user(1, now, 0, 1.0)]))
        utag = live_tag(raw, s, "users")
        assert raw.pttl(s.prefix + utag.encode() + b":" + msgpack.packb(1)) == -1

    def test_expired_buckets_leave_the_registry(
        self, make: Callable[..., RedisOnlineStore], raw: Any
    ) -> None:
        table = OnlineTable("t", ("id",), (("x", T.INT64),), ttl_us=HOUR)
        s = make(expire=True)
        s.prepare(table)
        now = self.now()
        s.upsert(table, batch(table, [{"id": 1, EVENT_TS: now - 5 * HOUR, "x": 1}]))
        tag = live_tag(raw, s, "t")
        registry = s._idx_prefix + tag.encode()
        assert raw.scard(registry) == 1  # its list expired at once, with its key
        s.upsert(table, batch(table, [{"id": 2, EVENT_TS: now, "x": 2}]))
        (member,) = raw.smembers(registry)
        assert int(member) == now // HOUR
        assert s.read(table, [(1,), (2,)], now) == [None, (2,)]

    def test_mixed_modes_keep_every_key_indexed(
        self, make: Callable[..., RedisOnlineStore], raw: Any, prefix: str
    ) -> None:
        table = OnlineTable("t", ("id",), (("x", T.INT64),), ttl_us=HOUR)
        expiring, keeping = make(expire=True), make()
        expiring.prepare(table)
        now = self.now()
        expiring.upsert(
            table, batch(table, [{"id": i, EVENT_TS: now - 10, "x": 1} for i in range(5)])
        )
        keeping.upsert(table, batch(table, [{"id": i, EVENT_TS: now, "x": 2} for i in range(5)]))
        tag = live_tag(raw, expiring, "t")
        key = expiring.prefix + tag.encode() + b":" + msgpack.packb(0)
        assert raw.pttl(key) == -1  # written without expiry now
        assert keeping.read(table, [(0,)], now) == [(2,)]
        keeping.teardown(table)
        assert count_prefix(raw, prefix) == 0


class TestRaces:
    def test_concurrent_prepare_of_a_new_layout(
        self, make: Callable[..., RedisOnlineStore]
    ) -> None:
        stores = [make() for _ in range(4)]
        errors: list[BaseException] = []

        def work(s: RedisOnlineStore, seed: int) -> None:
            try:
                s.prepare(USERS)
                for chunk in shuffled_versions(seed)[:10]:
                    s.upsert(USERS, batch(USERS, chunk))
            except BaseException as e:
                errors.append(e)

        threads = [threading.Thread(target=work, args=(s, i)) for i, s in enumerate(stores)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        # All prepared the same layout: one tag won, nobody wrote into a lost namespace.
        metas = {s._view("users").meta for s in stores}
        assert len(metas) == 1


class TestFailures:
    def test_bad_url_is_a_project_error(self) -> None:
        with pytest.raises(ProjectError, match="invalid url"):
            RedisOnlineStore("http://localhost:6379", "shop")

    def test_dead_server_message_names_host_not_password(self) -> None:
        port = redis_servers.free_port()
        s = RedisOnlineStore(f"redis://:s3cret@127.0.0.1:{port}/2", "shop", socket_timeout=1)
        start = time.monotonic()
        with pytest.raises(RunError) as info:
            s.read(USERS, [(1,)], NOW)
        assert time.monotonic() - start < 2
        message = str(info.value)
        assert f"127.0.0.1:{port}/2" in message and "s3cret" not in message
        assert "\n" not in message
        with pytest.raises(RunError, match="unreachable"):
            s.prepare(USERS)
        s.close()


BIG = OnlineTable("big", ("id",), (("x", T.INT64), ("s", T.STRING)))


def big_batch(lo: int, hi: int, ts: int) -> pa.Table:
    ids = list(range(lo, hi))
    return pa.table(
        {
            "id": pa.array(ids, pa.int64()),
            EVENT_TS: pa.array([ts] * len(ids), pa.int64()),
            CREATED_TS: pa.array([None] * len(ids), pa.int64()),
            "x": pa.array(ids, pa.int64()),
            "s": pa.array([f"v{i}" for i in ids]),
        }
    )


class TestServerFaults:
    def test_server_killed_during_a_run_then_rerun(self, server: RedisServer) -> None:
        url = f"redis://127.0.0.1:{server.port}/0"
        s = RedisOnlineStore(url, "shop", socket_timeout=1, connect_timeout=1)
        try:
            s.prepare(BIG)
            s.upsert(BIG, big_batch(0, 1000, NOW - 1))
            killed_at: list[float] = []

            def kill() -> None:
                killed_at.append(time.monotonic())
                server.kill()

            killer = threading.Timer(0.3, kill)
            killer.start()
            with pytest.raises(RunError, match=f"127.0.0.1:{server.port}") as info:
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline:  # a long materialization
                    for lo in range(0, 200_000, 20_000):
                        s.upsert(BIG, big_batch(lo, lo + 20_000, NOW))
            failed_at = time.monotonic()
            killer.join()
            assert "re-run" in str(info.value)
            assert failed_at - killed_at[0] < 3
            # The state was not moved (a run records it only after every write landed) ...
            # ... and after a restart, the re-run leaves exactly the point-in-time answer.
            server.start()
            s.prepare(BIG)
            assert s.get_state("big") is None
            for lo in range(0, 200_000, 50_000):
                s.upsert(BIG, big_batch(lo, lo + 50_000, NOW))
            s.set_state(ViewState("big", datetime(2024, 1, 1, tzinfo=UTC), None, "h"))
            keys = [(0,), (777,), (199_999,), (200_000,)]
            assert s.read(BIG, keys, NOW) == [(0, "v0"), (777, "v777"), (199_999, "v199999"), None]
        finally:
            s.close()

    def test_killed_before_an_upsert_fails_fast(self, server: RedisServer) -> None:
        s = RedisOnlineStore(f"redis://127.0.0.1:{server.port}/0", "shop", socket_timeout=1)
        try:
            s.prepare(BIG)
            server.kill()
            start = time.monotonic()
            with pytest.raises(RunError, match="unreachable"):
                s.upsert(BIG, big_batch(0, 10, NOW))
            with pytest.raises(RunError, match="unreachable"):
                s.read(BIG, [(1,)], NOW)
            assert time.monotonic() - start < 3
        finally:
            s.close()

    def test_hung_server_read_times_out(self, server: RedisServer) -> None:
        s = RedisOnlineStore(
            f"redis://127.0.0.1:{server.port}/0", "shop", socket_timeout=1, connect_timeout=1
        )
        try:
            s.prepare(BIG)
            s.upsert(BIG, big_batch(0, 10, NOW))
            assert s.read(BIG, [(1,)], NOW) == [(1, "v1")]
            assert server.proc is not None
            os.kill(server.proc.pid, signal.SIGSTOP)
            try:
                start = time.monotonic()
                with pytest.raises(RunError, match="timed out"):
                    s.read(BIG, [(1,)], NOW)
                assert time.monotonic() - start < 3
            finally:
                os.kill(server.proc.pid, signal.SIGCONT)
            # The connection that timed out was dropped: the next read is clean.
            assert s.read(BIG, [(1,), (2,)], NOW) == [(1, "v1"), (2, "v2")]
        finally:
            s.close()

    def test_restart_between_reads_reconnects(self, server: RedisServer) -> None:
        s = RedisOnlineStore(f"redis://127.0.0.1:{server.port}/0", "shop", socket_timeout=1)
        try:
            s.prepare(BIG)
            s.upsert(BIG, big_batch(0, 10, NOW))
            assert s.read(BIG, [(1,)], NOW) == [(1, "v1")]
            server.kill()
            server.start()  # empty again (no persistence), and a new connection is needed
            s.prepare(BIG)
            s.upsert(BIG, big_batch(0, 10, NOW))
            assert s.read(BIG, [(1,)], NOW) == [(1, "v1")]
        finally:
            s.close()
