"""The vocabulary of the online-store tests: rows in the upsert layout, and store
instances on one storage.

The contract every online store keeps is tests/online/test_store_contract.py, run on
SQLite and on the real Redis through `Backend`; tests/online/test_sqlite.py and
test_redis.py hold only what is one store's own (file layout, key layout, Lua, pipelining,
expiry, a server that dies). All three use these rows.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from fsql.definitions.types import FeatureType as T
from fsql.online.base import (
    CREATED_TS,
    EVENT_TS,
    VERSION,
    Fence,
    OnlineStore,
    OnlineTable,
    ViewState,
)

NOW = 1_700_000_000_000_000  # microseconds
HOUR = 3_600_000_000

USERS = OnlineTable("users", ("user_id",), (("score", T.FLOAT64), ("n", T.INT64)))
ALL_TYPES = OnlineTable("typed", ("id",), tuple((t.value, t) for t in T))


def batch(
    table: OnlineTable,
    rows: list[dict[str, Any]],
    key_types: dict[str, pa.DataType] | None = None,
    *,
    version: bool = False,
) -> pa.Table:
    """Rows as an Arrow table in the upsert layout: keys (int64 unless `key_types` says
    otherwise), event and created times, the version column when `version`, features."""
    key_types = key_types or {}
    fields = [pa.field(k, key_types.get(k, pa.int64())) for k in table.join_keys]
    fields += [pa.field(EVENT_TS, pa.int64()), pa.field(CREATED_TS, pa.int64())]
    if version:
        fields.append(pa.field(VERSION, pa.int64()))
    fields += [pa.field(name, t.arrow()) for name, t in table.features]
    schema = pa.schema(fields)
    return pa.table({f.name: [r.get(f.name) for r in rows] for f in schema}, schema=schema)


def user(uid: Any, ts: int, created: int | None, score: float, n: int = 0) -> dict[str, Any]:
    """A row of USERS."""
    return {"user_id": uid, EVENT_TS: ts, CREATED_TS: created, "score": score, "n": n}


def score(store: OnlineStore, uid: Any, table: OnlineTable = USERS) -> Any:
    """The first feature of `uid` read now (None when there is no row)."""
    (row,) = store.read(table, [(uid,)], NOW)
    return None if row is None else row[0]


# --------------------------------------------------------------------------- backends


@dataclass
class Backend:
    """Store instances on one storage (a SQLite file, or a Redis key prefix): another
    instance is another process's view of the same data. `spec` is plain JSON, so a real
    subprocess can open one too (`open_store`)."""

    kind: str
    spec: dict[str, Any]
    made: list[OnlineStore] = field(default_factory=list)

    def make(self) -> OnlineStore:
        store = open_store(self.spec)
        self.made.append(store)
        return store

    def close(self) -> None:
        for store in self.made:
            store.close()


def open_store(spec: dict[str, Any]) -> OnlineStore:
    if spec["kind"] == "sqlite":
        from fsql.online.sqlite import SQLiteOnlineStore

        return SQLiteOnlineStore(spec["path"])
    from fsql.online.redis_store import RedisOnlineStore

    return RedisOnlineStore(spec["url"], spec["project"], key_prefix=spec["prefix"])


def rebuild_under_readers(backend: Backend, nkeys: int, seconds: float) -> int:
    """Rebuild a view again and again for `seconds` while three readers (other instances)
    read every key; each read must be complete and of one generation. Returns how many
    generations the readers saw."""
    table = OnlineTable("gen", ("id",), (("g", T.INT64), ("check", T.STRING)))
    writer = backend.make()
    keys = [(k,) for k in range(nkeys)]

    def generation(g: int) -> pa.Table:
        items = [{"id": k, EVENT_TS: NOW, "g": g, "check": f"{g}:{k}"} for (k,) in keys]
        return batch(table, items, version=True)

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


KEYS = 200
VERSIONS = 20


def shuffled_versions(seed: int) -> list[list[dict[str, Any]]]:
    """Batches of USERS rows holding every (key, version) of KEYS keys and VERSIONS
    versions in a shuffled order: written by racing writers, each key must end at its
    newest version."""
    items = [user(k, NOW + v, v % 3, float(v), v) for k in range(KEYS) for v in range(VERSIONS)]
    random.Random(seed).shuffle(items)
    return [items[i : i + 97] for i in range(0, len(items), 97)]


def race_writers(stores: list[OnlineStore], threads_per_store: int) -> int:
    """Threads (`threads_per_store` on each store) write `shuffled_versions` of USERS and
    read between batches; afterwards every store reads each key's newest version. Returns
    how many threads ran."""
    errors: list[BaseException] = []

    def work(store: OnlineStore, seed: int) -> None:
        try:
            for chunk in shuffled_versions(seed):
                store.upsert(USERS, batch(USERS, chunk))
                store.read(USERS, [(1,), (2,)], NOW)
        except BaseException as err:  # surfaced in the main thread below
            errors.append(err)

    threads = [
        threading.Thread(target=work, args=(store, i * 10 + j))
        for i, store in enumerate(stores)
        for j in range(threads_per_store)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    newest = [(float(VERSIONS - 1), VERSIONS - 1)] * KEYS
    for store in stores:
        assert store.read(USERS, [(k,) for k in range(KEYS)], NOW) == newest
    return len(threads)
