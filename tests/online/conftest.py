"""Run the online semantics tests against every store: SQLite, and the real Redis server.

Redis tests use database 13 and a unique key prefix per test, and delete only keys
under that prefix afterwards (tests/support/redis_servers.py). Fault tests get a
redis-server of their own (`server`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support import redis_servers
from tests.support.engines import unavailable


@pytest.fixture(params=["sqlite", "redis"])
def online_store_config(request: pytest.FixtureRequest) -> Iterator[dict[str, Any] | None]:
    """None for the factory's default SQLite store, or a Redis online block."""
    if request.param == "sqlite":
        yield None
        return
    client = redis_servers.shared_client()
    prefix = redis_servers.new_prefix()
    try:
        yield {
            "type": "redis",
            "url": redis_servers.SHARED_URL,
            "key_prefix": prefix,
            "socket_timeout": 5,
        }
    finally:
        redis_servers.delete_prefix(client, prefix)
        client.close()


@pytest.fixture
def server() -> Iterator[redis_servers.RedisServer]:
    """A redis-server of the test's own on a free port, stopped afterwards."""
    if redis_servers.executable() is None:
        unavailable("redis", "redis-server binary not found")
    srv = redis_servers.RedisServer()
    try:
        srv.start()
        yield srv
    finally:
        srv.kill()
