"""Join keys too long for the Redis online store (over 32 KiB once encoded).

Such a key can never be stored (KEY_LAYOUT: index entries give a key's length in 15
bits). One of them must not fail a whole materialization: its row is skipped, every other
key written, and the run reports them in one line per view (the watermark moves: such a
key can never be stored); a push is refused before anything is written; a read of such a
key gets NULL features.

Uses database 13 of 127.0.0.1:6379 and a key prefix unique to each test; a test deletes
only the keys under its own prefix.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgpack
import pyarrow as pa
import pytest

redis = pytest.importorskip("redis")

from fsql import FeatureStore  # noqa: E402
from fsql.definitions.types import FeatureType as T  # noqa: E402
from fsql.errors import ProjectError  # noqa: E402
from fsql.online import redis_codec  # noqa: E402
from fsql.online.base import CREATED_TS, EVENT_TS, OnlineTable  # noqa: E402
from fsql.online.redis_store import RedisOnlineStore  # noqa: E402
from tests.support.project_factory import ViewSpec, make_project  # noqa: E402

URL = "redis://127.0.0.1:6379/13"


def _redis_answers() -> bool:
    try:
        return bool(redis.Redis.from_url(URL, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


pytestmark = pytest.mark.skipif(not _redis_answers(), reason="no Redis on 127.0.0.1:6379")

BIG = "x" * 40_000  # K: 40,003 bytes (msgpack str 16 header + the characters)
LONGEST = "m" * 32_764  # K: 32,767 bytes, the longest that can be stored
SHORTEST_TOO_LONG = "n" * 32_765  # K: 32,768 bytes
T0 = datetime(2026, 1, 1, tzinfo=UTC)
END1 = datetime(2026, 1, 2, tzinfo=UTC)
T2 = datetime(2026, 1, 3, tzinfo=UTC)
END2 = datetime(2026, 1, 4, tzinfo=UTC)
NOW_US = 1_800_000_000_000_000


@pytest.fixture
def raw() -> Iterator[Any]:
    client = redis.Redis.from_url(URL)
    yield client
    client.close()


@pytest.fixture
def prefix(raw: Any) -> Iterator[str]:
    """A key prefix owned by this test; every key under it is deleted afterwards."""
    p = f"fsqltest-{uuid.uuid4().hex[:12]}:"
    yield p
    keys = list(raw.scan_iter(match=f"{p}*", count=1000))
    for lo in range(0, len(keys), 1000):
        raw.unlink(*keys[lo : lo + 1000])


def _row(key: str, at: datetime, spend: float) -> dict[str, Any]:
    return {"user_id": key, "event_timestamp": at, "spend": spend}


def _feature_store(tmp_path: Path, prefix: str, rows: list[dict[str, Any]]) -> FeatureStore:
    """A project with one online view `spend` keyed by a string user_id, on Redis."""
    spec = ViewSpec("spend", ["user"], [("spend", "float64")], rows, online=True)
    online = {"type": "redis", "url": URL, "key_prefix": prefix, "socket_timeout": 5}
    root = make_project(tmp_path / "p", [spec], {"user": ["user_id"]}, online_store=online)
    return FeatureStore(project_dir=root, progress=lambda _: None)


def _spend(store: FeatureStore, *keys: str) -> list[Any]:
    rows = [{"user_id": k} for k in keys]
    return store.get_online_features(["spend:spend"], rows).to_dict()["spend"]


def _reported(lines: list[str]) -> str:
    """The one progress line about keys not stored."""
    [line] = [m for m in lines if "not stored" in m]
    return line


def _assert_reports_big_key(line: str, count: int = 1) -> None:
    assert "\n" not in line and len(line) < 400
    assert line.startswith(f"online view 'spend': {count} key")
    assert "user_id='" + "x" * 40 + "\u2026 (40,003 bytes)" in line  # cut at 40 characters
    assert "x" * 41 not in line and "32 KiB" in line and "hash it in the model" in line


def test_full_materialization_skips_only_the_oversized_key(tmp_path: Path, prefix: str) -> None:
    rows = [_row("a", T0, 1.0), _row("b", T0, 2.0), _row(BIG, T0, 9.0), _row("c", T0, 3.0)]
    lines: list[str] = []
    with _feature_store(tmp_path, prefix, rows) as store:
        [result] = store.materialize(None, END1, progress=lines.append)
        assert result.reason.startswith("full") and (result.rows, result.rejected) == (3, 1)
        assert _spend(store, "a", "b", "c", BIG) == [1.0, 2.0, 3.0, None]
        _assert_reports_big_key(_reported(lines))
        state = store.online.get_state("spend")
        assert state is not None and state.watermark == END1  # the run did complete


def test_incremental_materialization_skips_only_the_oversized_key(
    tmp_path: Path, prefix: str
) -> None:
    rows = [_row("a", T0, 1.0), _row("b", T0, 2.0), _row("c", T0, 3.0)]
    rows += [_row(BIG, T2, 9.0), _row("b", T2, 20.0)]  # only the second run sees these
    lines: list[str] = []
    with _feature_store(tmp_path, prefix, rows) as store:
        [first] = store.materialize_incremental(END1, progress=lines.append)
        assert first.rejected == 0 and not [m for m in lines if "not stored" in m]
        [result] = store.materialize_incremental(END2, progress=lines.append)
        assert result.reason.startswith("incremental")  # upserts into the live values
        assert (result.rows, result.rejected) == (1, 1)
        assert _spend(store, "a", "b", "c", BIG) == [1.0, 20.0, 3.0, None]
        _assert_reports_big_key(_reported(lines))
        state = store.online.get_state("spend")
        assert state is not None and state.watermark == END2


def test_the_longest_key_is_stored_and_read_back_exactly(tmp_path: Path, prefix: str) -> None:
    rows = [_row(LONGEST, T0, 1.5), _row(SHORTEST_TOO_LONG, T0, 2.5), _row("a", T0, 3.5)]
    lines: list[str] = []
    with _feature_store(tmp_path, prefix, rows) as store:
        [result] = store.materialize(None, END1, progress=lines.append)
        assert result.rejected == 1
        assert _spend(store, LONGEST, SHORTEST_TOO_LONG, "a") == [1.5, None, 3.5]
        assert _spend(store, LONGEST[:-1], LONGEST + "m") == [None, None]
        assert "'" + "n" * 40 + "\u2026 (32,768 bytes)" in _reported(lines)


def test_a_read_of_an_oversized_key_is_null_without_asking_redis(
    tmp_path: Path, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with _feature_store(tmp_path, prefix, [_row("a", T0, 1.0)]) as store:
        store.materialize(None, END1)
        online = store.online
        assert isinstance(online, RedisOnlineStore)
        sent: list[tuple[Any, ...]] = []
        send = online._link.send
        monkeypatch.setattr(online._link, "send", lambda c: sent.extend(c) or send(c))
        assert _spend(store, BIG, "a", BIG + "y") == [None, 1.0, None]
        assert [len(c) for c in sent] == [2]  # MGET and the one key that can exist


def test_the_run_reports_rejected_keys_once_per_view(tmp_path: Path, prefix: str) -> None:
    rows = [_row("a", T0, 1.0), _row(BIG, T0, 8.0), _row(BIG + "z", T0, 9.0)]
    lines: list[str] = []
    with _feature_store(tmp_path, prefix, rows) as store:
        [result] = store.materialize(None, END1, progress=lines.append)
        assert (result.rows, result.rejected) == (1, 2)
        assert store.online.take_rejected("spend") is None  # taken by the run
    assert _reported(lines).startswith("online view 'spend': 2 keys not stored")


def test_without_progress_rejected_keys_are_a_warning_of_the_fsql_logger(
    tmp_path: Path, prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    rows = [_row("a", T0, 1.0), _row(BIG, T2, 9.0)]
    with _feature_store(tmp_path, prefix, rows) as store:
        store.materialize_incremental(END1)
        assert not [r for r in caplog.records if "not stored" in r.getMessage()]
        [result] = store.materialize_incremental(END2)
        assert result.reason.startswith("incremental") and result.rejected == 1
    [record] = [r for r in caplog.records if "not stored" in r.getMessage()]
    assert record.name == "fsql" and record.levelname == "WARNING"
    assert "online view 'spend': 1 key not stored" in record.getMessage()


def test_a_push_with_an_oversized_key_is_refused_before_anything_is_written(
    tmp_path: Path, prefix: str
) -> None:
    with _feature_store(tmp_path, prefix, [_row("a", T0, 1.0)]) as store:
        store.materialize(None, END1)
        rows = pa.table({"user_id": ["a", BIG], "event_timestamp": [T2, T2], "spend": [5.0, 6.0]})
        with pytest.raises(ProjectError) as caught:
            store.push("spend", rows)
        err = caught.value
        assert err.exit_code == 2
        assert err.message.startswith("1 row of view 'spend' has a join key too long")
        assert "'" + "x" * 40 + "\u2026 (40,003 bytes)" in err.message
        assert err.hint and "32 KiB" in err.hint
        assert _spend(store, "a") == [1.0]  # not even the push's other row
        assert store.offline.table_schema("spend__push") is None  # nor the offline log
        longest = pa.table({"user_id": [LONGEST], "event_timestamp": [T2], "spend": [7.0]})
        assert store.push("spend", longest) == 1
        assert _spend(store, LONGEST) == [7.0]


# --- the store itself ----------------------------------------------------------------------

PAIRS = OnlineTable("pairs", ("left", "right"), (("n", T.INT64),))


def _pairs(rows: list[tuple[str, str, int]]) -> pa.Table:
    return pa.table(
        {
            "left": pa.array([r[0] for r in rows], pa.string()),
            "right": pa.array([r[1] for r in rows], pa.string()),
            EVENT_TS: pa.array([NOW_US] * len(rows), pa.int64()),
            CREATED_TS: pa.array([None] * len(rows), pa.int64()),
            "n": pa.array([r[2] for r in rows], pa.int64()),
        }
    )


@pytest.fixture
def make(prefix: str) -> Iterator[Callable[[], RedisOnlineStore]]:
    made: list[RedisOnlineStore] = []

    def factory() -> RedisOnlineStore:
        made.append(RedisOnlineStore(URL, "shop", key_prefix=prefix))
        return made[-1]

    yield factory
    for s in made:
        s.close()


def test_composite_key_limit_counts_every_column_once_per_write(
    make: Callable[[], RedisOnlineStore],
) -> None:
    writer, other = make(), make()
    writer.prepare(PAIRS)
    other.teardown(PAIRS)
    other.prepare(PAIRS)  # the writer's namespace is stale: its write is repeated
    half = "h" * 20_000  # each part fits, the key does not (40,006 bytes)
    rows = [("a", "1", 1), (half, half, 2), ("b", half, 3), (half, "c", 4)]
    assert writer.upsert(PAIRS, _pairs(rows)) == 4
    keys = [(a, b) for a, b, _ in rows]
    assert other.read(PAIRS, keys, NOW_US) == [(1,), None, (3,), (4,)]
    report = writer.take_rejected("pairs")
    assert report is not None and report.count == 1  # not once per attempt
    assert "left='hhh" in report.first and "right='hhh" in report.first
    assert "40,006 bytes" in report.first and "md5(key)" in report.message()
    writer.upsert(PAIRS, _pairs([(half, half, 5)]))
    writer.upsert(PAIRS, _pairs([(half, half + "z", 6), (half + "y", half, 7)]))
    report = writer.take_rejected("pairs")
    assert report is not None and report.count == 3
    assert "3 keys not stored" in report.message()


def test_rejected_keys_are_reported_to_the_thread_that_wrote_them(
    make: Callable[[], RedisOnlineStore],
) -> None:
    store = make()
    store.prepare(PAIRS)
    done = threading.Event()

    def write() -> None:
        store.upsert(PAIRS, _pairs([(BIG, "1", 1)]))
        done.set()

    thread = threading.Thread(target=write)
    thread.start()
    thread.join()
    assert done.is_set() and store.take_rejected("pairs") is None  # another run's
    store.upsert(PAIRS, _pairs([(BIG, "2", 2)]))
    report = store.take_rejected("pairs")
    assert report is not None and report.count == 1


def test_the_longest_key_is_indexed_and_collected(
    make: Callable[[], RedisOnlineStore], raw: Any, prefix: str
) -> None:
    store = make()
    table = OnlineTable("users", ("user_id",), (("n", T.INT64),))
    store.prepare(table)
    data = {"user_id": [LONGEST], EVENT_TS: [NOW_US], CREATED_TS: pa.nulls(1, pa.int64()), "n": [1]}
    store.upsert(table, pa.table(data))
    assert store.read(table, [(LONGEST,)], NOW_US) == [(1,)]
    tag = raw.hget(store._meta_key, "users").decode().split(":")[1]
    key = msgpack.packb(LONGEST)
    assert len(key) == redis_codec.MAX_KEY_BYTES
    (entry,) = raw.lrange(store._idx_prefix + tag.encode() + b":p", 0, -1)
    assert entry == b"\xff\xff" + key  # 2 bytes 0x8000 | n, then K (KEY_LAYOUT)
    store.teardown(table)  # the collector reads the entry back and deletes the key
    assert not list(raw.scan_iter(match=f"{prefix}{tag}:*"))


def test_check_keys_refuses_a_push_naming_the_view_and_key(
    make: Callable[[], RedisOnlineStore],
) -> None:
    store = make()
    with pytest.raises(ProjectError) as caught:
        store.check_keys(PAIRS, _pairs([("a", "1", 1), (BIG, "2", 2)]), "push.parquet")
    err = caught.value
    assert err.exit_code == 2 and err.location.file == "push.parquet"
    assert err.message.startswith("1 row of view 'pairs' has a join key too long")
    assert "left='" + "x" * 40 + "\u2026" in err.message and "x" * 41 not in err.message
    assert "nothing was written" in err.message and err.hint and "32 KiB" in err.hint
    store.check_keys(PAIRS, _pairs([("m" * 32_762, "1", 1)]))  # 32,765 + 2 bytes: fits
    assert store.namespace("pairs") is None  # a check writes nothing
