"""The example project end to end on Snowflake (fakesnow, the real connector), by the CLI.

The shop's CSV sources are loaded into the target's schema and named by `identifier:`;
`fsql run` builds the views there and materializes them into SQLite or Redis;
`fsql build-training-set` and `fsql get-online` must then give exactly what the same
project gives on DuckDB. The profile's password comes from `env_var()` and is a sentinel
that must appear nowhere: not in target/, the outputs, the logs or any error.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
import yaml

from fsql.config.profiles import load_target
from tests.conftest import copy_example
from tests.support.cli_runs import ENTITY, fsql
from tests.support.cli_runs import same_value as _same
from tests.support.engines import require_module, unavailable
from tests.support.fakesnow_server import profile_block
from tests.support.project_factory import upload_raw

SENTINEL = "Sentinel-Pw-7f3a9c"
PASSWORD_VAR = "FSQL_TEST_SNOWFLAKE_PASSWORD"
REDIS_URL = "redis://127.0.0.1:6379/13"


def _snowflake_project(root: Path, server: dict[str, Any], online: dict[str, Any]) -> Path:
    project = copy_example(root)
    block = profile_block(server, pit_strategy="window")
    sources_file = project / "models" / "sources.yml"
    sources = yaml.safe_load(sources_file.read_text())
    for source in sources["sources"]:
        for table in source["tables"]:
            path = table.pop("path")
            data = pacsv.read_csv(project / path)
            table["identifier"] = upload_raw(block, table["name"], data)
    sources_file.write_text(yaml.safe_dump(sources, sort_keys=False))
    block["password"] = "{{ env_var('" + PASSWORD_VAR + "') }}"
    profiles = {"shop": {"target": "sf", "outputs": {"sf": {"offline": block, "online": online}}}}
    (project / "profiles.yml").write_text(yaml.safe_dump(profiles, sort_keys=False))
    return project


@pytest.fixture(params=["sqlite", "redis"])
def online(request: pytest.FixtureRequest) -> Iterator[dict[str, Any]]:
    if request.param == "sqlite":
        yield {"type": "sqlite", "path": "target/online.db"}
        return
    redis = require_module("redis", "redis")
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError:
        unavailable("redis", "Redis is not answering on 127.0.0.1:6379")
    prefix = f"fsqltest-{uuid.uuid4().hex[:12]}:"
    try:
        yield {"type": "redis", "url": REDIS_URL, "key_prefix": prefix}
    finally:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()


@pytest.fixture(scope="module")
def on_duckdb(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The reference: the same example project on its DuckDB + SQLite profile."""
    project = copy_example(tmp_path_factory.mktemp("duck") / "shop")
    out = project / "target" / "train.parquet"
    assert fsql(project, "run")[0] == 0
    code, text = fsql(
        project,
        "build-training-set",
        "--entities",
        "data/entities.csv",
        "--feature-service",
        "churn_model",
        "--output",
        str(out),
    )
    assert code == 0, text
    code, text = fsql(project, "get-online", "--feature-service", "churn_model", *ENTITY)
    assert code == 0, text
    return {"training": pq.read_table(out).to_pylist(), "online": json.loads(text)}


def _assert_no_sentinel(project: Path, *texts: str) -> None:
    for text in texts:
        assert SENTINEL not in text
    for path in project.rglob("*"):
        if path.is_file() and path.name != "profiles.yml":
            assert SENTINEL.encode() not in path.read_bytes(), path


def test_run_and_training_set_match_duckdb(
    tmp_path: Path,
    fakesnow_server: dict[str, Any],
    online: dict[str, Any],
    on_duckdb: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(PASSWORD_VAR, SENTINEL)
    project = _snowflake_project(tmp_path / "shop", fakesnow_server, online)
    out = project / "target" / "train.parquet"

    code, run_out = fsql(project, "run")
    assert code == 0, run_out
    assert "materialized 5 online views" in run_out
    code, train_out = fsql(
        project,
        "build-training-set",
        "--entities",
        "data/entities.csv",
        "--feature-service",
        "churn_model",
        "--output",
        str(out),
    )
    assert code == 0, train_out
    got = pq.read_table(out).to_pylist()
    want = on_duckdb["training"]
    assert len(got) == len(want)
    for row_got, row_want in zip(got, want, strict=True):
        assert row_got.keys() == row_want.keys()
        assert all(_same(row_got[k], row_want[k]) for k in row_want), (row_got, row_want)
    code, online_out = fsql(project, "get-online", "--feature-service", "churn_model", *ENTITY)
    assert code == 0, online_out
    served = json.loads(online_out)
    assert all(_same(served[k], v) for k, v in on_duckdb["online"].items()), served
    meta = json.loads(Path(f"{out}.meta.json").read_text())
    assert meta["target"] == {"name": "sf", "offline": "snowflake", "online": online["type"]}
    _assert_no_sentinel(project, run_out, train_out, online_out)


def test_failures_never_show_the_password(
    tmp_path: Path, fakesnow_server: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PASSWORD_VAR, SENTINEL)
    project = _snowflake_project(
        tmp_path / "shop", fakesnow_server, {"type": "sqlite", "path": "target/online.db"}
    )
    # a model that fails in the warehouse: the error names the view, exit 1
    model = project / "models" / "item" / "item_features.sql"
    model.write_text(model.read_text().replace("from", "from no_such_table, ", 1))
    code, failed = fsql(project, "run", "--debug")
    assert code == 1
    assert "item_features" in failed
    # a server that is not there: the error names host:port, exit 1
    profiles = yaml.safe_load((project / "profiles.yml").read_text())
    profiles["shop"]["outputs"]["sf"]["offline"]["port"] = 9
    profiles["shop"]["outputs"]["sf"]["offline"]["login_timeout"] = 2
    (project / "profiles.yml").write_text(yaml.safe_dump(profiles, sort_keys=False))
    code, refused = fsql(project, "run", "--debug")
    assert code == 1
    assert ":9" in refused
    _assert_no_sentinel(project, failed, refused)


# --------------------------------------------------------------------------- reloaded sources


@pytest.fixture
def warehouse_shop(
    tmp_path: Path, fakesnow_server: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> Path:
    """The example project on Snowflake with a SQLite online store (test_bigquery_e2e.py
    gives the same fixture on BigQuery, and runs the tests that take it again there)."""
    monkeypatch.setenv(PASSWORD_VAR, SENTINEL)
    online = {"type": "sqlite", "path": "target/online.db"}
    return _snowflake_project(tmp_path / "shop", fakesnow_server, online)


RELOADED_USER = 17


def _reloaded_orders(text: str) -> str:
    """orders.csv as reloaded: user 17's first order corrected (+1000.00), its last one
    deleted and an older one appended (same row count), so both of the user's entity rows
    change: 2026-03-11 (lifetime value 1285.08 -> 2230.60, 30-day count 8 -> 7) and
    2026-02-02 (no orders before it, a count of 0 -> one order, 55.00)."""
    header, *rows = text.strip().splitlines()
    mine = [i for i, line in enumerate(rows) if line.split(",")[1] == str(RELOADED_USER)]
    first = rows[mine[0]].split(",")
    first[3] = f"{float(first[3]) + 1000:.2f}"
    rows[mine[0]] = ",".join(first)
    del rows[mine[-1]]
    next_id = max(int(line.split(",")[0]) for line in rows) + 1
    rows.append(f"{next_id},{RELOADED_USER},1021,55.00,2026-01-20 10:00:00")
    return "\n".join([header, *rows]) + "\n"


def _reload_orders(project: Path) -> None:
    """Rewrite data/orders.csv; on a warehouse, load it again over raw.orders (CREATE OR
    REPLACE TABLE), as the shop's nightly export would."""
    orders = project / "data" / "orders.csv"
    orders.write_text(_reloaded_orders(orders.read_text()))
    offline = load_target(project, "shop", None).offline
    if offline.get("type", "duckdb") != "duckdb":
        upload_raw(offline, "orders", pacsv.read_csv(orders))


def _training_set(project: Path, name: str) -> tuple[list[dict[str, Any]], list[str]]:
    """`fsql build-training-set` of churn_model: its rows and its `building` lines."""
    out = project / "target" / f"{name}.parquet"
    code, text = fsql(
        project,
        "build-training-set",
        "--entities",
        str(project / "data" / "entities.csv"),
        "--feature-service",
        "churn_model",
        "--output",
        str(out),
    )
    assert code == 0, text
    building = [line.split("] ", 1)[1] for line in text.splitlines() if "building" in line]
    return pq.read_table(out).to_pylist(), building


def _assert_same_rows(got: list[dict[str, Any]], want: list[dict[str, Any]]) -> None:
    assert len(got) == len(want) > 0
    for row_got, row_want in zip(got, want, strict=True):
        assert row_got.keys() == row_want.keys()
        diff = {k: (a, row_want[k]) for k, a in row_got.items() if not _same(a, row_want[k])}
        assert not diff, (row_got, diff)


def test_a_reloaded_source_reaches_the_next_training_set(
    warehouse_shop: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """build-training-set, reload raw.orders (a corrected, a deleted and an appended row),
    build-training-set again, no `fsql run` anywhere: the second command rebuilds
    user_features, the table over the `materialized: view` user_daily_orders that reads
    orders (and nothing else), says so, and writes the training set over the reloaded
    rows, the one DuckDB writes from the rewritten CSV."""
    reference = copy_example(tmp_path_factory.mktemp("duck") / "shop")
    # Out of the repository, so that the project's files are read wherever fsql runs
    # (test_reloaded_sources.py checks that with a decoy file in the working directory).
    monkeypatch.chdir(tmp_path_factory.mktemp("elsewhere"))
    results = {}
    for project in (reference, warehouse_shop):
        before, built = _training_set(project, "before")
        names = [line.split(" (")[0].split("building ")[1] for line in built]
        assert names == [
            "item_features",
            "item_orders",
            "user_daily_orders",
            "user_features",
            "user_orders",
        ], built
        assert any(
            line.endswith("building user_daily_orders (never built; as a view)") for line in built
        )
        _reload_orders(project)
        after, built = _training_set(project, "after")
        # The tables over orders are rebuilt: the windowed views read it directly, and
        # user_features through user_daily_orders, a `materialized: view` (computed when
        # read) whose data version follows orders, so it is not built itself.
        assert built == [
            "[1/3] building item_orders (input changed: source raw.orders)",
            "[2/3] building user_features (input changed: view user_daily_orders)",
            "[3/3] building user_orders (input changed: source raw.orders)",
        ]
        results[project] = before, after
    (want_before, want_after), (got_before, got_after) = results[reference], results[warehouse_shop]
    _assert_same_rows(got_before, want_before)
    _assert_same_rows(got_after, want_after)

    # The reference answers by hand: only the reloaded user's rows changed.
    features = ("user_30d_purchase_count", "user_lifetime_value")
    changed = {}
    for old, new in zip(want_before, want_after, strict=True):
        if old["user_id"] == RELOADED_USER:
            changed[str(old["event_timestamp"])[:10]] = (
                [old[f] for f in features],
                [new[f] for f in features],
            )
        else:
            _assert_same_rows([new], [old])
    assert changed == {
        "2026-03-11": ([8, 1285.08], [7, 2230.6]),
        "2026-02-02": ([0, None], [1, 55.0]),
    }
