"""Tests for `fsql.online.redis_store.RedisOnlineStore` against a real Redis server.

The same semantics as tests/online/test_sqlite.py (newest-wins, TTL, keys, types, state,
lifecycle; the shared contract is tests/online/test_store_contract.py), plus what only a
networked store has: concurrent writers through several store instances, rebuilds racing
writers and readers, the deletion of retired and abandoned namespaces, a server that dies
or hangs mid-run, expiry, the documented layout.

Uses database 13 of 127.0.0.1:6379 and a key prefix unique to each test; a test deletes
only the keys under its own prefix. Fault tests start their own redis-server on a free
port and always stop it.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import msgpack
import pyarrow as pa
import pytest

from tests.support.engines import unavailable

redis = pytest.importorskip("redis")

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

HOST, PORT, DB = "127.0.0.1", 6379, 13
URL = f"redis://{HOST}:{PORT}/{DB}"


def _redis_answers() -> bool:
    try:
        return bool(redis.Redis(HOST, PORT, db=DB, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


pytestmark = pytest.mark.skipif(
    not _redis_answers(), reason=f"no Redis answering on {HOST}:{PORT} (.ci/run starts one)"
)

NOW = 1_700_000_000_000_000  # microseconds
HOUR = 3_600_000_000

USERS = OnlineTable("users", ("user_id",), (("score", T.FLOAT64), ("n", T.INT64)))


def batch(
    table: OnlineTable,
    rows: list[dict[str, Any]],
    key_types: dict[str, pa.DataType] | None = None,
) -> pa.Table:
    """Rows as an Arrow table in the upsert layout; keys default to int64."""
    key_types = key_types or {}
    fields = [pa.field(k, key_types.get(k, pa.int64())) for k in table.join_keys]
    fields += [pa.field(EVENT_TS, pa.int64()), pa.field(CREATED_TS, pa.int64())]
    fields += [pa.field(name, t.arrow()) for name, t in table.features]
    schema = pa.schema(fields)
    return pa.table({f.name: [r.get(f.name) for r in rows] for f in schema}, schema=schema)


def user(uid: Any, ts: int, created: int | None, score: float, n: int = 0) -> dict[str, Any]:
    return {"user_id": uid, EVENT_TS: ts, CREATED_TS: created, "score": score, "n": n}


def delete_prefix(client: Any, prefix: str) -> None:
    """Tests may SCAN: only the store itself must never need to."""
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    for lo in range(0, len(keys), 1000):
        client.unlink(*keys[lo : lo + 1000])


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
    client = redis.Redis(HOST, PORT, db=DB)
    yield client
    client.close()


@pytest.fixture
def prefix(raw: Any) -> Iterator[str]:
    """A key prefix owned by this test; every key under it is deleted afterwards."""
    p = f"fsqltest-{uuid.uuid4().hex[:12]}:"
    yield p
    delete_prefix(raw, p)


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


def score(store: RedisOnlineStore, uid: Any, table: OnlineTable = USERS) -> Any:
    (row,) = store.read(table, [(uid,)], NOW)
    return None if row is None else row[0]


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
    def test_older_never_replaces_newer(self, store: RedisOnlineStore) -> None:
        store.upsert(USERS, batch(USERS, [user(1, NOW - 10, 5, 2.0)]))
        store.upsert(USERS, batch(USERS, [user(1, NOW - 20, 99, 1.0)]))
        assert score(store, 1) == 2.0
        store.upsert(USERS, batch(USERS, [user(1, NOW - 5, 0, 3.0)]))
        assert score(store, 1) == 3.0

    def test_tie_on_event_ts_broken_by_created_ts(self, store: RedisOnlineStore) -> None:
        store.upsert(USERS, batch(USERS, [user(1, NOW, 7, 2.0)]))
        store.upsert(USERS, batch(USERS, [user(1, NOW, 6, 1.0)]))
        assert score(store, 1) == 2.0
        store.upsert(USERS, batch(USERS, [user(1, NOW, 8, 3.0)]))
        assert score(store, 1) == 3.0

    def test_null_created_ts_loses(self, store: RedisOnlineStore) -> None:
        store.upsert(USERS, batch(USERS, [user(1, NOW, None, 1.0)]))
        assert score(store, 1) == 1.0
        # Any created_ts (even a negative one) beats null at the same event time ...
        store.upsert(USERS, batch(USERS, [user(1, NOW, -(2**62), 2.0)]))
        assert score(store, 1) == 2.0
        # ... and null never beats a value.
        store.upsert(USERS, batch(USERS, [user(1, NOW, None, 3.0)]))
        assert score(store, 1) == 2.0

    def test_negative_and_extreme_times_order(self, store: RedisOnlineStore) -> None:
        # The 2^63 offset makes signed times compare as unsigned bytes.
        for ts, value in [(-5, 1.0), (-(2**62), 0.5), (0, 2.0), (2**62, 3.0), (2**61, 0.1)]:
            store.upsert(USERS, batch(USERS, [user(1, ts, None, value)]))
        assert score(store, 1) == 3.0
        store.upsert(USERS, batch(USERS, [user(2, -1, None, 1.0), user(2, -2, 5, 9.0)]))
        assert score(store, 2) == 1.0

    def test_equal_pair_does_not_replace(self, store: RedisOnlineStore) -> None:
        store.upsert(USERS, batch(USERS, [user(1, NOW, 4, 1.0), user(2, NOW, None, 1.0)]))
        store.upsert(USERS, batch(USERS, [user(1, NOW, 4, 2.0), user(2, NOW, None, 2.0)]))
        assert score(store, 1) == 1.0
        assert score(store, 2) == 1.0

    def test_duplicates_within_one_batch(self, store: RedisOnlineStore) -> None:
        rows = [user(1, NOW - i, 0, float(i)) for i in range(10)]
        random.Random(1).shuffle(rows)
        assert store.upsert(USERS, batch(USERS, rows)) == 10
        assert score(store, 1) == 0.0

    def test_duplicates_across_script_chunks(self, store: RedisOnlineStore) -> None:
        rows = [user(k, NOW - i, i % 3, float(i), i) for i in range(900) for k in range(3)]
        random.Random(2).shuffle(rows)
        assert len(rows) > 2 * redis_store.CHUNK
        store.upsert(USERS, batch(USERS, rows))
        assert store.read(USERS, [(0,), (1,), (2,)], NOW) == [(0.0, 0)] * 3

    def test_record_batch_and_timestamp_event_column(self, store: RedisOnlineStore) -> None:
        ts = datetime.fromtimestamp(NOW / 1e6, UTC)
        rb = pa.record_batch(
            {
                "user_id": pa.array([1, 2], pa.int64()),
                EVENT_TS: pa.array([ts, ts], pa.timestamp("ns", tz="UTC")),
                CREATED_TS: pa.array([None, ts], pa.timestamp("ms")),
                "score": [1.5, 2.5],
                "n": pa.array([1, 2], pa.int32()),
            }
        )
        assert store.upsert(USERS, rb) == 2
        assert store.read(USERS, [(1,), (2,)], NOW) == [(1.5, 1), (2.5, 2)]
        # The event time was stored as micros: one microsecond later wins.
        store.upsert(USERS, batch(USERS, [user(1, NOW + 1, None, 9.0)]))
        store.upsert(USERS, batch(USERS, [user(2, NOW, None, 9.0)]))
        assert store.read(USERS, [(1,), (2,)], NOW) == [(9.0, 0), (2.5, 2)]

    def test_batch_without_created_column(self, store: RedisOnlineStore) -> None:
        data = batch(USERS, [user(1, NOW, None, 1.0)]).drop_columns([CREATED_TS])
        store.upsert(USERS, data)
        store.upsert(USERS, batch(USERS, [user(1, NOW, 0, 2.0)]))
        assert score(store, 1) == 2.0

    def test_null_keys_are_skipped(self, store: RedisOnlineStore) -> None:
        assert store.upsert(USERS, batch(USERS, [user(None, NOW, 0, 1.0), user(1, NOW, 0, 2.0)]))
        assert store.read(USERS, [(None,), (1,)], NOW) == [None, (2.0, 0)]
        assert store.upsert(USERS, batch(USERS, [user(None, NOW, 0, 1.0)])) == 1

    def test_null_event_ts_is_an_error(self, store: RedisOnlineStore) -> None:
        with pytest.raises(RunError, match="null"):
            store.upsert(USERS, batch(USERS, [{"user_id": 1, "score": 1.0}]))

    def test_missing_column_is_an_error(self, store: RedisOnlineStore) -> None:
        with pytest.raises(RunError, match="lack columns n"):
            store.upsert(USERS, batch(USERS, [user(1, NOW, 0, 1.0)]).drop_columns(["n"]))

    def test_upsert_before_prepare_is_an_error(self, store: RedisOnlineStore) -> None:
        other = OnlineTable("other", ("id",), (("x", T.INT64),))
        with pytest.raises(RunError, match="prepare"):
            store.upsert(other, batch(other, [{"id": 1, EVENT_TS: NOW, "x": 1}]))

    def test_empty_batch(self, store: RedisOnlineStore) -> None:
        assert store.upsert(USERS, batch(USERS, [])) == 0


class TestTTL:
    def test_bound_is_inclusive(self, make: Callable[..., RedisOnlineStore]) -> None:
        table = OnlineTable("t", ("id",), (("x", T.INT64),), ttl_us=HOUR)
        s = make()
        s.prepare(table)
        rows = [
            {"id": 1, EVENT_TS: NOW - HOUR, "x": 1},
            {"id": 2, EVENT_TS: NOW - HOUR - 1, "x": 2},
        ]
        s.upsert(table, batch(table, rows))
        assert s.read(table, [(1,)], NOW) == [(1,)]
        assert s.read(table, [(2,)], NOW) == [None]
        assert s.read(table, [(1,), (2,), (3,)], NOW) == [(1,), None, None]
        # The same rows are fresh at an earlier "now".
        assert s.read(table, [(1,), (2,)], NOW - 1) == [(1,), (2,)]

    def test_no_ttl_always_returned(self, store: RedisOnlineStore) -> None:
        store.upsert(USERS, batch(USERS, [user(1, 0, None, 1.0)]))
        assert store.read(USERS, [(1,)], NOW * 10) == [(1.0, 0)]
        assert store.read(USERS, [(1,), (2,)], NOW * 10) == [(1.0, 0), None]

    def test_ttl_before_the_epoch(self, make: Callable[..., RedisOnlineStore]) -> None:
        table = OnlineTable("t", ("id",), (("x", T.INT64),), ttl_us=HOUR)
        s = make()
        s.prepare(table)
        s.upsert(table, batch(table, [{"id": 1, EVENT_TS: -HOUR, "x": 1}]))
        assert s.read(table, [(1,)], 0) == [(1,)]
        assert s.read(table, [(1,)], 1) == [None]


class TestKeys:
    def test_composite_keys(self, make: Callable[..., RedisOnlineStore]) -> None:
        table = OnlineTable("pairs", ("user_id", "item_id"), (("x", T.INT64),))
        s = make()
        s.prepare(table)
        rows = [
            {"user_id": u, "item_id": f"i{i}", EVENT_TS: NOW, "x": u * 10 + i}
            for u in range(5)
            for i in range(5)
        ]
        s.upsert(table, batch(table, rows, {"item_id": pa.string()}))
        assert s.read(table, [(3, "i4")], NOW) == [(34,)]
        assert s.read(table, [(3, "i9")], NOW) == [None]
        assert s.read(table, [(3, None)], NOW) == [None]
        keys = [(u, f"i{i}") for u in range(7) for i in range(7)]
        random.Random(2).shuffle(keys)
        got = s.read(table, [*keys, (None, "i1"), [2, "i2"]], NOW)  # type: ignore[list-item]
        want = [(u * 10 + int(i[1:]),) if u < 5 and int(i[1:]) < 5 else None for u, i in keys]
        assert got == [*want, None, (22,)]
        # Newest-wins is per composite key.
        old = [{"user_id": 3, "item_id": "i4", EVENT_TS: NOW - 1, "x": 0}]
        s.upsert(table, batch(table, old, {"item_id": pa.string()}))
        assert s.read(table, [(3, "i4")], NOW) == [(34,)]

    def test_composite_key_boundaries_do_not_collide(
        self, make: Callable[..., RedisOnlineStore]
    ) -> None:
        table = OnlineTable("pairs", ("a", "b"), (("x", T.INT64),))
        s = make()
        s.prepare(table)
        rows = [
            {"a": "ab", "b": "c", EVENT_TS: NOW, "x": 1},
            {"a": "a", "b": "bc", EVENT_TS: NOW, "x": 2},
        ]
        s.upsert(table, batch(table, rows, {"a": pa.string(), "b": pa.string()}))
        assert s.read(table, [("ab", "c"), ("a", "bc"), ("abc", "")], NOW) == [(1,), (2,), None]

    def test_int_key_and_string_key_are_distinct(self, store: RedisOnlineStore) -> None:
        store.upsert(USERS, batch(USERS, [user(1, NOW, 0, 1.0)]))
        assert score(store, "1") is None
        store.upsert(USERS, batch(USERS, [user("1", NOW, 0, 2.0)], {"user_id": pa.string()}))
        assert score(store, 1) == 1.0
        assert score(store, "1") == 2.0
        assert store.read(USERS, [("1",), (1,), ("2",)], NOW) == [(2.0, 0), (1.0, 0), None]

    def test_key_width_and_type_normalised(self, store: RedisOnlineStore) -> None:
        np = pytest.importorskip("numpy")
        data = batch(USERS, [user(7, NOW, 0, 1.0)], {"user_id": pa.int32()})
        store.upsert(USERS, data)
        assert store.read(USERS, [(7,), (np.int64(7),), ([7],)], NOW) == [(1.0, 0)] * 2 + [None]

    def test_timestamp_and_date_keys(self, make: Callable[..., RedisOnlineStore]) -> None:
        table = OnlineTable("days", ("day", "at"), (("x", T.INT64),))
        s = make()
        s.prepare(table)
        at = datetime(2024, 5, 1, 12, tzinfo=UTC)
        rows = [{"day": date(2024, 5, 1), "at": at, EVENT_TS: NOW, "x": 1}]
        s.upsert(table, batch(table, rows, {"day": pa.date32(), "at": pa.timestamp("us", "UTC")}))
        assert s.read(table, [(date(2024, 5, 1), at)], NOW) == [(1,)]
        assert s.read(table, [(date(2024, 5, 1), at.replace(tzinfo=None))], NOW) == [(1,)]

    def test_batched_read_preserves_order(self, store: RedisOnlineStore) -> None:
        store.upsert(USERS, batch(USERS, [user(i, NOW, 0, float(i), i) for i in range(0, 2000, 2)]))
        rng = random.Random(4)
        keys = [(rng.randrange(2000),) for _ in range(1000)]
        keys[10] = keys[500]  # a duplicate
        got = store.read(USERS, keys, NOW)
        assert len(got) == 1000
        assert got == [(float(k), k) if k % 2 == 0 else None for (k,) in keys]
        assert any(g is None for g in got) and any(g is not None for g in got)
        assert store.read(USERS, [], NOW) == []

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

    def test_case_differing_views_do_not_share_keys(
        self, make: Callable[..., RedisOnlineStore]
    ) -> None:
        lower = OnlineTable("users", ("id",), (("x", T.INT64),))
        upper = OnlineTable("Users", ("id",), (("x", T.INT64),))
        s = make()
        s.prepare(lower)
        s.prepare(upper)
        s.upsert(lower, batch(lower, [{"id": 1, EVENT_TS: NOW, "x": 1}]))
        s.upsert(upper, batch(upper, [{"id": 1, EVENT_TS: NOW, "x": 2}]))
        assert s.read(lower, [(1,)], NOW) == [(1,)]
        assert s.read(upper, [(1,)], NOW) == [(2,)]

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


ALL_TYPES = OnlineTable("typed", ("id",), tuple((t.value, t) for t in T))


class TestTypes:
    def test_every_feature_type_round_trips(self, make: Callable[..., RedisOnlineStore]) -> None:
        s = make()
        s.prepare(ALL_TYPES)
        ts = datetime(2024, 2, 29, 13, 14, 15, 123456, tzinfo=UTC)
        values = {
            "int32": -(2**31),
            "int64": 2**63 - 1,
            "float32": 0.5,
            "float64": 0.1,
            "bool": True,
            "string": "héllo ✓",
            "timestamp": ts,
            "date": date(1969, 12, 31),
            "bytes": b"\x00\xff",
        }
        s.upsert(
            ALL_TYPES,
            batch(ALL_TYPES, [{"id": 1, EVENT_TS: NOW, **values}, {"id": 2, EVENT_TS: NOW}]),
        )
        got = s.read(ALL_TYPES, [(1,), (2,)], NOW)
        assert got[0] == tuple(values[t.value] for t in T)
        assert got[1] == tuple(None for _ in T)
        (row,) = s.read(ALL_TYPES, [(1,)], NOW)
        assert row == got[0]
        assert row is not None
        as_dict = dict(zip([t.value for t in T], row, strict=True))
        assert type(as_dict["bool"]) is bool
        assert as_dict["timestamp"].tzinfo is not None
        assert type(as_dict["date"]) is date
        assert type(as_dict["bytes"]) is bytes and type(as_dict["string"]) is str

    def test_false_and_zero_are_not_null(self, make: Callable[..., RedisOnlineStore]) -> None:
        s = make()
        s.prepare(ALL_TYPES)
        row = {"id": 1, EVENT_TS: NOW, "bool": False, "int64": 0, "string": "", "bytes": b""}
        s.upsert(ALL_TYPES, batch(ALL_TYPES, [row]))
        (got,) = s.read(ALL_TYPES, [(1,)], NOW)
        assert got is not None
        as_dict = dict(zip([t.value for t in T], got, strict=True))
        assert as_dict["bool"] is False
        assert (as_dict["int64"], as_dict["string"], as_dict["bytes"]) == (0, "", b"")

    def test_timestamp_features_in_other_units_and_zones(
        self, make: Callable[..., RedisOnlineStore]
    ) -> None:
        table = OnlineTable("ts", ("id",), (("at", T.TIMESTAMP), ("day", T.DATE)))
        s = make()
        s.prepare(table)
        at = datetime(2024, 1, 1, 12, tzinfo=UTC)
        data = pa.table(
            {
                "id": [1, 2],
                EVENT_TS: [NOW, NOW],
                CREATED_TS: pa.array([None, None], pa.int64()),
                "at": pa.array([at, None], pa.timestamp("ns", tz="Europe/Paris")),
                "day": pa.array([date(2024, 1, 1), None], pa.date64()),
            }
        )
        s.upsert(table, data)
        assert s.read(table, [(1,), (2,)], NOW) == [(at, date(2024, 1, 1)), (None, None)]

    def test_float32_only_view_is_exact(self, make: Callable[..., RedisOnlineStore]) -> None:
        table = OnlineTable("f", ("id",), (("a", T.FLOAT32), ("b", T.FLOAT32)))
        s = make()
        s.prepare(table)
        data = pa.table(
            {
                "id": [1],
                EVENT_TS: [NOW],
                "a": pa.array([0.1], pa.float32()),
                "b": pa.array([None], pa.float32()),
            }
        )
        s.upsert(table, data)
        assert s.read(table, [(1,)], NOW) == [(data.column("a").to_pylist()[0], None)]

    def test_dictionary_encoded_columns(self, store: RedisOnlineStore) -> None:
        data = batch(USERS, [user(1, NOW, 0, 1.0)])
        data = data.set_column(0, "user_id", data.column("user_id").dictionary_encode())
        store.upsert(USERS, data)
        assert score(store, 1) == 1.0


class TestLifecycle:
    def test_layout_change_drops_values_and_state(
        self, make: Callable[..., RedisOnlineStore], raw: Any
    ) -> None:
        s = make()
        s.prepare(USERS)
        s.upsert(USERS, batch(USERS, [user(1, NOW, 0, 1.0)]))
        s.set_state(ViewState("users", None, None, "h1"))
        s.prepare(USERS)  # same layout: nothing lost
        assert score(s, 1) == 1.0
        assert s.get_state("users") is not None

        changed = OnlineTable("users", ("user_id",), (("score", T.STRING),))
        assert changed.layout != USERS.layout
        # Reading with a layout that was never materialized gives no (old) values.
        assert s.read(changed, [(1,)], NOW) == [None]
        old_keys = count_prefix(raw, s.prefix.decode())
        s.prepare(changed)
        assert s.get_state("users") is None
        assert s.read(changed, [(1,), (2,)], NOW) == [None, None]
        # The old layout's value and its index are gone, not only unreachable.
        assert count_prefix(raw, s.prefix.decode()) < old_keys
        assert data_keys(raw, s, "users") == 0
        s.upsert(changed, batch(changed, [{"user_id": 1, EVENT_TS: NOW, "score": "a"}]))
        assert s.read(changed, [(1,)], NOW) == [("a",)]
        assert s.read(USERS, [(1,)], NOW) == [None]

    def test_state_round_trip(self, store: RedisOnlineStore) -> None:
        assert store.get_state("users") is None
        wm = datetime(2024, 3, 1, 0, 0, 0, 1, tzinfo=UTC)
        state = ViewState("users", wm, wm + timedelta(hours=1), "abc123", wm, "base-1")
        store.set_state(state)
        assert store.get_state("users") == state
        # Naive times are UTC; a merge keeps the definition and base version, and each
        # time moves forward only.
        naive = ViewState("users", datetime(2024, 3, 2), None, "def", None, "base-2")
        store.set_state(naive)
        got = store.get_state("users")
        later = datetime(2024, 3, 2, tzinfo=UTC)
        assert got == ViewState("users", later, wm + timedelta(hours=1), "abc123", wm, "base-1")
        assert got is not None and got.watermark is not None
        assert got.watermark.tzinfo is not None
        assert store.get_state("other") is None

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

    def test_persists_across_reopen(self, make: Callable[..., RedisOnlineStore]) -> None:
        s = make()
        s.prepare(USERS)
        s.upsert(USERS, batch(USERS, [user(1, NOW, 0, 1.5, 3)]))
        s.set_state(ViewState("users", datetime(2024, 1, 1, tzinfo=UTC), None, "h"))
        s.close()
        s = make()
        assert s.read(USERS, [(1,)], NOW) == [(1.5, 3)]
        assert s.get_state("users") == ViewState(
            "users", datetime(2024, 1, 1, tzinfo=UTC), None, "h"
        )
        s.prepare(USERS)
        assert s.read(USERS, [(1,)], NOW) == [(1.5, 3)]

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
        from tests.online.test_store_contract import Backend, rebuild_under_readers

        # Past META_RECHECK_S (readers of other instances hold a meta value that long):
        # old tags are deleted while the readers run, and not one read may miss a value.
        monkeypatch.setattr(redis_store, "RETIRE_GRACE_MS", 1_300)
        spec = {"kind": "redis", "url": URL, "project": "shop", "prefix": prefix}
        backend = Backend("redis", spec)
        try:
            assert rebuild_under_readers(backend, 200, 3.0) >= 2
        finally:
            for s in backend.made:
                s.close()
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

    def test_unfenced_namespace_is_adopted_by_a_fence(self, store: RedisOnlineStore) -> None:
        ns = store.namespace("users")  # the fixture prepared it without a fence
        assert ns is not None and (ns.view_hash, ns.generation) == ("", 0)
        store.upsert(USERS, fenced_rows(0, 1, 1.0), FENCE)
        store.prepare(USERS, FENCE)
        assert store.namespace("users") == ns.__class__(USERS.layout, FENCE.view_hash, 0)
        assert score(store, 0) == 1.0
        with pytest.raises(FencedError):
            store.prepare(USERS, OTHER)

    def test_key_types_are_recorded(self, store: RedisOnlineStore) -> None:
        assert store.key_types("users") is None
        store.upsert(USERS, fenced_rows(0, 1, 1.0))
        other = make_reader(store)
        assert other.key_types("users") == ("integer",)
        store.teardown(USERS)
        assert store.key_types("users") is None
        other.close()

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
    KEYS = 200
    VERSIONS = 20

    def _rows(self, seed: int) -> list[list[dict[str, Any]]]:
        """Batches holding every (key, version) in a shuffled order."""
        rows = [
            user(k, NOW + v, v % 3, float(v), v)
            for k in range(self.KEYS)
            for v in range(self.VERSIONS)
        ]
        random.Random(seed).shuffle(rows)
        return [rows[i : i + 97] for i in range(0, len(rows), 97)]

    def _check(self, store: RedisOnlineStore) -> None:
        newest = float(self.VERSIONS - 1)
        want = [(newest, self.VERSIONS - 1)] * self.KEYS
        assert store.read(USERS, [(k,) for k in range(self.KEYS)], NOW) == want

    def _run(self, stores: list[RedisOnlineStore], threads_per_store: int) -> int:
        errors: list[BaseException] = []

        def work(s: RedisOnlineStore, seed: int) -> None:
            try:
                for chunk in self._rows(seed):
                    s.upsert(USERS, batch(USERS, chunk))
                    s.read(USERS, [(1,), (2,)], NOW)
            except BaseException as e:  # surfaced in the main thread below
                errors.append(e)

        threads = [
            threading.Thread(target=work, args=(s, i * 10 + j))
            for i, s in enumerate(stores)
            for j in range(threads_per_store)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        for s in stores:
            self._check(s)
        return len(threads)

    def test_threads_sharing_one_store(self, store: RedisOnlineStore) -> None:
        assert self._run([store], 6) == 6

    def test_several_instances_and_threads(self, make: Callable[..., RedisOnlineStore]) -> None:
        stores = [make() for _ in range(3)]
        stores[0].prepare(USERS)
        assert self._run(stores, 2) == 6

    def test_concurrent_prepare_of_a_new_layout(
        self, make: Callable[..., RedisOnlineStore]
    ) -> None:
        stores = [make() for _ in range(4)]
        errors: list[BaseException] = []

        def work(s: RedisOnlineStore, seed: int) -> None:
            try:
                s.prepare(USERS)
                for chunk in self._rows(seed)[:10]:
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
        port = free_port()
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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


NO_DISK = ["--appendonly", "no", "--daemonize", "no"]


class Server:
    """A redis-server of the test's own on a free port, without persistence."""

    def __init__(self) -> None:
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        exe = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.proc = subprocess.Popen(
            [exe, *f"--port {self.port} --bind 127.0.0.1".split(), "--save", "", *NO_DISK],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if redis.Redis("127.0.0.1", self.port, socket_connect_timeout=0.2).ping():
                    return
            except redis.RedisError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            if self.proc.pid:
                os.kill(self.proc.pid, signal.SIGCONT)  # in case a test stopped it
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None


@pytest.fixture
def server() -> Iterator[Server]:
    if not (shutil.which("redis-server") or os.path.exists("/usr/bin/redis-server")):
        unavailable("redis", "redis-server binary not found")
    srv = Server()
    try:
        srv.start()
        yield srv
    finally:
        srv.kill()


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
    def test_server_killed_during_a_run_then_rerun(self, server: Server) -> None:
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

    def test_killed_before_an_upsert_fails_fast(self, server: Server) -> None:
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

    def test_hung_server_read_times_out(self, server: Server) -> None:
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

    def test_restart_between_reads_reconnects(self, server: Server) -> None:
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


_E2E_NOW = datetime.now(UTC).replace(microsecond=0)


def _spend_project(root: Any, port: int) -> Any:
    """A one-view project whose online store is the test's own redis-server."""
    from tests.support.project_factory import ViewSpec, make_project

    now = _E2E_NOW
    rows = [
        {"user_id": 1, "event_timestamp": now - timedelta(hours=3), "spend": 1.0},
        {"user_id": 1, "event_timestamp": now - timedelta(hours=1), "spend": 2.0},
        {"user_id": 2, "event_timestamp": now - timedelta(hours=2), "spend": 5.0},
    ]
    view = ViewSpec("spend", ["user"], [("spend", "float64")], rows, ttl="1d", online=True)
    online = {
        "type": "redis",
        "url": f"redis://127.0.0.1:{port}/0",
        "socket_timeout": 1,
        "connect_timeout": 1,
    }
    return make_project(root, [view], {"user": ["user_id"]}, online_store=online)


class TestMaterializationFaults:
    """`fsql run` semantics when Redis dies or hangs while a view is being written."""

    def _read(self, fs: Any) -> list[Any]:
        rows = [{"user_id": 1}, {"user_id": 2}]
        return fs.get_online_features(["spend:spend"], rows).to_dict()["spend"]  # type: ignore[no-any-return]

    def _fail_on_first_write(
        self, monkeypatch: pytest.MonkeyPatch, fault: Callable[[], None]
    ) -> None:
        """Inject `fault` into the server right before the first online write of a run
        (into the live namespace or a rebuild's)."""
        real = RedisOnlineStore._upsert

        def first(self: RedisOnlineStore, *args: Any) -> int:
            monkeypatch.setattr(RedisOnlineStore, "_upsert", real)
            fault()
            return real(self, *args)

        monkeypatch.setattr(RedisOnlineStore, "_upsert", first)

    def test_hang_mid_run_moves_no_watermark_and_rerun_completes(
        self, server: Server, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from fsql import FeatureStore

        root = _spend_project(tmp_path / "p", server.port)
        with FeatureStore(project_dir=root) as fs:
            early = _E2E_NOW - timedelta(minutes=150)
            fs.materialize(None, early)
            before = fs.online.get_state("spend")
            assert before is not None and before.watermark == early
            assert self._read(fs) == [1.0, None]
            assert server.proc is not None
            pid = server.proc.pid
            self._fail_on_first_write(monkeypatch, lambda: os.kill(pid, signal.SIGSTOP))
            start = time.monotonic()
            try:
                with pytest.raises(RunError, match="timed out"):
                    fs.materialize_incremental(_E2E_NOW)
                assert time.monotonic() - start < 3
            finally:
                os.kill(pid, signal.SIGCONT)
            assert fs.online.get_state("spend") == before  # the watermark did not move
            [result] = fs.materialize_incremental(_E2E_NOW)
            assert "incremental" in result.reason
            assert self._read(fs) == [2.0, 5.0]
            state = fs.online.get_state("spend")
            assert state is not None and state.watermark == _E2E_NOW

    def test_kill_mid_run_then_restart_and_rerun(
        self, server: Server, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from fsql import FeatureStore

        root = _spend_project(tmp_path / "p", server.port)
        with FeatureStore(project_dir=root) as fs:
            self._fail_on_first_write(monkeypatch, server.kill)
            start = time.monotonic()
            with pytest.raises(RunError, match=f"127.0.0.1:{server.port}"):
                fs.materialize_incremental(_E2E_NOW)
            assert time.monotonic() - start < 3
            server.start()  # empty: no persistence, so the re-run is a full one
            fs.materialize_incremental(_E2E_NOW)
            assert self._read(fs) == [2.0, 5.0]
