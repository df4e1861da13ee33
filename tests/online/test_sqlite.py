"""Tests for `fsql.online.sqlite.SQLiteOnlineStore`: newest-wins, TTL, keys, types, state."""

from __future__ import annotations

import random
import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from fsql.definitions.types import FeatureType as T
from fsql.errors import RunError
from fsql.online.base import CREATED_TS, EVENT_TS, OnlineTable, ViewState
from fsql.online.sqlite import SQLiteOnlineStore, table_name

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


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteOnlineStore]:
    s = SQLiteOnlineStore(tmp_path / "sub" / "online.db")
    s.prepare(USERS)
    yield s
    s.close()


def score(store: SQLiteOnlineStore, uid: Any, table: OnlineTable = USERS) -> Any:
    (row,) = store.read(table, [(uid,)], NOW)
    return None if row is None else row[0]


class TestNewestWins:
    def test_older_never_replaces_newer(self, store: SQLiteOnlineStore) -> None:
        store.upsert(USERS, batch(USERS, [user(1, NOW - 10, 5, 2.0)]))
        store.upsert(USERS, batch(USERS, [user(1, NOW - 20, 99, 1.0)]))
        assert score(store, 1) == 2.0
        store.upsert(USERS, batch(USERS, [user(1, NOW - 5, 0, 3.0)]))
        assert score(store, 1) == 3.0

    def test_tie_on_event_ts_broken_by_created_ts(self, store: SQLiteOnlineStore) -> None:
        store.upsert(USERS, batch(USERS, [user(1, NOW, 7, 2.0)]))
        store.upsert(USERS, batch(USERS, [user(1, NOW, 6, 1.0)]))
        assert score(store, 1) == 2.0
        store.upsert(USERS, batch(USERS, [user(1, NOW, 8, 3.0)]))
        assert score(store, 1) == 3.0

    def test_null_created_ts_loses(self, store: SQLiteOnlineStore) -> None:
        store.upsert(USERS, batch(USERS, [user(1, NOW, None, 1.0)]))
        assert score(store, 1) == 1.0
        # Any created_ts (even a negative one) beats null at the same event time ...
        store.upsert(USERS, batch(USERS, [user(1, NOW, -(2**62), 2.0)]))
        assert score(store, 1) == 2.0
        # ... and null never beats a value.
        store.upsert(USERS, batch(USERS, [user(1, NOW, None, 3.0)]))
        assert score(store, 1) == 2.0

    def test_equal_pair_does_not_replace(self, store: SQLiteOnlineStore) -> None:
        store.upsert(USERS, batch(USERS, [user(1, NOW, 4, 1.0), user(2, NOW, None, 1.0)]))
        store.upsert(USERS, batch(USERS, [user(1, NOW, 4, 2.0), user(2, NOW, None, 2.0)]))
        assert score(store, 1) == 1.0
        assert score(store, 2) == 1.0

    def test_duplicates_within_one_batch(self, store: SQLiteOnlineStore) -> None:
        rows = [user(1, NOW - i, 0, float(i)) for i in range(10)]
        random.Random(1).shuffle(rows)
        assert store.upsert(USERS, batch(USERS, rows)) == 10
        assert score(store, 1) == 0.0

    def test_record_batch_and_timestamp_event_column(self, store: SQLiteOnlineStore) -> None:
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

    def test_null_keys_are_skipped(self, store: SQLiteOnlineStore) -> None:
        assert store.upsert(USERS, batch(USERS, [user(None, NOW, 0, 1.0), user(1, NOW, 0, 2.0)]))
        assert store.read(USERS, [(None,), (1,)], NOW) == [None, (2.0, 0)]

    def test_null_event_ts_is_an_error(self, store: SQLiteOnlineStore) -> None:
        with pytest.raises(RunError, match="null"):
            store.upsert(USERS, batch(USERS, [{"user_id": 1, "score": 1.0}]))

    def test_upsert_before_prepare_is_an_error(self, store: SQLiteOnlineStore) -> None:
        other = OnlineTable("other", ("id",), (("x", T.INT64),))
        with pytest.raises(RunError, match="prepare"):
            store.upsert(other, batch(other, [{"id": 1, EVENT_TS: NOW, "x": 1}]))


class TestTTL:
    def test_bound_is_inclusive(self, tmp_path: Path) -> None:
        table = OnlineTable("t", ("id",), (("x", T.INT64),), ttl_us=HOUR)
        s = SQLiteOnlineStore(tmp_path / "o.db")
        s.prepare(table)
        s.upsert(
            table,
            batch(
                table,
                [
                    {"id": 1, EVENT_TS: NOW - HOUR, "x": 1},
                    {"id": 2, EVENT_TS: NOW - HOUR - 1, "x": 2},
                ],
            ),
        )
        assert s.read(table, [(1,)], NOW) == [(1,)]
        assert s.read(table, [(2,)], NOW) == [None]
        assert s.read(table, [(1,), (2,), (3,)], NOW) == [(1,), None, None]
        # The same rows are fresh at an earlier "now".
        assert s.read(table, [(1,), (2,)], NOW - 1) == [(1,), (2,)]
        s.close()

    def test_no_ttl_always_returned(self, store: SQLiteOnlineStore) -> None:
        store.upsert(USERS, batch(USERS, [user(1, 0, None, 1.0)]))
        assert store.read(USERS, [(1,)], NOW * 10) == [(1.0, 0)]
        assert store.read(USERS, [(1,), (2,)], NOW * 10) == [(1.0, 0), None]


class TestKeys:
    def test_composite_keys(self, tmp_path: Path) -> None:
        table = OnlineTable("pairs", ("user_id", "item_id"), (("x", T.INT64),))
        s = SQLiteOnlineStore(tmp_path / "o.db")
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
        s.upsert(
            table,
            batch(
                table,
                [{"user_id": 3, "item_id": "i4", EVENT_TS: NOW - 1, "x": 0}],
                {"item_id": pa.string()},
            ),
        )
        assert s.read(table, [(3, "i4")], NOW) == [(34,)]
        s.close()

    def test_int_key_and_string_key_are_distinct(self, store: SQLiteOnlineStore) -> None:
        store.upsert(USERS, batch(USERS, [user(1, NOW, 0, 1.0)]))
        assert score(store, "1") is None
        store.upsert(USERS, batch(USERS, [user("1", NOW, 0, 2.0)], {"user_id": pa.string()}))
        assert score(store, 1) == 1.0
        assert score(store, "1") == 2.0
        assert store.read(USERS, [("1",), (1,), ("2",)], NOW) == [(2.0, 0), (1.0, 0), None]

    def test_batched_read_preserves_order(self, store: SQLiteOnlineStore) -> None:
        store.upsert(USERS, batch(USERS, [user(i, NOW, 0, float(i), i) for i in range(0, 2000, 2)]))
        rng = random.Random(4)
        keys = [(rng.randrange(2000),) for _ in range(1000)]
        keys[10] = keys[500]  # a duplicate
        got = store.read(USERS, keys, NOW)
        assert len(got) == 1000
        assert got == [(float(k), k) if k % 2 == 0 else None for (k,) in keys]
        assert any(g is None for g in got) and any(g is not None for g in got)
        assert store.read(USERS, [], NOW) == []

    def test_case_differing_views_do_not_share_a_table(self, tmp_path: Path) -> None:
        assert table_name("users", "00ff") != table_name("Users", "00ff")
        lower = OnlineTable("users", ("id",), (("x", T.INT64),))
        upper = OnlineTable("Users", ("id",), (("x", T.INT64),))
        s = SQLiteOnlineStore(tmp_path / "o.db")
        s.prepare(lower)
        s.prepare(upper)
        s.upsert(lower, batch(lower, [{"id": 1, EVENT_TS: NOW, "x": 1}]))
        s.upsert(upper, batch(upper, [{"id": 1, EVENT_TS: NOW, "x": 2}]))
        assert s.read(lower, [(1,)], NOW) == [(1,)]
        assert s.read(upper, [(1,)], NOW) == [(2,)]
        s.close()


ALL_TYPES = OnlineTable("typed", ("id",), tuple((t.value, t) for t in T))


class TestTypes:
    def test_every_feature_type_round_trips(self, tmp_path: Path) -> None:
        s = SQLiteOnlineStore(tmp_path / "o.db")
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
        s.close()

    def test_false_and_zero_are_not_null(self, tmp_path: Path) -> None:
        s = SQLiteOnlineStore(tmp_path / "o.db")
        s.prepare(ALL_TYPES)
        row = {"id": 1, EVENT_TS: NOW, "bool": False, "int64": 0, "string": "", "bytes": b""}
        s.upsert(ALL_TYPES, batch(ALL_TYPES, [row]))
        (got,) = s.read(ALL_TYPES, [(1,)], NOW)
        assert got is not None
        as_dict = dict(zip([t.value for t in T], got, strict=True))
        assert as_dict["bool"] is False
        assert (as_dict["int64"], as_dict["string"], as_dict["bytes"]) == (0, "", b"")
        s.close()

    def test_timestamp_features_in_other_units_and_zones(self, tmp_path: Path) -> None:
        table = OnlineTable("ts", ("id",), (("at", T.TIMESTAMP), ("day", T.DATE)))
        s = SQLiteOnlineStore(tmp_path / "o.db")
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
        s.close()


class TestLifecycle:
    def test_layout_change_drops_values_and_state(self, tmp_path: Path) -> None:
        s = SQLiteOnlineStore(tmp_path / "o.db")
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
        s.prepare(changed)
        assert s.get_state("users") is None
        assert s.read(changed, [(1,), (2,)], NOW) == [None, None]
        s.upsert(changed, batch(changed, [{"user_id": 1, EVENT_TS: NOW, "score": "a"}]))
        assert s.read(changed, [(1,)], NOW) == [("a",)]
        s.close()

    def test_state_round_trip(self, store: SQLiteOnlineStore) -> None:
        assert store.get_state("users") is None
        wm = datetime(2024, 3, 1, 0, 0, 0, 1, tzinfo=UTC)
        state = ViewState("users", wm, wm + timedelta(hours=1), "abc123")
        store.set_state(state)
        assert store.get_state("users") == state
        # State is merged, never moved back: each time is the later of stored and new;
        # the definition stays (only a rebuild's commit replaces it).
        naive = ViewState("users", datetime(2024, 3, 2), None, "def")
        store.set_state(naive)
        got = store.get_state("users")
        later = datetime(2024, 3, 2, tzinfo=UTC)
        assert got == ViewState("users", later, wm + timedelta(hours=1), "abc123")
        store.set_state(ViewState("users", wm, None, "abc123"))
        assert store.get_state("users") == got
        assert got is not None and got.watermark is not None
        assert got.watermark.tzinfo is not None
        assert store.get_state("other") is None

    def test_teardown(self, store: SQLiteOnlineStore) -> None:
        store.upsert(USERS, batch(USERS, [user(1, NOW, 0, 1.0)]))
        store.set_state(ViewState("users", None, None, "h"))
        store.teardown(USERS)
        assert store.get_state("users") is None
        assert store.read(USERS, [(1,)], NOW) == [None]
        tables = {r[0] for r in store._conn.execute("SELECT name FROM sqlite_master")}
        assert not [t for t in tables if t.startswith("fsql_view__users__")]
        store.prepare(USERS)
        assert store.read(USERS, [(1,)], NOW) == [None]

    def test_persists_across_reopen(self, tmp_path: Path) -> None:
        path = tmp_path / "o.db"
        s = SQLiteOnlineStore(path)
        s.prepare(USERS)
        s.upsert(USERS, batch(USERS, [user(1, NOW, 0, 1.5, 3)]))
        s.set_state(ViewState("users", datetime(2024, 1, 1, tzinfo=UTC), None, "h"))
        s.close()
        s = SQLiteOnlineStore(path)
        assert s.read(USERS, [(1,)], NOW) == [(1.5, 3)]
        assert s.get_state("users") == ViewState(
            "users", datetime(2024, 1, 1, tzinfo=UTC), None, "h"
        )
        s.prepare(USERS)
        assert s.read(USERS, [(1,)], NOW) == [(1.5, 3)]
        assert s._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        s.close()

    def test_in_memory(self) -> None:
        s = SQLiteOnlineStore(":memory:")
        s.prepare(USERS)
        s.upsert(USERS, batch(USERS, [user(1, NOW, 0, 1.0)]))
        assert score(s, 1) == 1.0
        s.close()
        with pytest.raises(sqlite3.ProgrammingError):
            s.read(USERS, [(1,)], NOW)


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

    def _check(self, store: SQLiteOnlineStore) -> None:
        newest = float(self.VERSIONS - 1)
        want = [(newest, self.VERSIONS - 1)] * self.KEYS
        assert store.read(USERS, [(k,) for k in range(self.KEYS)], NOW) == want

    def test_threads_sharing_one_store(self, store: SQLiteOnlineStore) -> None:
        errors: list[BaseException] = []

        def work(seed: int) -> None:
            try:
                for chunk in self._rows(seed):
                    store.upsert(USERS, batch(USERS, chunk))
                    store.read(USERS, [(1,), (2,)], NOW)
            except BaseException as e:  # surfaced in the main thread below
                errors.append(e)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        self._check(store)

    def test_two_connections_on_one_file(self, tmp_path: Path) -> None:
        path = tmp_path / "o.db"
        stores = [SQLiteOnlineStore(path) for _ in range(3)]
        stores[0].prepare(USERS)
        errors: list[BaseException] = []

        def work(s: SQLiteOnlineStore, seed: int) -> None:
            try:
                for chunk in self._rows(seed):
                    s.upsert(USERS, batch(USERS, chunk))
            except BaseException as e:
                errors.append(e)

        threads = [threading.Thread(target=work, args=(s, i)) for i, s in enumerate(stores)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        for s in stores:
            self._check(s)
            s.close()
