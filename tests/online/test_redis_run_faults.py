"""A Redis server dying or hanging in the middle of a materialization: the run fails
cleanly (exit code 1, a clear message within the timeouts, no watermark moved) and a
re-run after a restart leaves the store equal to the point-in-time answer. Uses a
redis-server each test starts itself on a free loopback port, never the shared one (the
`server` fixture, tests/online/conftest.py)."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from fsql import FeatureStore
from fsql.errors import RunError
from fsql.online.redis_store import RedisOnlineStore
from tests.support.project_factory import ViewSpec, make_project
from tests.support.redis_servers import RedisServer

NOW = datetime.now(UTC).replace(microsecond=0)


def _project(root: Path, port: int) -> Path:
    views = []
    for name, base in (("first", 0.0), ("second", 100.0)):
        rows = [
            {"user_id": u, "event_timestamp": NOW - timedelta(hours=h), "score": base + u + h}
            for u in range(50)
            for h in (1, 5)
        ]
        views.append(ViewSpec(name, ["user"], [("score", "float64")], rows, ttl="1d", online=True))
    online = {
        "type": "redis",
        "url": f"redis://127.0.0.1:{port}/0",
        "socket_timeout": 1,
        "connect_timeout": 1,
    }
    return make_project(root, views, {"user": ["user_id"]}, online_store=online)


def _expected(base: float) -> list[float]:
    return [base + u + 1 for u in range(50)]  # the newest row, one hour old


def test_server_killed_mid_run_then_rerun_is_exact(tmp_path: Path, server: RedisServer) -> None:
    root = _project(tmp_path / "p", server.port)
    store = FeatureStore(project_dir=root)

    def kill_before_second(message: str) -> None:
        if message == "materializing second":
            server.kill()

    started = time.monotonic()
    with pytest.raises(RunError) as caught:
        store.materialize(None, NOW, progress=kill_before_second)
    assert time.monotonic() - started < 10
    assert caught.value.exit_code == 1
    message = caught.value.render()
    assert f"127.0.0.1:{server.port}" in message and "\n" not in message

    server.start()  # an empty server: Redis here keeps nothing on disk
    assert store.online.get_state("second") is None  # no watermark was moved
    store.materialize(None, NOW)
    rows = [{"user_id": u} for u in range(50)]
    got = store.get_online_features(["first:score"], rows).to_dict()["score"]
    assert got == _expected(0.0)
    got = store.get_online_features(["second:score"], rows).to_dict()["score"]
    assert got == _expected(100.0)
    assert store.online.get_state("second").watermark == NOW
    store.close()


def test_read_against_a_dead_server_fails_fast(tmp_path: Path, server: RedisServer) -> None:
    root = _project(tmp_path / "p", server.port)
    with FeatureStore(project_dir=root) as store:
        store.materialize(None, NOW)
        server.kill()
        started = time.monotonic()
        with pytest.raises(RunError):
            store.get_online_features(["first:score"], [{"user_id": 1}])
        assert time.monotonic() - started < 5


def _spend_project(root: Any, port: int) -> Any:
    """A one-view project whose online store is the test's own redis-server."""
    now = NOW
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
        self, server: RedisServer, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        root = _spend_project(tmp_path / "p", server.port)
        with FeatureStore(project_dir=root) as fs:
            early = NOW - timedelta(minutes=150)
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
                    fs.materialize_incremental(NOW)
                assert time.monotonic() - start < 3
            finally:
                os.kill(pid, signal.SIGCONT)
            assert fs.online.get_state("spend") == before  # the watermark did not move
            [result] = fs.materialize_incremental(NOW)
            assert "incremental" in result.reason
            assert self._read(fs) == [2.0, 5.0]
            state = fs.online.get_state("spend")
            assert state is not None and state.watermark == NOW

    def test_kill_mid_run_then_restart_and_rerun(
        self, server: RedisServer, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        root = _spend_project(tmp_path / "p", server.port)
        with FeatureStore(project_dir=root) as fs:
            self._fail_on_first_write(monkeypatch, server.kill)
            start = time.monotonic()
            with pytest.raises(RunError, match=f"127.0.0.1:{server.port}"):
                fs.materialize_incremental(NOW)
            assert time.monotonic() - start < 3
            server.start()  # empty: no persistence, so the re-run is a full one
            fs.materialize_incremental(NOW)
            assert self._read(fs) == [2.0, 5.0]
