"""Shared fixtures: a private copy of the example project for each test that needs one."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.engines import ENGINES, engines_of, require_module, unavailable

REPO = Path(__file__).resolve().parent.parent
# The Snowflake connector probes cloud metadata endpoints (AWS, Azure, GCP) on every
# connect to describe its platform; against the local stand-in that is only a delay.
os.environ.setdefault("SNOWFLAKE_DISABLE_PLATFORM_DETECTION", "true")
EXAMPLE_PARTS = ["fsql_project.yml", "profiles.yml", "models", "macros", "data"]


def copy_example(dest: Path) -> Path:
    """Copy the repo's example project (without target/) into `dest`."""
    dest.mkdir(parents=True, exist_ok=True)
    for part in EXAMPLE_PARTS:
        src = REPO / part
        if src.is_dir():
            shutil.copytree(src, dest / part, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
        else:
            shutil.copy(src, dest / part)
    return dest


@pytest.fixture
def example_project(tmp_path: Path) -> Path:
    return copy_example(tmp_path / "shop")


@pytest.fixture(scope="session")
def fakesnow_server() -> Iterator[dict[str, Any]]:
    """Host and port of one fakesnow server for the session (skips without fakesnow)."""
    require_module("snowflake", "fakesnow")
    require_module("snowflake", "uvicorn", "fakesnow's server needs fakesnow[server]")
    require_module("snowflake", "snowflake.connector")
    from tests.support.fakesnow_server import serve

    with serve() as server:
        yield server


@pytest.fixture(scope="session")
def bigquery_emulator() -> Iterator[dict[str, Any]]:
    """Endpoint of one crucible BigQuery emulator for the session (skips without it)."""
    require_module("bigquery", "google.cloud.bigquery")
    from tests.support.bigquery_emulator import executable, serve

    program = executable()
    if program is None:
        unavailable("bigquery", "crucible-emulator is not installed: run scripts/emulators.sh")
    with serve(program) as server:
        yield server


def pytest_configure(config: pytest.Config) -> None:
    for engine in ENGINES:
        config.addinivalue_line("markers", f"{engine}: the test runs on {engine}")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test with the engines it touches (tests.support.engines)."""
    for item in items:
        for engine in engines_of(item.nodeid, list(getattr(item, "fixturenames", ()))):
            item.add_marker(getattr(pytest.mark, engine))
