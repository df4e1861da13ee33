"""The contract of `fsql.online.base.OnlineStore`, run against every store: SQLite and Redis.

THE online-store suite: every scenario that is not one store's own is here, once, and runs
on both (tests/online/test_sqlite.py and test_redis.py keep only what is specific to one
store: file layout; key layout, Lua scripts, pipelining, expiry, a dying server). One
fixture gives each test a factory of store instances on the same storage (a SQLite file; a
Redis database 13 key prefix unique to the test, whose keys alone are deleted afterwards),
so that "another process" is another instance or a real subprocess. What is checked:
newest-wins upserts, TTL at read time, keys (composite, typed, many), value types,
layout changes and run state, racing writers; greatest-version-wins with the version
tie-break, rebuild swaps and their fences, upserts reaching pending namespaces,
FencedError, state merges under concurrent writers, readers during rebuilds, and that
every value type reads back the same from both stores.
"""

from __future__ import annotations

import json
import math
import random
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta, timezone
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
    Found,
    OnlineStore,
    OnlineTable,
    ViewState,
)
from tests.support import redis_servers
from tests.support.online_stores import (
    ALL_TYPES,
    HOUR,
    NOW,
    USERS,
    Backend,
    batch,
    race_writers,
    rebuild_under_readers,
    score,
    user,
)

ROOT = Path(__file__).resolve().parents[2]
OLD = Fence("a" * 64, 1_000)
NEW = Fence("b" * 64, 2_000)


@pytest.fixture(params=["sqlite", "redis"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "sqlite":
        spec: dict[str, Any] = {"kind": "sqlite", "path": str(tmp_path / "online.db")}
        client = None
    else:
        client = redis_servers.shared_client()
        prefix = redis_servers.new_prefix()
        spec = {"kind": "redis", "url": redis_servers.SHARED_URL, "project": "shop"}
        spec["prefix"] = prefix
    b = Backend(request.param, spec)
    try:
        yield b
    finally:
        b.close()
        if client is not None:
            redis_servers.delete_prefix(client, spec["prefix"])
            client.close()


@pytest.fixture
def store(backend: Backend) -> OnlineStore:
    """A store on the backend, with no view prepared."""
    return backend.make()


@pytest.fixture
def users(store: OnlineStore) -> OnlineStore:
    """A store on the backend with USERS prepared (unfenced, as tools and tests do)."""
    store.prepare(USERS)
    return store


def rows(table: OnlineTable, items: list[dict[str, Any]], version: bool = True) -> pa.Table:
    """Rows in the upsert layout with the version column (unless `version` is False)."""
    return batch(table, items, version=version)


def scored(uid: int, score: float, ts: int = NOW, **extra: Any) -> dict[str, Any]:
    """A row of USERS at `ts` (default NOW), with `extra` columns (created time, version)."""
    return {"user_id": uid, EVENT_TS: ts, "score": score, **extra}


def scores(store: OnlineStore, uids: range | list[int]) -> list[float | None]:
    got = store.read(USERS, [(u,) for u in uids], NOW)
    return [None if row is None else row[0] for row in got]


def live(store: OnlineStore, fence: Fence, items: list[dict[str, Any]]) -> None:
    """A view whose live values were made under `fence`."""
    store.prepare(USERS, fence)
    store.upsert(USERS, rows(USERS, items), fence)


class TestNewestWins:
    def test_older_never_replaces_newer(self, users: OnlineStore) -> None:
        users.upsert(USERS, batch(USERS, [user(1, NOW - 10, 5, 2.0)]))
        users.upsert(USERS, batch(USERS, [user(1, NOW - 20, 99, 1.0)]))
        assert score(users, 1) == 2.0
        users.upsert(USERS, batch(USERS, [user(1, NOW - 5, 0, 3.0)]))
        assert score(users, 1) == 3.0

    def test_tie_on_event_ts_broken_by_created_ts(self, users: OnlineStore) -> None:
        users.upsert(USERS, batch(USERS, [user(1, NOW, 7, 2.0)]))
        users.upsert(USERS, batch(USERS, [user(1, NOW, 6, 1.0)]))
        assert score(users, 1) == 2.0
        users.upsert(USERS, batch(USERS, [user(1, NOW, 8, 3.0)]))
        assert score(users, 1) == 3.0

    def test_null_created_ts_loses(self, users: OnlineStore) -> None:
        users.upsert(USERS, batch(USERS, [user(1, NOW, None, 1.0)]))
        assert score(users, 1) == 1.0
        # Any created_ts (even a negative one) beats null at the same event time ...
        users.upsert(USERS, batch(USERS, [user(1, NOW, -(2**62), 2.0)]))
        assert score(users, 1) == 2.0
        # ... and null never beats a value.
        users.upsert(USERS, batch(USERS, [user(1, NOW, None, 3.0)]))
        assert score(users, 1) == 2.0

    def test_negative_and_extreme_times_order(self, users: OnlineStore) -> None:
        # Redis stores times with a 2^63 offset, so that signed times compare as bytes.
        for ts, value in [(-5, 1.0), (-(2**62), 0.5), (0, 2.0), (2**62, 3.0), (2**61, 0.1)]:
            users.upsert(USERS, batch(USERS, [user(1, ts, None, value)]))
        assert score(users, 1) == 3.0
        users.upsert(USERS, batch(USERS, [user(2, -1, None, 1.0), user(2, -2, 5, 9.0)]))
        assert score(users, 2) == 1.0

    def test_equal_pair_does_not_replace(self, users: OnlineStore) -> None:
        users.upsert(USERS, batch(USERS, [user(1, NOW, 4, 1.0), user(2, NOW, None, 1.0)]))
        users.upsert(USERS, batch(USERS, [user(1, NOW, 4, 2.0), user(2, NOW, None, 2.0)]))
        assert score(users, 1) == 1.0
        assert score(users, 2) == 1.0

    def test_duplicates_within_one_batch(self, users: OnlineStore) -> None:
        items = [user(1, NOW - i, 0, float(i)) for i in range(10)]
        random.Random(1).shuffle(items)
        assert users.upsert(USERS, batch(USERS, items)) == 10
        assert score(users, 1) == 0.0

    def test_record_batch_and_timestamp_event_column(self, users: OnlineStore) -> None:
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
        assert users.upsert(USERS, rb) == 2
        assert users.read(USERS, [(1,), (2,)], NOW) == [(1.5, 1), (2.5, 2)]
        # The event time was stored as micros: one microsecond later wins.
        users.upsert(USERS, batch(USERS, [user(1, NOW + 1, None, 9.0)]))
        users.upsert(USERS, batch(USERS, [user(2, NOW, None, 9.0)]))
        assert users.read(USERS, [(1,), (2,)], NOW) == [(9.0, 0), (2.5, 2)]

    def test_batch_without_created_column(self, users: OnlineStore) -> None:
        data = batch(USERS, [user(1, NOW, None, 1.0)]).drop_columns([CREATED_TS])
        users.upsert(USERS, data)
        users.upsert(USERS, batch(USERS, [user(1, NOW, 0, 2.0)]))
        assert score(users, 1) == 2.0

    def test_null_keys_are_skipped(self, users: OnlineStore) -> None:
        assert users.upsert(USERS, batch(USERS, [user(None, NOW, 0, 1.0), user(1, NOW, 0, 2.0)]))
        assert users.read(USERS, [(None,), (1,)], NOW) == [None, (2.0, 0)]
        assert users.upsert(USERS, batch(USERS, [user(None, NOW, 0, 1.0)])) == 1

    def test_null_event_ts_is_an_error(self, users: OnlineStore) -> None:
        with pytest.raises(RunError, match="null"):
            users.upsert(USERS, batch(USERS, [{"user_id": 1, "score": 1.0}]))

    def test_missing_column_is_an_error(self, users: OnlineStore) -> None:
        with pytest.raises(RunError, match="lack columns n"):
            users.upsert(USERS, batch(USERS, [user(1, NOW, 0, 1.0)]).drop_columns(["n"]))

    def test_upsert_before_prepare_is_an_error(self, users: OnlineStore) -> None:
        other = OnlineTable("other", ("id",), (("x", T.INT64),))
        with pytest.raises(RunError, match="prepare"):
            users.upsert(other, batch(other, [{"id": 1, EVENT_TS: NOW, "x": 1}]))

    def test_empty_batch(self, users: OnlineStore) -> None:
        assert users.upsert(USERS, batch(USERS, [])) == 0


class TestTTL:
    def test_bound_is_inclusive(self, store: OnlineStore) -> None:
        table = OnlineTable("t", ("id",), (("x", T.INT64),), ttl_us=HOUR)
        store.prepare(table)
        items = [
            {"id": 1, EVENT_TS: NOW - HOUR, "x": 1},
            {"id": 2, EVENT_TS: NOW - HOUR - 1, "x": 2},
        ]
        store.upsert(table, batch(table, items))
        assert store.read(table, [(1,)], NOW) == [(1,)]
        assert store.read(table, [(2,)], NOW) == [None]
        assert store.read(table, [(1,), (2,), (3,)], NOW) == [(1,), None, None]
        # The same rows are fresh at an earlier "now".
        assert store.read(table, [(1,), (2,)], NOW - 1) == [(1,), (2,)]

    def test_no_ttl_always_returned(self, users: OnlineStore) -> None:
        users.upsert(USERS, batch(USERS, [user(1, 0, None, 1.0)]))
        assert users.read(USERS, [(1,)], NOW * 10) == [(1.0, 0)]
        assert users.read(USERS, [(1,), (2,)], NOW * 10) == [(1.0, 0), None]

    def test_ttl_before_the_epoch(self, store: OnlineStore) -> None:
        table = OnlineTable("t", ("id",), (("x", T.INT64),), ttl_us=HOUR)
        store.prepare(table)
        store.upsert(table, batch(table, [{"id": 1, EVENT_TS: -HOUR, "x": 1}]))
        assert store.read(table, [(1,)], 0) == [(1,)]
        assert store.read(table, [(1,)], 1) == [None]

    def test_timed_reads_tell_expired_rows_from_missing_keys(self, store: OnlineStore) -> None:
        table = OnlineTable("t", ("id",), (("x", T.INT64),), ttl_us=HOUR)
        assert store.read_timed(table, [(1,)], NOW) == [None]  # never materialized
        store.prepare(table)
        items = [
            {"id": 1, EVENT_TS: NOW - HOUR, "x": 1},
            {"id": 2, EVENT_TS: NOW - HOUR - 1, "x": None},
        ]
        store.upsert(table, batch(table, items))
        want = {1: Found(NOW - HOUR, (1,)), 2: Found(NOW - HOUR - 1, None), 3: None}
        for keys in ([(1,)], [(2,)], [(3,)], [(1,), (2,), (3,), (2,)]):
            got = store.read_timed(table, keys, NOW)
            assert got == [want[k[0]] for k in keys]
            assert [None if f is None else f.values for f in got] == store.read(table, keys, NOW)
        # Several views at once; a NULL value of a fresh row is a value, not a miss.
        assert store.read_views_timed([(table, [(2,)]), (table, [(1,), (3,)])], NOW - 1) == [
            [Found(NOW - HOUR - 1, (None,))],
            [Found(NOW - HOUR, (1,)), None],
        ]


class TestKeys:
    def test_composite_keys(self, store: OnlineStore) -> None:
        table = OnlineTable("pairs", ("user_id", "item_id"), (("x", T.INT64),))
        store.prepare(table)
        items = [
            {"user_id": u, "item_id": f"i{i}", EVENT_TS: NOW, "x": u * 10 + i}
            for u in range(5)
            for i in range(5)
        ]
        store.upsert(table, batch(table, items, {"item_id": pa.string()}))
        assert store.read(table, [(3, "i4")], NOW) == [(34,)]
        assert store.read(table, [(3, "i9")], NOW) == [None]
        assert store.read(table, [(3, None)], NOW) == [None]
        keys = [(u, f"i{i}") for u in range(7) for i in range(7)]
        random.Random(2).shuffle(keys)
        got = store.read(table, [*keys, (None, "i1"), [2, "i2"]], NOW)  # type: ignore[list-item]
        want = [(u * 10 + int(i[1:]),) if u < 5 and int(i[1:]) < 5 else None for u, i in keys]
        assert got == [*want, None, (22,)]
        # Newest-wins is per composite key.
        old = [{"user_id": 3, "item_id": "i4", EVENT_TS: NOW - 1, "x": 0}]
        store.upsert(table, batch(table, old, {"item_id": pa.string()}))
        assert store.read(table, [(3, "i4")], NOW) == [(34,)]

    def test_composite_key_boundaries_do_not_collide(self, store: OnlineStore) -> None:
        table = OnlineTable("parts", ("a", "b"), (("x", T.INT64),))
        store.prepare(table)
        items = [
            {"a": "ab", "b": "c", EVENT_TS: NOW, "x": 1},
            {"a": "a", "b": "bc", EVENT_TS: NOW, "x": 2},
        ]
        store.upsert(table, batch(table, items, {"a": pa.string(), "b": pa.string()}))
        got = store.read(table, [("ab", "c"), ("a", "bc"), ("abc", "")], NOW)
        assert got == [(1,), (2,), None]

    def test_key_width_and_type_normalised(self, users: OnlineStore) -> None:
        np = pytest.importorskip("numpy")
        users.upsert(USERS, batch(USERS, [user(7, NOW, 0, 1.0)], {"user_id": pa.int32()}))
        got = users.read(USERS, [(7,), (np.int64(7),), ([7],)], NOW)  # type: ignore[list-item]
        assert got == [(1.0, 0)] * 2 + [None]
        assert users.read(USERS, [([7],)], NOW) == [None]  # the point-lookup path too

    @pytest.mark.parametrize("zone", ["UTC", None, "+02:00"])
    def test_timestamp_and_date_keys(self, store: OnlineStore, zone: str | None) -> None:
        """Naive times are UTC everywhere: a key written in any zone (or none) is read
        back by the same instant, aware or naive."""
        table = OnlineTable("days", ("day", "at"), (("x", T.INT64),))
        store.prepare(table)
        at = datetime(2024, 5, 1, 12, tzinfo=UTC)
        written = at.replace(tzinfo=None) if zone is None else at
        rows_in = [{"day": date(2024, 5, 1), "at": written, EVENT_TS: NOW, "x": 1}]
        types = {"day": pa.date32(), "at": pa.timestamp("us", zone)}
        store.upsert(table, batch(table, rows_in, types))
        day = date(2024, 5, 1)
        assert store.read(table, [(day, at)], NOW) == [(1,)]
        assert store.read(table, [(day, at.replace(tzinfo=None))], NOW) == [(1,)]
        east = at.astimezone(timezone(timedelta(hours=5)))
        assert store.read(table, [(day, east), (day, at + timedelta(seconds=1))], NOW) == [
            (1,),
            None,
        ]

    def test_int_key_and_string_key_are_distinct(self, users: OnlineStore) -> None:
        users.upsert(USERS, batch(USERS, [user(1, NOW, 0, 1.0)]))
        assert score(users, "1") is None
        users.upsert(USERS, batch(USERS, [user("1", NOW, 0, 2.0)], {"user_id": pa.string()}))
        assert score(users, 1) == 1.0
        assert score(users, "1") == 2.0
        assert users.read(USERS, [("1",), (1,), ("2",)], NOW) == [(2.0, 0), (1.0, 0), None]

    def test_batched_read_preserves_order(self, users: OnlineStore) -> None:
        items = [user(i, NOW, 0, float(i), i) for i in range(0, 2000, 2)]
        users.upsert(USERS, batch(USERS, items))
        rng = random.Random(4)
        keys = [(rng.randrange(2000),) for _ in range(1000)]
        keys[10] = keys[500]  # a duplicate
        got = users.read(USERS, keys, NOW)
        assert len(got) == 1000
        assert got == [(float(k), k) if k % 2 == 0 else None for (k,) in keys]
        assert any(g is None for g in got) and any(g is not None for g in got)
        assert users.read(USERS, [], NOW) == []

    def test_case_differing_views_are_separate(self, store: OnlineStore) -> None:
        lower = OnlineTable("users", ("id",), (("x", T.INT64),))
        upper = OnlineTable("Users", ("id",), (("x", T.INT64),))
        store.prepare(lower)
        store.prepare(upper)
        store.upsert(lower, batch(lower, [{"id": 1, EVENT_TS: NOW, "x": 1}]))
        store.upsert(upper, batch(upper, [{"id": 1, EVENT_TS: NOW, "x": 2}]))
        assert store.read(lower, [(1,)], NOW) == [(1,)]
        assert store.read(upper, [(1,)], NOW) == [(2,)]

    def test_key_types_are_recorded(self, backend: Backend, users: OnlineStore) -> None:
        assert users.key_types("users") is None
        users.upsert(USERS, batch(USERS, [user(0, NOW, 0, 1.0)]))
        assert backend.make().key_types("users") == ("integer",)  # another instance
        users.teardown(USERS)
        assert users.key_types("users") is None


class TestTypes:
    def test_false_and_zero_are_not_null(self, store: OnlineStore) -> None:
        store.prepare(ALL_TYPES)
        row = {"id": 1, EVENT_TS: NOW, "bool": False, "int64": 0, "string": "", "bytes": b""}
        store.upsert(ALL_TYPES, batch(ALL_TYPES, [row]))
        (got,) = store.read(ALL_TYPES, [(1,)], NOW)
        assert got is not None
        as_dict = dict(zip([t.value for t in T], got, strict=True))
        assert as_dict["bool"] is False
        assert (as_dict["int64"], as_dict["string"], as_dict["bytes"]) == (0, "", b"")

    def test_arrays_maps_and_json_read_back_as_written(self, store: OnlineStore) -> None:
        table = OnlineTable(
            "nested",
            ("id",),
            (
                ("emb", T("array<float32>")),
                ("vec", T("array<float64>")),
                ("tags", T("array<string>")),
                ("counts", T("map<string,int64>")),
                ("config", T.JSON),
            ),
        )
        store.prepare(table)
        emb = [0.5, -1.25, 3.0]
        items = [
            {
                "id": 1,
                EVENT_TS: NOW,
                "emb": emb,
                "vec": [math.nan, 1e300],
                "tags": ["é", ""],
                "counts": [("a", 1), ("ß", -(2**62))],
                "config": '{"a":[1,{"b":null}]}',
            },
            {
                "id": 2,
                EVENT_TS: NOW,
                "emb": [],
                "vec": None,
                "tags": [None],
                "counts": [],
                "config": "null",
            },
        ]
        store.upsert(table, batch(table, items))
        one, two, missing = store.read(table, [(1,), (2,), (3,)], NOW)
        assert one is not None and two is not None and missing is None
        assert one[0] == emb and one[1][1] == 1e300 and math.isnan(one[1][0])
        assert (one[2], one[3], one[4]) == (["é", ""], {"a": 1, "ß": -(2**62)}, items[0]["config"])
        assert two == ([], None, [None], {}, "null")
        (timed,) = store.read_timed(table, [(1,)], NOW)
        assert timed is not None and timed.values is not None and timed.values[2] == ["é", ""]

    def test_timestamp_features_in_other_units_and_zones(self, store: OnlineStore) -> None:
        table = OnlineTable("ts", ("id",), (("at", T.TIMESTAMP), ("day", T.DATE)))
        store.prepare(table)
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
        store.upsert(table, data)
        assert store.read(table, [(1,), (2,)], NOW) == [(at, date(2024, 1, 1)), (None, None)]

    def test_float32_only_view_is_exact(self, store: OnlineStore) -> None:
        table = OnlineTable("f", ("id",), (("a", T.FLOAT32), ("b", T.FLOAT32)))
        store.prepare(table)
        data = pa.table(
            {
                "id": [1],
                EVENT_TS: [NOW],
                "a": pa.array([0.1], pa.float32()),
                "b": pa.array([None], pa.float32()),
            }
        )
        store.upsert(table, data)
        assert store.read(table, [(1,)], NOW) == [(data.column("a").to_pylist()[0], None)]

    def test_dictionary_encoded_columns(self, users: OnlineStore) -> None:
        data = batch(USERS, [user(1, NOW, 0, 1.0)])
        data = data.set_column(0, "user_id", data.column("user_id").dictionary_encode())
        users.upsert(USERS, data)
        assert score(users, 1) == 1.0


class TestLifecycle:
    def test_layout_change_drops_values_and_state(self, users: OnlineStore) -> None:
        users.upsert(USERS, batch(USERS, [user(1, NOW, 0, 1.0)]))
        users.set_state(ViewState("users", None, None, "h1"))
        users.prepare(USERS)  # same layout: nothing lost
        assert score(users, 1) == 1.0
        assert users.get_state("users") is not None

        changed = OnlineTable("users", ("user_id",), (("score", T.STRING),))
        assert changed.layout != USERS.layout
        # Reading with a layout that was never materialized gives no (old) values.
        assert users.read(changed, [(1,)], NOW) == [None]
        users.prepare(changed)
        assert users.get_state("users") is None
        assert users.read(changed, [(1,), (2,)], NOW) == [None, None]
        users.upsert(changed, batch(changed, [{"user_id": 1, EVENT_TS: NOW, "score": "a"}]))
        assert users.read(changed, [(1,)], NOW) == [("a",)]
        assert users.read(USERS, [(1,)], NOW) == [None]

    def test_state_round_trip(self, store: OnlineStore) -> None:
        assert store.get_state("users") is None
        wm = datetime(2024, 3, 1, 0, 0, 0, 1, tzinfo=UTC)
        state = ViewState("users", wm, wm + timedelta(hours=1), "abc123", wm, "base-1")
        store.set_state(state)
        assert store.get_state("users") == state
        # Naive times are UTC; a merge keeps the definition and base version (only a
        # rebuild's commit replaces them), and each time moves forward only.
        naive = ViewState("users", datetime(2024, 3, 2), None, "def", None, "base-2")
        store.set_state(naive)
        got = store.get_state("users")
        later = datetime(2024, 3, 2, tzinfo=UTC)
        assert got == ViewState("users", later, wm + timedelta(hours=1), "abc123", wm, "base-1")
        store.set_state(ViewState("users", wm, None, "abc123"))  # older: nothing moves back
        assert store.get_state("users") == got
        assert got is not None and got.watermark is not None
        assert got.watermark.tzinfo is not None
        assert store.get_state("other") is None

    def test_persists_across_reopen(self, backend: Backend) -> None:
        s = backend.make()
        s.prepare(USERS)
        s.upsert(USERS, batch(USERS, [user(1, NOW, 0, 1.5, 3)]))
        s.set_state(ViewState("users", datetime(2024, 1, 1, tzinfo=UTC), None, "h"))
        s.close()
        s = backend.make()
        assert s.read(USERS, [(1,)], NOW) == [(1.5, 3)]
        assert s.get_state("users") == ViewState(
            "users", datetime(2024, 1, 1, tzinfo=UTC), None, "h"
        )
        s.prepare(USERS)
        assert s.read(USERS, [(1,)], NOW) == [(1.5, 3)]


class TestConcurrentWriters:
    def test_threads_sharing_one_store(self, users: OnlineStore) -> None:
        assert race_writers([users], 6) == 6

    @pytest.mark.parametrize("threads", [1, 2])
    def test_several_instances(self, backend: Backend, threads: int) -> None:
        """Writer threads on each of three instances (another process's store on the same
        file or prefix), reading between their writes."""
        stores = [backend.make() for _ in range(3)]
        stores[0].prepare(USERS)
        assert race_writers(stores, threads) == 3 * threads


class TestVersions:
    def test_greater_version_wins_a_tie_in_either_order(self, store: OnlineStore) -> None:
        store.prepare(USERS, OLD)
        tie = {CREATED_TS: 7}
        store.upsert(USERS, rows(USERS, [scored(1, 5.0, **tie, **{VERSION: 5})]), OLD)
        store.upsert(USERS, rows(USERS, [scored(1, 3.0, **tie, **{VERSION: 3})]), OLD)
        store.upsert(USERS, rows(USERS, [scored(2, 3.0, **tie, **{VERSION: 3})]), OLD)
        store.upsert(USERS, rows(USERS, [scored(2, 5.0, **tie, **{VERSION: 5})]), OLD)
        assert scores(store, [1, 2]) == [5.0, 5.0]
        # Versions order only equal times: a newer event or created time wins over them.
        store.upsert(USERS, rows(USERS, [scored(1, 8.0, **{CREATED_TS: 8, VERSION: -9})]), OLD)
        store.upsert(USERS, rows(USERS, [scored(2, 9.0, ts=NOW + 1, **{VERSION: -9})]), OLD)
        assert scores(store, [1, 2]) == [8.0, 9.0]

    def test_missing_version_column_is_zero(self, store: OnlineStore) -> None:
        store.prepare(USERS, OLD)
        store.upsert(USERS, rows(USERS, [scored(1, 1.0, **{VERSION: -1})]), OLD)
        store.upsert(USERS, rows(USERS, [scored(1, 2.0)], version=False), OLD)
        assert scores(store, [1]) == [2.0]
        # An equal triple never replaces: (NOW, NULL, 0) again.
        store.upsert(USERS, rows(USERS, [scored(1, 3.0, **{VERSION: 0})]), OLD)
        store.upsert(USERS, rows(USERS, [scored(1, 4.0)], version=False), OLD)
        assert scores(store, [1]) == [2.0]
        store.upsert(USERS, rows(USERS, [scored(1, 5.0, **{VERSION: 1})]), OLD)
        assert scores(store, [1]) == [5.0]

    def test_duplicates_in_one_batch_keep_the_greatest(self, store: OnlineStore) -> None:
        store.prepare(USERS, OLD)
        items = [scored(1, float(v), **{CREATED_TS: 3, VERSION: v}) for v in range(40)]
        random.Random(3).shuffle(items)
        store.upsert(USERS, rows(USERS, items), OLD)
        assert scores(store, [1]) == [39.0]


class TestRebuilds:
    def test_swap_replaces_the_key_set_at_commit(
        self, backend: Backend, store: OnlineStore
    ) -> None:
        live(store, OLD, [scored(u, 1.0) for u in (1, 2, 3)])
        token = store.begin_rebuild(USERS, NEW)
        store.upsert_pending(USERS, token, rows(USERS, [scored(u, 2.0) for u in (2, 3, 4)]))
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
        assert scores(backend.make(), range(1, 5)) == [None, 2.0, 2.0, 2.0]

    def test_first_rebuild_of_a_view(self, store: OnlineStore) -> None:
        assert store.namespace("users") is None
        token = store.begin_rebuild(USERS, NEW)
        store.upsert_pending(USERS, token, rows(USERS, [scored(1, 1.0)]))
        assert scores(store, [1]) == [None]
        assert store.commit_rebuild(USERS, token, NEW, ViewState("users", None, None, "b" * 64))
        assert scores(store, [1]) == [1.0]

    def test_abort_leaves_live_untouched(self, store: OnlineStore) -> None:
        live(store, OLD, [scored(1, 1.0)])
        before = store.namespace("users")
        token = store.begin_rebuild(USERS, NEW)
        store.upsert_pending(USERS, token, rows(USERS, [scored(1, 9.0), scored(2, 9.0)]))
        store.abort_rebuild(USERS, token)
        assert scores(store, [1, 2]) == [1.0, None]
        assert store.namespace("users") == before
        store.upsert(USERS, rows(USERS, [scored(3, 3.0)]), OLD)  # still the live definition
        assert scores(store, [3]) == [3.0]

    def test_commit_refused_when_live_generation_is_newer(self, store: OnlineStore) -> None:
        slow = Fence(OLD.view_hash, 1_000)
        fast = Fence(OLD.view_hash, 5_000)
        first = store.begin_rebuild(USERS, slow)
        second = store.begin_rebuild(USERS, fast)
        store.upsert_pending(USERS, first, rows(USERS, [scored(1, 1.0)]))
        store.upsert_pending(USERS, second, rows(USERS, [scored(1, 2.0)]))
        state = ViewState("users", None, None, OLD.view_hash)
        assert store.commit_rebuild(USERS, second, fast, state) is True
        assert store.commit_rebuild(USERS, first, slow, state) is False
        assert scores(store, [1]) == [2.0]
        ns = store.namespace("users")
        assert ns is not None and ns.generation == 5_000
        # A run that started at the same moment is not newer: it may swap in.
        same = store.begin_rebuild(USERS, fast)
        store.upsert_pending(USERS, same, rows(USERS, [scored(1, 3.0)]))
        assert store.commit_rebuild(USERS, same, fast, state) is True
        assert scores(store, [1]) == [3.0]

    def test_upsert_during_a_rebuild_survives_the_swap(self, backend: Backend) -> None:
        runner, pusher = backend.make(), backend.make()
        live(runner, OLD, [scored(1, 1.0)])
        again = Fence(OLD.view_hash, 3_000)
        token = runner.begin_rebuild(USERS, again)
        # A push of the same definition, from another instance, while the rebuild runs.
        pusher.prepare(USERS, OLD)
        pusher.upsert(USERS, rows(USERS, [scored(9, 9.0)]), OLD)
        runner.upsert_pending(USERS, token, rows(USERS, [scored(1, 1.5), scored(2, 2.0)]))
        pusher.upsert(USERS, rows(USERS, [scored(8, 8.0)]), OLD)
        assert scores(pusher, [1, 2, 8, 9]) == [1.0, None, 8.0, 9.0]
        state = ViewState("users", None, None, OLD.view_hash)
        assert runner.commit_rebuild(USERS, token, again, state) is True
        assert scores(runner, [1, 2, 8, 9]) == [1.5, 2.0, 8.0, 9.0]

    def test_pending_rebuild_of_another_definition_is_not_written(self, store: OnlineStore) -> None:
        live(store, OLD, [scored(1, 1.0)])
        token = store.begin_rebuild(USERS, NEW)
        store.upsert(USERS, rows(USERS, [scored(9, 9.0)]), OLD)
        store.upsert_pending(USERS, token, rows(USERS, [scored(1, 2.0)]))
        assert scores(store, [1, 9]) == [1.0, 9.0]
        assert store.commit_rebuild(USERS, token, NEW, ViewState("users", None, None, "b" * 64))
        assert scores(store, [1, 9]) == [2.0, None]


class TestFences:
    def test_writes_of_an_older_definition_are_refused(self, store: OnlineStore) -> None:
        live(store, OLD, [scored(1, 1.0)])
        store.set_state(ViewState("users", datetime(2024, 1, 1, tzinfo=UTC), None, OLD.view_hash))
        token = store.begin_rebuild(USERS, NEW)
        store.upsert_pending(USERS, token, rows(USERS, [scored(1, 2.0)]))
        assert store.commit_rebuild(USERS, token, NEW, ViewState("users", None, None, "b" * 64))
        later = datetime(2024, 2, 1, tzinfo=UTC)
        refused: list[Callable[[], Any]] = [
            lambda: store.upsert(USERS, rows(USERS, [scored(1, 3.0, ts=NOW + 5)]), OLD),
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
        store.upsert(USERS, rows(USERS, [scored(1, 4.0, ts=NOW + 5)]), NEW)
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
        store.upsert(USERS, rows(USERS, [scored(1, 1.0)]), OLD)  # a fence may write into it
        store.set_state(ViewState("users", None, None, ""), OLD)
        store.prepare(USERS, OLD)
        ns = store.namespace("users")
        assert ns is not None and (ns.view_hash, ns.generation) == (OLD.view_hash, 0)
        assert ns.layout == USERS.layout
        assert scores(store, [1]) == [1.0]
        with pytest.raises(FencedError):
            store.prepare(USERS, NEW)

    def test_unfenced_prepare_replaces_another_layout(self, store: OnlineStore) -> None:
        live(store, OLD, [scored(1, 1.0)])
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
        live(store, OLD, [scored(1, 1.0)])
        store.set_state(ViewState("users", None, None, OLD.view_hash))
        token = store.begin_rebuild(USERS, NEW)
        store.upsert_pending(USERS, token, rows(USERS, [scored(2, 2.0)]))
        store.teardown(USERS)
        assert store.namespace("users") is None
        assert store.get_state("users") is None
        assert scores(store, [1, 2]) == [None, None]

    def test_stored_views_lists_values_rebuilds_and_state_and_forgets_a_teardown(
        self, store: OnlineStore
    ) -> None:
        assert store.stored_views() == []
        live(store, OLD, [scored(1, 1.0)])  # "users": a live namespace
        pairs = OnlineTable("pairs", ("id",), (("x", T.INT64),))
        store.begin_rebuild(pairs, NEW)  # a rebuild in progress only
        store.set_state(ViewState("gone", None, None, "h"))  # run state only
        assert store.stored_views() == ["gone", "pairs", "users"]
        # A view deleted from the project is torn down by its name alone.
        store.teardown(OnlineTable("gone", (), ()))
        store.teardown(pairs)
        assert store.stored_views() == ["users"]


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
from tests.support.online_stores import open_store

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


class TestReadersDuringRebuilds:
    KEYS = 60
    SECONDS = 1.3  # past META_RECHECK_S: readers of other instances look at the meta again

    def test_readers_see_complete_old_or_new_values(self, backend: Backend) -> None:
        assert rebuild_under_readers(backend, self.KEYS, self.SECONDS) >= 2


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
        assert {t for _, t in ALL.features} == set(T)  # every feature type, and more
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
