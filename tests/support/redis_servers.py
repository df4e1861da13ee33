"""Redis for the tests: the shared server, and redis-servers of a test's own.

The shared server is the one `.ci/run` starts on 127.0.0.1:6379. Tests use its database
13 and a key prefix unique to the test, and delete only the keys under that prefix
afterwards. Fault tests (a server killed, hung or restarted in the middle of a run) start
a redis-server of their own on a free loopback port, without persistence, and always
stop it. Either missing skips the test, or fails it where the run requires Redis
(tests/support/engines.py).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.support.engines import require_module, unavailable

SHARED_URL = "redis://127.0.0.1:6379/13"
START_SECONDS = 10


def shared_client() -> Any:
    """A client of the shared server's database 13 (skips or fails when it is not up)."""
    redis = require_module("redis", "redis")
    client = redis.Redis.from_url(SHARED_URL, socket_timeout=2, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError:
        client.close()
        unavailable("redis", "Redis is not answering on 127.0.0.1:6379")
    return client


def new_prefix() -> str:
    """A key prefix for one test's keys on the shared server."""
    return f"fsqltest-{uuid.uuid4().hex[:12]}:"


def delete_prefix(client: Any, prefix: str) -> None:
    """Delete every key under `prefix`. Tests may SCAN: only the store must never need to."""
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    for lo in range(0, len(keys), 1000):
        client.unlink(*keys[lo : lo + 1000])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def executable() -> str | None:
    """The redis-server program, or None when it is not installed."""
    found = shutil.which("redis-server")
    if found is None and os.path.exists("/usr/bin/redis-server"):
        found = "/usr/bin/redis-server"
    return found


NO_DISK = ["--save", "", "--appendonly", "no", "--daemonize", "no"]


class RedisServer:
    """A redis-server of the test's own on a free port, without persistence: a restart
    comes back empty."""

    def __init__(self) -> None:
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> None:
        """Start the server and wait until it answers PING."""
        redis = require_module("redis", "redis")
        program = executable() or "redis-server"
        self.proc = subprocess.Popen(
            [program, "--port", str(self.port), "--bind", "127.0.0.1", *NO_DISK],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            try:
                with redis.Redis("127.0.0.1", self.port, socket_connect_timeout=0.2) as probe:
                    if probe.ping():
                        return
            except redis.RedisError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def kill(self) -> None:
        """Kill the server (SIGKILL; resumed first, in case a test stopped it)."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGCONT)
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None


@contextmanager
def online_on_redis(project: Path, profile: str = "shop", target: str = "dev") -> Iterator[str]:
    """The project's target reads and writes its online store in the shared Redis, under a
    key prefix of its own (yielded), whose keys are deleted afterwards."""
    import yaml

    client = shared_client()
    prefix = new_prefix()
    path = project / "profiles.yml"
    profiles = yaml.safe_load(path.read_text())
    online = {"type": "redis", "url": SHARED_URL, "key_prefix": prefix}
    profiles[profile]["outputs"][target]["online"] = online
    path.write_text(yaml.safe_dump(profiles))
    try:
        yield prefix
    finally:
        delete_prefix(client, prefix)
        client.close()


@contextmanager
def online_of(kind: str, project: Path, profile: str = "shop") -> Iterator[None]:
    """The project's online store as a test parameter names it: `sqlite` (the project's
    own file, as copied) or `redis` (`online_on_redis`, in `profile`'s dev target)."""
    if kind == "redis":
        with online_on_redis(project, profile):
            yield
    else:
        yield
