"""The Snowflake adapter against fakesnow (tests/conftest.py starts one server per session),
through the real snowflake-connector-python; each test in a schema of its own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.fakesnow_server import profile_block


@pytest.fixture
def snowflake_profile(fakesnow_server: dict[str, Any]) -> dict[str, Any]:
    """An `offline:` profile block for the fakesnow server, with a schema of its own."""
    return profile_block(fakesnow_server, query_tag="fsql-tests", query_timeout=30)


@pytest.fixture
def snowflake_adapter(snowflake_profile: dict[str, Any], tmp_path: Path) -> Iterator[Any]:
    """A SnowflakeAdapter connected through the real connector to the fakesnow server."""
    from fsql.adapters.snowflake import SnowflakeAdapter

    adapter = SnowflakeAdapter.from_config(snowflake_profile, tmp_path)
    yield adapter
    adapter.close()
