"""Adapters on the engines' stand-ins (tests/conftest.py starts one server per session):
Snowflake on fakesnow through the real snowflake-connector-python, each test in a schema
of its own; BigQuery on crucible-emulator through the real google-cloud-bigquery client,
each test in a dataset of its own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.engines import require_module
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


@pytest.fixture
def bigquery_profile(bigquery_emulator: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """A profile block for the emulator whose dataset exists (the adapter never makes one)."""
    require_module("bigquery", "google.cloud.bigquery")
    from tests.support.bigquery_emulator import Datasets

    datasets = Datasets(bigquery_emulator)
    try:
        yield datasets.block()
    finally:
        datasets.close()


@pytest.fixture
def bigquery_adapter(bigquery_profile: dict[str, Any], tmp_path: Path) -> Iterator[Any]:
    """A BigQueryAdapter connected through the real client to the emulator."""
    from fsql.adapters.base import open_offline

    opened = open_offline(bigquery_profile, tmp_path, "conf/profiles.yml")
    yield opened
    opened.close()
