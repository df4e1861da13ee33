"""Freshness: status against each view's schedule, with a controllable clock, on every store.

The clock is the `now` argument (`--now` on the CLI); ages count from the
`materialized_at` that the run recorded, so every expectation is exact.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from fsql import FeatureStore
from fsql.cli.main import cli
from fsql.online.freshness import FreshnessRow
from tests.support.project_factory import ViewSpec, make_project

NOW = datetime.now(UTC).replace(microsecond=0)
HOUR = timedelta(hours=1)
ROWS = [
    {"user_id": 1, "event_timestamp": NOW - 3 * HOUR, "spend": 1.0},
    {"user_id": 1, "event_timestamp": NOW - HOUR, "spend": 2.0},
    {"user_id": 2, "event_timestamp": NOW - 2 * HOUR, "spend": 5.0},
]
SPEND = [("spend", "float64")]


def _project(root: Path, online_store_config: dict[str, Any] | None) -> Path:
    views = [
        ViewSpec("hourly", ["user"], SPEND, ROWS, online=True, extra_yaml={"schedule": "1h"}),
        ViewSpec("daily", ["user"], SPEND, ROWS, online=True, extra_yaml={"schedule": "1d"}),
        ViewSpec("adhoc", ["user"], SPEND, ROWS, online=True),  # no schedule
        ViewSpec("offline", ["user"], SPEND, ROWS, extra_yaml={"schedule": "1h"}),
    ]
    return make_project(root, views, {"user": ["user_id"]}, online_store=online_store_config)


@pytest.fixture
def project(tmp_path: Path, online_store_config: dict[str, Any] | None) -> Path:
    """hourly and adhoc materialized up to NOW; daily never materialized."""
    root = _project(tmp_path / "p", online_store_config)
    with FeatureStore(project_dir=root) as store:
        store.materialize(None, NOW, views=["hourly", "adhoc"])
    return root


def _done(store: FeatureStore, view: str = "hourly") -> datetime:
    state = store.online.get_state(view)
    assert state is not None and state.materialized_at is not None
    return state.materialized_at


def _by_view(rows: list[FreshnessRow]) -> dict[str, FreshnessRow]:
    return {r.view: r for r in rows}


def test_fresh_unscheduled_and_never(project: Path) -> None:
    with FeatureStore(project_dir=project) as store:
        done = _done(store)
        rows = _by_view(store.freshness(now=done + timedelta(minutes=30)))
    assert set(rows) == {"hourly", "daily", "adhoc"}  # offline views are not reported
    hourly = rows["hourly"]
    assert hourly.status == "fresh" and not hourly.failing
    assert hourly.schedule == HOUR
    assert hourly.materialized_at == done
    assert hourly.watermark == NOW
    assert hourly.newest_event == NOW - HOUR
    assert hourly.age == timedelta(minutes=30)
    assert hourly.event_lag == done + timedelta(minutes=30) - (NOW - HOUR)
    assert rows["adhoc"].status == "unscheduled" and not rows["adhoc"].failing
    never = rows["daily"]
    assert never.status == "never" and never.failing
    assert never.materialized_at is None and never.age is None and never.newest_event is None


def test_stale_only_when_more_than_twice_the_schedule(project: Path) -> None:
    with FeatureStore(project_dir=project) as store:

        def status(age: timedelta, view: str = "hourly") -> str:
            [row] = store.freshness(select=[view], now=_done(store, view) + age)
            assert row.age == age
            return row.status

        assert status(2 * HOUR) == "fresh"  # exactly 2x: "more than 2x" fails
        assert status(2 * HOUR + timedelta(microseconds=1)) == "stale"
        assert status(3 * HOUR) == "stale"
        assert status(timedelta(days=100), "adhoc") == "unscheduled"  # never fails
        # Select and exclude work as for `materialize`.
        rows = store.freshness(exclude=["daily", "adhoc"], now=NOW)
        assert [r.view for r in rows] == ["hourly"]


def test_newest_event_is_kept_across_runs_that_write_nothing_newer(
    tmp_path: Path, online_store_config: dict[str, Any] | None
) -> None:
    root = _project(tmp_path / "p", online_store_config)
    with FeatureStore(project_dir=root) as store:

        def newest() -> datetime | None:
            state = store.online.get_state("hourly")
            assert state is not None
            return state.newest_event

        store.materialize(None, NOW - timedelta(minutes=150), views=["hourly"])
        assert newest() == NOW - 3 * HOUR
        store.materialize(None, NOW, views=["hourly"])
        assert newest() == NOW - HOUR
        first = _done(store)
        # An older range writes rows, none newer; a recent empty range writes nothing.
        [older] = store.materialize(
            NOW - timedelta(days=1), NOW - timedelta(minutes=150), views=["hourly"]
        )
        assert older.rows == 1 and newest() == NOW - HOUR
        [empty] = store.materialize(NOW - timedelta(minutes=10), NOW, views=["hourly"])
        assert empty.rows == 0 and newest() == NOW - HOUR
        assert _done(store) > first  # yet each successful run counts as a materialization


def _fsql(project: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["freshness", *args, "--project-dir", str(project)])
    return result.exit_code, result.stdout, result.stderr


def test_cli_exit_codes_and_json(project: Path) -> None:
    with FeatureStore(project_dir=project) as store:
        done = _done(store)
    at = (done + timedelta(minutes=30)).isoformat()

    code, out, err = _fsql(project, "--now", at)
    assert code == 1
    assert err.strip() == "never materialized: daily"
    lines = out.splitlines()
    assert lines[0].split()[:4] == ["VIEW", "STATUS", "SCHEDULE", "AGE"]
    # (adhoc was materialized a moment after hourly: its age is a hair under 30m)
    assert {line.split()[0]: line.split()[1:3] for line in lines[1:]} == {
        "hourly": ["fresh", "1h"],
        "daily": ["never", "1d"],
        "adhoc": ["unscheduled", "-"],
    }
    assert ["hourly", "fresh", "1h", "30m"] in [line.split()[:4] for line in lines]
    assert len({line.index(line.split()[1]) for line in lines}) == 1  # aligned columns

    code, out, err = _fsql(project, "--now", at, "--exclude", "daily")
    assert (code, err) == (0, "")

    code, out, err = _fsql(project, "--now", (done + 3 * HOUR).isoformat(), "--format", "json")
    assert code == 1
    assert err.strip() == "stale: hourly (3h behind, schedule 1h); never materialized: daily"
    rows = {r["view"]: r for r in json.loads(out)}  # the output is printed either way
    assert rows["hourly"] == {
        "view": "hourly",
        "status": "stale",
        "schedule_seconds": 3600.0,
        "materialized_at": done.isoformat().replace("+00:00", "Z"),
        "watermark": NOW.isoformat().replace("+00:00", "Z"),
        "newest_event": (NOW - HOUR).isoformat().replace("+00:00", "Z"),
        "age_seconds": 3 * 3600.0,
        "event_lag_seconds": (done + 3 * HOUR - (NOW - HOUR)).total_seconds(),
        "note": None,
    }
    assert rows["daily"]["status"] == "never" and rows["daily"]["age_seconds"] is None
    assert rows["adhoc"]["schedule_seconds"] is None

    code, _, err = _fsql(project, "--now", "yesterday")
    assert code == 2 and "--now 'yesterday' is not a timestamp" in err


def test_redefined_until_materialized_with_the_new_definition(project: Path) -> None:
    with FeatureStore(project_dir=project) as store:
        assert _by_view(store.freshness())["hourly"].status == "fresh"
    sql = project / "models" / "hourly.sql"
    sql.write_text(sql.read_text().replace("select", "select /* v2 */", 1) + "\nwhere true\n")
    code, _, err = _fsql(project, "--select", "hourly")
    assert code == 1
    assert "redefined, not yet materialized with the current definition: hourly" in err
    with FeatureStore(project_dir=project) as store:
        assert _by_view(store.freshness())["hourly"].status == "redefined"
        store.materialize(NOW - HOUR, NOW, views=["hourly"])  # a range: in full anyway
        row = _by_view(store.freshness())["hourly"]
    assert row.status == "fresh"
    assert _fsql(project, "--select", "hourly")[0] == 0


def test_an_incremental_view_whose_inputs_changed_gets_a_note(tmp_path: Path) -> None:
    spec = ViewSpec(
        "spend", ["user"], SPEND, ROWS, online=True, extra_yaml={"materialized": "incremental"}
    )
    root = make_project(tmp_path / "p", [spec], {"user": ["user_id"]})
    with FeatureStore(project_dir=root) as store:
        store.run()
        assert store.freshness()[0].note is None
    more = ViewSpec(**{**spec.__dict__, "rows": [*ROWS, {**ROWS[0], "spend": 9.0}]})
    make_project(tmp_path / "p", [more], {"user": ["user_id"]})  # the source is rewritten
    code, out, err = _fsql(root, "--format", "json")
    [row] = json.loads(out)
    assert "input changed: source raw.spend_raw" in row["note"]
    assert "fsql run --full-refresh" in row["note"]
    assert "note: spend: input changed" in err and code == 0
    with FeatureStore(project_dir=root) as store:
        store.run()
        assert store.freshness()[0].note is None
