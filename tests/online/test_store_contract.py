"""The contract of `fsql.online.base.OnlineStore`, run against every store: SQLite and Redis.

One fixture gives each test a factory of store instances on the same storage (a SQLite
file; a Redis database 13 key prefix unique to the test, whose keys alone are deleted
afterwards), so that "another process" is another instance or a real subprocess. What is
checked: greatest-version-wins with the version tie-break, rebuild swaps and their fences,
upserts reaching pending namespaces, FencedError, state merges under concurrent writers,
readers during rebuilds, and that every value type reads back the same from both stores.
"""

from __future__ import annotations

import json
import math
import random
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from fsql.definitions.types import FeatureType as T
from fsql.errors import RunError
from fsql.online.base import (
    CREATED_TS,
    EVENT_TS,
    VERSION,
    Fence,
    FencedError,
    OnlineStore,
    OnlineTable,
    ViewState,
)
from tests.online.conftest import REDIS_URL, _redis_client
from tests.support.engines import unavailable

ROOT = Path(__file__).resolve().parents[2]
NOW = 1_700_000_000_000_000  # microseconds
USERS = OnlineTable("users", ("user_id",), (("score", T.FLOAT64), ("label", T.STRING)))
OLD = Fence("a" * 64, 1_000)
NEW = Fence("b" * 64, 2_000)


@dataclass
class Backend:
    """Store instances on one storage; `spec` opens another in a subprocess."""

    kind: str
    spec: dict[str, Any]
    made: list[OnlineStore] = field(default_factory=list)

    def make(self) -> OnlineStore:
        store = open_store(self.spec)
        self.made.append(store)
        return store


def open_store(spec: dict[str, Any]) -> OnlineStore:
    if spec["kind"] == "sqlite":
        from fsql.online.sqlite import SQLiteOnlineStore

        return SQLiteOnlineStore(spec["path"])
    from fsql.online.redis_store import RedisOnlineStore

    return RedisOnlineStore(spec["url"], spec["project"], key_prefix=spec["prefix"])


@pytest.fixture(params=["sqlite", "redis"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "sqlite":
        spec: dict[str, Any] = {"kind": "sqlite", "path": str(tmp_path / "online.db")}
        client = None
    else:
        client = _redis_client()
        if client is None:
            unavailable("redis", "Redis is not answering on 127.0.0.1:6379")
        prefix = f"fsqltest-{uuid.uuid4().hex[:12]}:"
        spec = {"kind": "redis", "url": REDIS_URL, "project": "shop", "prefix": prefix}
    b = Backend(request.param, spec)
    try:
        yield b
    finally:
        for store in b.made:
            store.close()
        if client is not None:
            keys = list(client.scan_iter(match=f"{spec['prefix']}*", count=1000))
            for lo in range(0, len(keys), 1000):
                client.delete(*keys[lo : lo + 1000])
            client.close()


@pytest.fixture
def store(backend: Backend) -> OnlineStore:
    return backend.make()


def rows(table: OnlineTable, items: list[dict[str, Any]], version: bool = True) -> pa.Table:
    """Rows in the upsert layout: int64 keys, times and version; features by type."""
    fields = [pa.field(k, pa.int64()) for k in table.join_keys]
    fields += [pa.field(EVENT_TS, pa.int64()), pa.field(CREATED_TS, pa.int64())]
    if version:
        fields.append(pa.field(VERSION, pa.int64()))
    fields += [pa.field(name, t.arrow()) for name, t in table.features]
    schema = pa.schema(fields)
    return pa.table({f.name: [r.get(f.name) for r in items] for f in schema}, schema=schema)


def user(uid: int, score: float, label: str = "", ts: int = NOW, **extra: Any) -> dict[str, Any]:
    return {"user_id": uid, EVENT_TS: ts, "score": score, "label": label, **extra}


def scores(store: OnlineStore, uids: range | list[int]) -> list[float | None]:
    got = store.read(USERS, [(u,) for u in uids], NOW)
    return [None if row is None else row[0] for row in got]


def live(store: OnlineStore, fence: Fence, items: list[dict[str, Any]]) -> None:
    """A view whose live values were made under `fence`."""
    store.prepare(USERS, fence)
    store.upsert(USERS, rows(USERS, items), fence)


class TestVersions:
    def test_greater_version_wins_a_tie_in_either_order(self, store: OnlineStore) -> None:
        store.prepare(USERS, OLD)
        tie = {CREATED_TS: 7}
        store.upsert(USERS, rows(USERS, [user(1, 5.0, **tie, **{VERSION: 5})]), OLD)
        store.upsert(USERS, rows(USERS, [user(1, 3.0, **tie, **{VERSION: 3})]), OLD)
        store.upsert(USERS, rows(USERS, [user(2, 3.0, **tie, **{VERSION: 3})]), OLD)
        store.upsert(USERS, rows(USERS, [user(2, 5.0, **tie, **{VERSION: 5})]), OLD)
        assert scores(store, [1, 2]) == [5.0, 5.0]
        # Versions order only equal times: a newer event or created time wins over them.
        store.upsert(USERS, rows(USERS, [user(1, 8.0, **{CREATED_TS: 8, VERSION: -9})]), OLD)
        store.upsert(USERS, rows(USERS, [user(2, 9.0, ts=NOW + 1, **{VERSION: -9})]), OLD)
        assert scores(store, [1, 2]) == [8.0, 9.0]

    def test_missing_version_column_is_zero(self, store: OnlineStore) -> None:
        store.prepare(USERS, OLD)
        store.upsert(USERS, rows(USERS, [user(1, 1.0, **{VERSION: -1})]), OLD)
        store.upsert(USERS, rows(USERS, [user(1, 2.0)], version=False), OLD)
        assert scores(store, [1]) == [2.0]
        # An equal triple never replaces: (NOW, NULL, 0) again.
        store.upsert(USERS, rows(USERS, [user(1, 3.0, **{VERSION: 0})]), OLD)
        store.upsert(USERS, rows(USERS, [user(1, 4.0)], version=False), OLD)
        assert scores(store, [1]) == [2.0]
        store.upsert(USERS, rows(USERS, [user(1, 5.0, **{VERSION: 1})]), OLD)
        assert scores(store, [1]) == [5.0]

    def test_duplicates_in_one_batch_keep_the_greatest(self, store: OnlineStore) -> None:
        store.prepare(USERS, OLD)
        items = [user(1, float(v), **{CREATED_TS: 3, VERSION: v}) for v in range(40)]
        random.Random(3).shuffle(items)
        store.upsert(USERS, rows(USERS, items), OLD)
        assert scores(store, [1]) == [39.0]


class TestRebuilds:
    def test_swap_replaces_the_key_set_at_commit(self, store: OnlineStore) -> None:
        live(store, OLD, [user(u, 1.0, "old") for u in (1, 2, 3)])
        token = store.begin_rebuild(USERS, NEW)
        store.upsert_pending(USERS, token, rows(USERS, [user(u, 2.0, "new") for u in (2, 3, 4)]))
        assert scores(store, range(1, 5)) == [1.0, 1.0, 1.0, None]  # not visible yet
        state = ViewState("users", datetime(2024, 1, 1, tzinfo=UTC), None, NEW.view_hash)
        assert store.commit_rebuild(USERS, token, NEW, state) is True
        assert scores(store, range(1, 5)) == [None, 2.0, 2.0, 2.0]  # key 1 is gone
        ns = store.namespace("users")
        assert ns is not None
        assert (ns.layout, ns.view_hash, ns.generation) == (USERS.layout, NEW.view_hash, 2_000)
        got = store.get_state("users")
        assert got is not None and got.view_hash == NEW.view_hash
        # Another instance (another process) sees the swap too.
        fresh = open_store_like(store)
        try:
            assert scores(fresh, range(1, 5)) == [None, 2.0, 2.0, 2.0]
        finally:
            fresh.close()

    def test_first_rebuild_of_a_view(self, store: OnlineStore) -> None:
        assert store.namespace("users") is None
        token = store.begin_rebuild(USERS, NEW)
        store.upsert_pending(USERS, token, rows(USERS, [user(1, 1.0)]))
        assert scores(store, [1]) == [None]
        assert store.commit_rebuild(USERS, token, NEW, ViewState("users", None, None, "b" * 64))
        assert scores(store, [1]) == [1.0]

    def test_abort_leaves_live_untouched(self, store: OnlineStore) -> None:
        live(store, OLD, [user(1, 1.0)])
        before = store.namespace("users")
        token = store.begin_rebuild(USERS, NEW)
        store.upsert_pending(USERS, token, rows(USERS, [user(1, 9.0), user(2, 9.0)]))
        store.abort_rebuild(USERS, token)
        assert scores(store, [1, 2]) == [1.0, None]
        assert store.namespace("users") == before
        store.upsert(USERS, rows(USERS, [user(3, 3.0)]), OLD)  # still the live definition
        assert scores(store, [3]) == [3.0]

    def test_commit_refused_when_live_generation_is_newer(self, store: OnlineStore) -> None:
        slow = Fence(OLD.view_hash, 1_000)
        fast = Fence(OLD.view_hash, 5_000)
        first = store.begin_rebuild(USERS, slow)
        second = store.begin_rebuild(USERS, fast)
        store.upsert_pending(USERS, first, rows(USERS, [user(1, 1.0)]))
        store.upsert_pending(USERS, second, rows(USERS, [user(1, 2.0)]))
        state = ViewState("users", None, None, OLD.view_hash)
        assert store.commit_rebuild(USERS, second, fast, state) is True
        assert store.commit_rebuild(USERS, first, slow, state) is False
        assert scores(store, [1]) == [2.0]
        ns = store.namespace("users")
        assert ns is not None and ns.generation == 5_000
        # A run that started at the same moment is not newer: it may swap in.
        same = store.begin_rebuild(USERS, fast)
        store.upsert_pending(USERS, same, rows(USERS, [user(1, 3.0)]))
        assert store.commit_rebuild(USERS, same, fast, state) is True
        assert scores(store, [1]) == [3.0]

    def test_upsert_during_a_rebuild_survives_the_swap(self, backend: Backend) -> None:
        runner, pusher = backend.make(), backend.make()
        live(runner, OLD, [user(1, 1.0)])
        again = Fence(OLD.view_hash, 3_000)
        token = runner.begin_rebuild(USERS, again)
        # A push of the same definition, from another instance, while the rebuild runs.
        pusher.prepare(USERS, OLD)
        pusher.upsert(USERS, rows(USERS, [user(9, 9.0)]), OLD)
        runner.upsert_pending(USERS, token, rows(USERS, [user(1, 1.5), user(2, 2.0)]))
        pusher.upsert(USERS, rows(USERS, [user(8, 8.0)]), OLD)
        assert scores(pusher, [1, 2, 8, 9]) == [1.0, None, 8.0, 9.0]
        state = ViewState("users", None, None, OLD.view_hash)
        assert runner.commit_rebuild(USERS, token, again, state) is True
        assert scores(runner, [1, 2, 8, 9]) == [1.5, 2.0, 8.0, 9.0]

    def test_pending_rebuild_of_another_definition_is_not_written(self, store: OnlineStore) -> None:
        live(store, OLD, [user(1, 1.0)])
        token = store.begin_rebuild(USERS, NEW)
        store.upsert(USERS, rows(USERS, [user(9, 9.0)]), OLD)
        store.upsert_pending(USERS, token, rows(USERS, [user(1, 2.0)]))
        assert scores(store, [1, 9]) == [1.0, 9.0]
        assert store.commit_rebuild(USERS, token, NEW, ViewState("users", None, None, "b" * 64))
        assert scores(store, [1, 9]) == [2.0, None]


class TestFences:
    def test_writes_of_an_older_definition_are_refused(self, store: OnlineStore) -> None:
        live(store, OLD, [user(1, 1.0)])
        store.set_state(ViewState("users", datetime(2024, 1, 1, tzinfo=UTC), None, OLD.view_hash))
        token = store.begin_rebuild(USERS, NEW)
        store.upsert_pending(USERS, token, rows(USERS, [user(1, 2.0)]))
        assert store.commit_rebuild(USERS, token, NEW, ViewState("users", None, None, "b" * 64))
        later = datetime(2024, 2, 1, tzinfo=UTC)
        refused: list[Callable[[], Any]] = [
            lambda: store.upsert(USERS, rows(USERS, [user(1, 3.0, ts=NOW + 5)]), OLD),
            lambda: store.set_state(ViewState("users", later, later, OLD.view_hash), OLD),
            lambda: store.prepare(USERS, OLD),
        ]
        for call in refused:
            with pytest.raises(FencedError) as caught:
                call()
            assert isinstance(caught.value, RunError) and caught.value.exit_code == 1
            message = caught.value.render()
            assert "'users'" in message and "definition" in message and "\n" not in message
        assert scores(store, [1]) == [2.0]
        state = store.get_state("users")
        assert state is not None and state.view_hash == NEW.view_hash
        assert state.watermark is None  # the old definition's state is replaced, not merged
        # The current definition writes on.
        store.prepare(USERS, NEW)
        store.upsert(USERS, rows(USERS, [user(1, 4.0, ts=NOW + 5)]), NEW)
        store.set_state(ViewState("users", later, later, NEW.view_hash), NEW)
        assert scores(store, [1]) == [4.0]
        state = store.get_state("users")
        assert state is not None and state.watermark == later

    def test_prepare_creates_a_namespace_of_the_fence(self, store: OnlineStore) -> None:
        assert store.namespace("users") is None
        store.prepare(USERS, NEW)
        ns = store.namespace("users")
        assert ns is not None
        # Generation 0: no full materialization made it, any rebuild may swap in over it.
        assert (ns.layout, ns.view_hash, ns.generation) == (USERS.layout, NEW.view_hash, 0)
        store.prepare(USERS, NEW)  # already there: kept
        assert store.namespace("users") == ns
        other = OnlineTable("users", ("user_id",), (("score", T.STRING),))
        with pytest.raises(FencedError):
            store.prepare(other, NEW)

    def test_unfenced_namespace_is_adopted_by_a_fence(self, store: OnlineStore) -> None:
        store.prepare(USERS)  # tools and tests: a namespace of no definition
        ns = store.namespace("users")
        assert ns is not None and (ns.view_hash, ns.generation) == ("", 0)
        store.upsert(USERS, rows(USERS, [user(1, 1.0)]), OLD)  # a fence may write into it
        store.set_state(ViewState("users", None, None, ""), OLD)
        store.prepare(USERS, OLD)
        ns = store.namespace("users")
        assert ns is not None and (ns.view_hash, ns.generation) == (OLD.view_hash, 0)
        assert scores(store, [1]) == [1.0]
        with pytest.raises(FencedError):
            store.prepare(USERS, NEW)

    def test_unfenced_prepare_replaces_another_layout(self, store: OnlineStore) -> None:
        live(store, OLD, [user(1, 1.0)])
        store.set_state(ViewState("users", None, None, OLD.view_hash))
        store.prepare(USERS)  # same layout: kept, values and state too
        assert scores(store, [1]) == [1.0]
        assert store.get_state("users") is not None
        other = OnlineTable("users", ("user_id",), (("score", T.STRING),))
        assert store.read(other, [(1,)], NOW) == [None]  # another layout reads nothing
        store.prepare(other)
        ns = store.namespace("users")
        assert ns is not None and (ns.layout, ns.generation) == (other.layout, 0)
        assert store.get_state("users") is None
        assert store.read(other, [(1,)], NOW) == [None]
        assert scores(store, [1]) == [None]

    def test_teardown_drops_live_pending_and_state(self, store: OnlineStore) -> None:
        live(store, OLD, [user(1, 1.0)])
        store.set_state(ViewState("users", None, None, OLD.view_hash))
        token = store.begin_rebuild(USERS, NEW)
        store.upsert_pending(USERS, token, rows(USERS, [user(2, 2.0)]))
        store.teardown(USERS)
        assert store.namespace("users") is None
        assert store.get_state("users") is None
        assert scores(store, [1, 2]) == [None, None]


class TestState:
    def test_merge_moves_times_forward_only(self, store: OnlineStore) -> None:
        t1, t2, t3 = (datetime(2024, 1, d, tzinfo=UTC) for d in (1, 2, 3))
        store.set_state(ViewState("users", t2, t2, "h", t2, "base-1"))
        store.set_state(ViewState("users", t1, t3, "other", None, "base-2"))
        assert store.get_state("users") == ViewState("users", t2, t3, "h", t2, "base-1")
        store.set_state(ViewState("users", None, None, "h", t3, None))
        assert store.get_state("users") == ViewState("users", t2, t3, "h", t3, "base-1")
        # A rebuild of the same definition replaces the base version; times still only go
        # forward (with no live values to compare, the swap itself is not refused).
        same = Fence("h", NEW.started_us)
        token = store.begin_rebuild(USERS, same)
        new_state = ViewState("users", t1, t1, "h", None, "base-3")
        assert store.commit_rebuild(USERS, token, same, new_state)
        assert store.get_state("users") == ViewState("users", t2, t3, "h", t3, "base-3")

    def test_base_version_set_when_there_is_none(self, store: OnlineStore) -> None:
        store.set_state(ViewState("users", None, None, "h"))
        assert store.get_state("users") == ViewState("users", None, None, "h")
        store.set_state(ViewState("users", None, None, "h", None, "v1"))
        got = store.get_state("users")
        assert got is not None and got.base_version == "v1"

    def test_extreme_and_naive_times_are_exact(self, store: OnlineStore) -> None:
        top = datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)
        low = datetime(1, 1, 1, 0, 0, 0, 1, tzinfo=UTC)
        store.set_state(ViewState("users", top - timedelta(microseconds=1), low, "h", low))
        store.set_state(ViewState("users", top, None, "h", low + timedelta(microseconds=1)))
        assert store.get_state("users") == ViewState(
            "users", top, low, "h", low + timedelta(microseconds=1)
        )
        store.set_state(ViewState("v", datetime(2024, 3, 2), None, "h"))
        got = store.get_state("v")
        assert got is not None and got.watermark == datetime(2024, 3, 2, tzinfo=UTC)

    def test_concurrent_writers_keep_the_maximum(self, backend: Backend) -> None:
        first = backend.make()
        first.prepare(USERS, OLD)
        base = datetime(2024, 1, 1, tzinfo=UTC)
        spec = {**backend.spec, "view": "users", "hash": OLD.view_hash, "started": 1_000}
        child = subprocess.Popen(
            [sys.executable, "-c", _CHILD, json.dumps({**spec, "seed": 99, "n": 60})],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert child.stdout is not None and child.stdin is not None
            assert child.stdout.readline().strip() == "ready", child.stderr
            bests: list[datetime] = []
            errors: list[BaseException] = []

            go = threading.Event()

            def work(seed: int) -> None:
                s = backend.make()
                rng = random.Random(seed)
                best = base
                go.wait()
                try:
                    for _ in range(60):
                        wm = base + timedelta(microseconds=rng.randrange(10**12))
                        s.set_state(ViewState("users", wm, wm, OLD.view_hash), OLD)
                        best = max(best, wm)
                except BaseException as err:  # surfaced in the main thread
                    errors.append(err)
                bests.append(best)

            threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
            for t in threads:
                t.start()
            child.stdin.write("go\n")
            child.stdin.flush()
            go.set()
            for t in threads:
                t.join()
            out, err = child.communicate(timeout=60)
            assert child.returncode == 0, err
            assert errors == []
            bests.append(datetime.fromisoformat(out.strip()))
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
        state = first.get_state("users")
        assert state is not None
        assert state.watermark == max(bests) and state.materialized_at == max(bests)


_CHILD = """
import json, random, sys
from datetime import UTC, datetime, timedelta
from fsql.online.base import Fence, ViewState
from tests.online.test_store_contract import open_store

spec = json.loads(sys.argv[1])
store = open_store(spec)
fence = Fence(spec["hash"], spec["started"])
rng = random.Random(spec["seed"])
base = datetime(2024, 1, 1, tzinfo=UTC)
best = base
print("ready", flush=True)
sys.stdin.readline()
for _ in range(spec["n"]):
    wm = base + timedelta(microseconds=rng.randrange(10**12))
    store.set_state(ViewState(spec["view"], wm, wm, spec["hash"]), fence)
    best = max(best, wm)
store.close()
print(best.isoformat(), flush=True)
"""


def open_store_like(store: OnlineStore) -> OnlineStore:
    """Another instance on the same storage as `store` (as another process would open)."""
    from fsql.online.redis_store import RedisOnlineStore
    from fsql.online.sqlite import SQLiteOnlineStore

    if isinstance(store, SQLiteOnlineStore):
        return SQLiteOnlineStore(store.path)
    assert isinstance(store, RedisOnlineStore)
    return RedisOnlineStore(REDIS_URL, "shop", key_prefix=store.prefix.decode())


class TestReadersDuringRebuilds:
    KEYS = 60
    SECONDS = 1.3  # past META_RECHECK_S: readers of other instances look at the meta again

    def test_readers_see_complete_old_or_new_values(self, backend: Backend) -> None:
        assert rebuild_under_readers(backend, self.KEYS, self.SECONDS) >= 2


def rebuild_under_readers(backend: Backend, nkeys: int, seconds: float) -> int:
    """Rebuild a view again and again for `seconds` while three readers (other instances)
    read every key; each read must be complete and of one generation. Returns how many
    generations the readers saw."""
    table = OnlineTable("gen", ("id",), (("g", T.INT64), ("check", T.STRING)))
    writer = backend.make()
    keys = [(k,) for k in range(nkeys)]

    def generation(g: int) -> pa.Table:
        return rows(table, [{"id": k, EVENT_TS: NOW, "g": g, "check": f"{g}:{k}"} for (k,) in keys])

    writer.prepare(table, Fence("c" * 64, 0))
    writer.upsert(table, generation(0), Fence("c" * 64, 0))
    done = threading.Event()
    errors: list[BaseException] = []
    seen: set[int] = set()

    def read(reader: OnlineStore) -> None:
        try:
            while not done.is_set():
                got = reader.read(table, keys, NOW)
                assert all(row is not None for row in got), got
                g = {row[0] for row in got if row is not None}
                assert len(g) == 1, f"a mix of generations {g}"
                (one,) = g
                assert got == [(one, f"{one}:{k}") for (k,) in keys]
                seen.add(one)
        except BaseException as err:  # surfaced in the main thread
            errors.append(err)

    readers = [threading.Thread(target=read, args=(backend.make(),)) for _ in range(3)]
    for t in readers:
        t.start()
    g = 0
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline and not errors:
            g += 1
            fence = Fence("c" * 64, g)
            token = writer.begin_rebuild(table, fence)
            writer.upsert_pending(table, token, generation(g))
            state = ViewState("gen", None, None, fence.view_hash)
            assert writer.commit_rebuild(table, token, fence, state)
            time.sleep(0.005)
    finally:
        done.set()
        for t in readers:
            t.join()
    assert errors == []
    assert seen <= set(range(g + 1))
    assert writer.read(table, keys[:1], NOW) == [(g, f"{g}:0")]
    return len(seen)


ALL = OnlineTable(
    "typed",
    ("id",),
    (
        ("f64", T.FLOAT64),
        ("nan", T.FLOAT64),
        ("f32", T.FLOAT32),
        ("i64", T.INT64),
        ("i32", T.INT32),
        ("yes", T.BOOL),
        ("no", T.BOOL),
        ("s", T.STRING),
        ("b", T.BYTES),
        ("at", T.TIMESTAMP),
        ("day", T.DATE),
    ),
)


class TestValues:
    def test_every_type_reads_back_identically(self, store: OnlineStore) -> None:
        at = datetime(2024, 2, 29, 13, 14, 15, 123_456, tzinfo=UTC)
        values = {
            "f64": 0.1,
            "nan": math.nan,
            "f32": 0.1,  # stored as float32: 0.10000000149011612
            "i64": 2**63 - 1,
            "i32": -(2**31),
            "yes": True,
            "no": False,
            "s": "héllo ✓",
            "b": b"\x00\xff",
            "at": at,
            "day": date(1969, 12, 31),
        }
        store.prepare(ALL, OLD)
        data = rows(ALL, [{"id": 1, EVENT_TS: NOW, **values}, {"id": 2, EVENT_TS: NOW}])
        store.upsert(ALL, data, OLD)
        (one, two) = store.read(ALL, [(1,), (2,)], NOW)
        assert two == (None,) * len(ALL.features)
        assert one is not None
        got = dict(zip(ALL.feature_names, one, strict=True))
        assert math.isnan(got.pop("nan"))
        want = {**values, "f32": data.column("f32").to_pylist()[0]}
        del want["nan"]
        assert got == want
        assert {k: type(v) for k, v in got.items()} == {k: type(v) for k, v in want.items()}
        assert got["at"].tzinfo is not None and got["at"].utcoffset() == timedelta(0)
        # The point-lookup path answers the same as the batch path.
        (single,) = store.read(ALL, [(1,)], NOW)
        assert single is not None and math.isnan(single[1])
        assert single[:1] + single[2:] == one[:1] + one[2:]
