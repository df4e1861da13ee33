"""Projects compiled for BigQuery without a connection, for the compile tests."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from fsql.compile.plan import CompiledProject, compile_project
from fsql.definitions.models import Project
from fsql.dialects import EngineDialect
from fsql.dialects.bigquery import BIGQUERY
from fsql.project.load import load_project
from tests.support.project_factory import ViewSpec, make_project

USER = {"user": ["user_id"]}
GCP_PROJECT = "my-project"
DATASET = "fsql"


def compile_bigquery(
    project: Project,
    gcp_project: str | None = GCP_PROJECT,
    dataset: str | None = DATASET,
    dialect: EngineDialect = BIGQUERY,
) -> CompiledProject:
    """`project` compiled for BigQuery with view tables in `gcp_project`.`dataset`."""
    return compile_project(project, dialect, schema=dataset, catalog=gcp_project)


def bigquery_project(
    tmp_path: Path, sql: str | None = None, identifier: str = "raw.v_raw"
) -> Project:
    """A one-view project whose source is the warehouse table `identifier`."""
    spec = ViewSpec(
        name="v",
        entities=["user"],
        features=[("rows", "int64"), ("x", "float32")],
        rows=[{"user_id": 1, "event_timestamp": None, "rows": None, "x": None}],
        sql=sql,
        created_col="created_timestamp",
        ttl="1h",
    )
    project = load_project(make_project(tmp_path, [spec], USER))
    sources = {
        key: dataclasses.replace(s, path=None, identifier=identifier)
        for key, s in project.sources.items()
    }
    return dataclasses.replace(project, sources=sources)
