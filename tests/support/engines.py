"""Which engine and store each test needs, and what happens when one is missing.

Tests of an engine (the fakesnow Snowflake, the crucible BigQuery emulator, the real
Redis) skip on a laptop without it. In CI they must not: `.ci/run` sets
`FSQL_REQUIRE_ENGINES=snowflake,bigquery,redis`, and then a missing engine fails the
test that needed it, so a suite cannot go green by skipping its engine. Every test is
also marked with the engines it touches (`pytest -m redis`, `-m "not bigquery"`).
"""

from __future__ import annotations

import os
from types import ModuleType
from typing import NoReturn

import pytest

ENGINES = ("duckdb", "snowflake", "bigquery", "sqlite", "redis", "feast", "chromium")
REQUIRE_ENV = "FSQL_REQUIRE_ENGINES"

# Fixtures that bring an engine in, by engine.
FIXTURES = {
    "snowflake": {"fakesnow_server", "snowflake_profile", "snowflake_adapter"},
    "bigquery": {"bigquery_emulator", "bigquery_profile", "bigquery_adapter"},
    "redis": {"redis_url", "redis_client", "server"},
}


def required() -> set[str]:
    return {e.strip() for e in os.environ.get(REQUIRE_ENV, "").split(",") if e.strip()}


def unavailable(engine: str, reason: str) -> NoReturn:
    """Skip the test for lack of `engine`, or fail it when the run requires the engine."""
    if engine in required():
        pytest.fail(f"{engine} is required ({REQUIRE_ENV}) but {reason}", pytrace=False)
    pytest.skip(reason)


def require_module(engine: str, name: str, reason: str | None = None) -> ModuleType:
    """`pytest.importorskip` that fails instead when `engine` is required."""
    try:
        return __import__(name, fromlist=["_"])
    except ImportError:
        unavailable(engine, reason or f"{name} is not installed")


def engines_of(nodeid: str, fixtures: list[str]) -> set[str]:
    """The engines a test touches: by its fixtures and the engine names in its id
    (module names such as test_snowflake.py, parameters such as [redis])."""
    lowered = nodeid.lower()
    found = {engine for engine in ENGINES if engine in lowered}
    for engine, names in FIXTURES.items():
        if names & set(fixtures):
            found.add(engine)
    return found or {"duckdb", "sqlite"}
