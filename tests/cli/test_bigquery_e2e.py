"""The example project end to end on BigQuery (crucible-emulator, the real client), by the CLI.

The shop's CSV sources are loaded into the target's dataset and named by `identifier:`;
`fsql run` builds the views there (window plan, `project.dataset` tables) and materializes
them into SQLite; `fsql build-training-set` and `fsql get-online` must give exactly what
the same project gives on DuckDB. crucible refuses query parameters, so the profile says
`parameters: inline` (the materialization window written as typed literals by sqlglot)
and `upload_format: csv`; production BigQuery binds parameters and loads Parquet.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
import yaml

from tests.cli import test_snowflake_e2e as snowflake_e2e
from tests.conftest import copy_example
from tests.support.bigquery_emulator import client, profile_block
from tests.support.cli_runs import ENTITY, fsql
from tests.support.cli_runs import same_value as _same
from tests.support.project_factory import upload_raw


@pytest.fixture
def bigquery_project(tmp_path: Path, bigquery_emulator: dict[str, Any]) -> Any:
    block = profile_block(bigquery_emulator, parameters="inline")
    bq = client(bigquery_emulator)
    bq.create_dataset(block["dataset"])
    project = copy_example(tmp_path / "shop")
    sources_file = project / "models" / "sources.yml"
    sources = yaml.safe_load(sources_file.read_text())
    for source in sources["sources"]:
        for table in source["tables"]:
            data = pacsv.read_csv(project / table.pop("path"))
            table["identifier"] = upload_raw(block, table["name"], data)
    sources_file.write_text(yaml.safe_dump(sources, sort_keys=False))
    online = {"type": "sqlite", "path": "target/online.db"}
    profiles = {"shop": {"target": "bq", "outputs": {"bq": {"offline": block, "online": online}}}}
    (project / "profiles.yml").write_text(yaml.safe_dump(profiles, sort_keys=False))
    yield project
    bq.delete_dataset(block["dataset"], delete_contents=True, not_found_ok=True)
    bq.close()


def test_run_and_training_set_match_duckdb(
    bigquery_project: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    reference = copy_example(tmp_path_factory.mktemp("duck") / "shop")
    results = {}
    for project in (reference, bigquery_project):
        out = project / "target" / "train.parquet"
        code, text = fsql(project, "run")
        assert code == 0, text
        assert "materialized 5 online views" in text
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
        code, online = fsql(project, "get-online", "--feature-service", "churn_model", *ENTITY)
        assert code == 0, online
        results[project] = (pq.read_table(out).to_pylist(), json.loads(online))
    (want, want_online), (got, got_online) = results[reference], results[bigquery_project]
    assert len(got) == len(want) > 0
    for row_got, row_want in zip(got, want, strict=True):
        assert row_got.keys() == row_want.keys()
        assert all(_same(row_got[k], row_want[k]) for k in row_want), (row_got, row_want)
    assert all(_same(got_online[k], v) for k, v in want_online.items()), got_online
    compiled = bigquery_project / "target" / "compiled" / "bigquery"
    assert "`user_features`" in (compiled / "user_features" / "table.sql").read_text()


def test_dry_run_needs_a_dry_run_engine(example_project: Path) -> None:
    code, text = fsql(example_project, "compile", "--dry-run")
    assert code == 2
    assert "--dry-run needs an engine with dry-run jobs" in text and "duckdb" in text


def test_dry_run_asks_bigquery_and_names_the_view(bigquery_project: Path) -> None:
    # crucible refuses dry-run jobs: the request reaches it through the real client and
    # its refusal comes back as one line naming the first view, exit 1.
    code, text = fsql(bigquery_project, "compile", "--dry-run")
    assert code == 1, text
    assert "compiled 6 views for bigquery" in text
    assert "dry run of view 'item_features'" in text


@pytest.fixture
def warehouse_shop(bigquery_project: Path) -> Path:
    """The example project on BigQuery, for the tests test_snowflake_e2e.py runs on it."""
    return bigquery_project


# The same test on BigQuery: build-training-set, reload raw.orders, build-training-set.
test_a_reloaded_source_reaches_the_next_training_set = (
    snowflake_e2e.test_a_reloaded_source_reaches_the_next_training_set
)
