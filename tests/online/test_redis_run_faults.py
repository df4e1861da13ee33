"""A Redis server dying in the middle of a materialization: the run fails cleanly (exit
code 1, a clear message, no watermark moved) and a re-run after a restart leaves the
store equal to the point-in-time answer. Uses a redis-server this test starts itself on
a free loopback port, never the shared one."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from fsql import FeatureStore
from fsql.errors import RunError
from tests.support.project_factory import ViewSpec, make_project

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason="no redis-server")
NOW = datetime.now(UTC).replace(microsecond=0)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Server:
    def __init__(self, port: int) -> None:
        self.port = port
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None


@pytest.fixture
def server() -> Iterator[_Server]:
    srv = _Server(_free_port())
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


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


def test_server_killed_mid_run_then_rerun_is_exact(tmp_path: Path, server: _Server) -> None:
    root = _project(tmp_path / "p", server.port)
    store = FeatureStore(project_dir=root)

    def kill_before_second(message: str) -> None:
        if message == "materializing second":
            server.stop()

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


def test_read_against_a_dead_server_fails_fast(tmp_path: Path, server: _Server) -> None:
    root = _project(tmp_path / "p", server.port)
    with FeatureStore(project_dir=root) as store:
        store.materialize(None, NOW)
        server.stop()
        started = time.monotonic()
        with pytest.raises(RunError):
            store.get_online_features(["first:score"], [{"user_id": 1}])
        assert time.monotonic() - started < 5
