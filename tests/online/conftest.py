"""Run the online semantics tests against every store: SQLite, and the real Redis server.

Redis tests use database 13 and a unique key prefix per test, and delete only keys
under that prefix afterwards.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.engines import unavailable

REDIS_URL = "redis://127.0.0.1:6379/13"


def _redis_client() -> Any:
    try:
        import redis
    except ImportError:
        return None
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError:
        return None
    return client


@pytest.fixture(params=["sqlite", "redis"])
def online_store_config(request: pytest.FixtureRequest) -> Iterator[dict[str, Any] | None]:
    """None for the factory's default SQLite store, or a Redis online block."""
    if request.param == "sqlite":
        yield None
        return
    client = _redis_client()
    if client is None:
        unavailable("redis", "Redis is not answering on 127.0.0.1:6379")
    prefix = f"fsqltest-{uuid.uuid4().hex[:12]}:"
    try:
        yield {"type": "redis", "url": REDIS_URL, "key_prefix": prefix, "socket_timeout": 5}
    finally:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        for start in range(0, len(keys), 1000):
            client.delete(*keys[start : start + 1000])
        client.close()
