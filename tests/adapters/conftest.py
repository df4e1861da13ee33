"""fakesnow served over HTTP, so the real snowflake-connector-python talks to it as to Snowflake.

The server keeps one in-memory database for every session in the process, so each test
gets a schema of its own instead of a server of its own (starting one takes about 0.3 s).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(scope="module")
def fakesnow_server() -> Iterator[dict[str, Any]]:
    """Host and port of a fakesnow server for this test module (skips if fakesnow is absent)."""
    fakesnow = pytest.importorskip("fakesnow")
    pytest.importorskip("uvicorn", reason="fakesnow's server needs fakesnow[server]")
    pytest.importorskip("snowflake.connector")
    with fakesnow.server() as kwargs:
        yield {"host": kwargs["host"], "port": kwargs["port"]}


@pytest.fixture
def snowflake_profile(fakesnow_server: dict[str, Any]) -> dict[str, Any]:
    """An `offline:` profile block for the fakesnow server, with a schema of its own."""
    return {
        "type": "snowflake",
        "account": "fsql_test",
        "user": "fsql",
        "password": "fakesnow-ignores-it",
        "database": "fsql_db",
        "schema": f"s_{uuid.uuid4().hex[:12]}",
        "warehouse": "fsql_wh",
        "role": "fsql_role",
        "query_tag": "fsql-tests",
        "host": fakesnow_server["host"],
        "port": fakesnow_server["port"],
        "protocol": "http",
        "login_timeout": 5,
        "query_timeout": 30,
    }


@pytest.fixture
def snowflake_adapter(snowflake_profile: dict[str, Any], tmp_path: Path) -> Iterator[Any]:
    """A SnowflakeAdapter connected through the real connector to the fakesnow server."""
    from fsql.adapters.snowflake import SnowflakeAdapter

    adapter = SnowflakeAdapter.from_config(snowflake_profile, tmp_path)
    yield adapter
    adapter.close()
