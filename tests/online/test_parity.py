"""`fsql parity`: online values against the offline point-in-time answer, on SQLite and
Redis. The example project agrees with itself after `fsql run`; a value written into the
online store around fsql is found, and only that value."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

from fsql.cli.main import cli
from fsql.online.base import CREATED_TS, EVENT_TS, VERSION, Fence
from fsql.online.parity import compare_view, same
from fsql.online.times import datetime_to_us
from fsql.store import FeatureStore
from tests.conftest import copy_example
from tests.support import redis_servers
from tests.support.online_stores import batch


@pytest.mark.parametrize(
    ("online", "offline", "equal"),
    [
        (None, None, True),
        (None, 0, False),
        (0.0, None, False),
        (math.nan, math.nan, True),
        (1.0, 1.0 + 1e-15, False),  # exact: the stores keep every bit
        (3, 3.0, True),
        ("a", "a", True),
        (datetime(2026, 1, 1), datetime(2026, 1, 1, tzinfo=UTC), True),
        (datetime(2026, 1, 1, 1, tzinfo=timezone(timedelta(hours=1))), datetime(2026, 1, 1), True),
        (datetime(2026, 1, 1), datetime(2026, 1, 1, 0, 0, 1), False),
    ],
)
def test_same_is_value_equality(online: object, offline: object, equal: bool) -> None:
    assert same(online, offline) is equal


def test_compare_view_names_each_differing_value() -> None:
    keys = [{"id": 1}, {"id": 2}]
    got = compare_view(
        "v", keys, ["a", "b"], {"a": [1, 2], "b": [None, "x"]}, {"a": [1, 3], "b": [None, "x"]}
    )
    assert got.keys == 2
    assert [(d.feature, d.key, d.online, d.offline) for d in got.differences] == [
        ("a", {"id": 2}, 2, 3)
    ]


@pytest.fixture(params=["sqlite", "redis"])
def ran(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Path]:
    project = copy_example(tmp_path / "shop")
    with redis_servers.online_of(request.param, project):
        with FeatureStore(project) as store:
            store.run()
        yield project


def _parity(project: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["parity", "--project-dir", str(project), *args])
    return result.exit_code, result.stdout, result.stderr


def test_a_value_written_around_fsql_is_found_and_nothing_else(ran: Path) -> None:
    code, out, err = _parity(ran)
    assert code == 0, err
    assert "item_features: 40 keys, equal" in out and "user_orders: 50 keys, equal" in out

    # A newer row for item 1003 written straight into the online store (no push log, no
    # source row): what a stray writer or a corrupted store looks like to parity.
    with FeatureStore(ran) as store:
        view = store.project.views["item_features"]
        table = store._tables["item_features"]
        now_us = datetime_to_us(datetime.now(UTC)) or 0
        fence = Fence(view.content_hash, now_us)
        store.online.prepare(table, fence)
        stray = {
            "item_id": 1003,
            EVENT_TS: now_us - 60_000_000,
            CREATED_TS: None,
            VERSION: 1,
            "item_avg_rating": 2.375,
            "item_review_count": 8,
            "item_category": "garden",  # the catalogue says books
        }
        store.online.upsert(table, batch(table, [stray], version=True), fence)
        report = store.parity(sample=1000)
    found = [(d.view, d.feature, d.key, d.online, d.offline) for d in report.differences]
    assert found == [("item_features", "item_category", {"item_id": 1003}, "garden", "books")]
    assert {v.view: v.keys for v in report.views}["item_features"] == 40

    code, out, err = _parity(ran, "--format", "json", "--select", "item_features")
    assert code == 1
    doc = json.loads(out)
    assert doc["views"][0]["differences"] == [
        {
            "feature": "item_category",
            "key": {"item_id": 1003},
            "online": "garden",
            "offline": "books",
        }
    ]
    assert "1 values differ in item_features" in err
