"""Self-tests of the project factory: the files it writes, read back without fsql.

The models are rendered here with a tiny stand-in for `source()`/`ref()` and run on DuckDB
directly, so a broken factory shows up as a factory failure, not as an fsql failure.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from tests.support.project_factory import (
    ViewSpec,
    make_project,
    oracle_view,
    parse_ttl,
)

T0 = datetime(2024, 1, 10, 12, 0, tzinfo=UTC)
ENTITIES = {"user": ["user_id"], "item": ["item_id"]}


def specs() -> list[ViewSpec]:
    a = ViewSpec(
        name="a",
        entities=["user", "item"],
        features=[("x", "int64"), ("s", "string"), ("f", "float32"), ("ok", "bool")],
        rows=[
            {
                "user_id": 1,
                "item_id": "p",
                "event_timestamp": T0,
                "created": T0,
                "x": 1,
                "s": "a",
                "f": 0.5,
                "ok": True,
            },
            {
                "user_id": 2,
                "item_id": None,
                "event_timestamp": T0.replace(tzinfo=None),
                "created": None,
                "x": None,
                "s": None,
                "f": None,
                "ok": None,
            },
        ],
        ttl="7d",
        created_col="created",
        online=True,
    )
    b = ViewSpec(
        name="b",
        entities=["user", "item"],
        features=[("x10", "int64")],
        sql="select user_id, item_id, event_timestamp, x * 10 as x10 from {{ ref('a') }}",
        ttl="3600s",
    )
    return [a, b]


def render(sql: str) -> str:
    sql = re.sub(r"\{\{\s*source\('raw',\s*'(\w+)'\)\s*\}\}", r"\1", sql)
    return re.sub(r"\{\{\s*ref\('(\w+)'\)\s*\}\}", r"\1", sql)


def test_files_written(tmp_path: Path) -> None:
    root = make_project(tmp_path / "p", specs(), ENTITIES)
    project = yaml.safe_load((root / "fsql_project.yml").read_text())
    assert project == {"name": "fsql_test", "profile": "fsql_test"}
    profiles = yaml.safe_load((root / "profiles.yml").read_text())
    dev = profiles["fsql_test"]["outputs"]["dev"]
    assert profiles["fsql_test"]["target"] == "dev"
    assert dev["offline"] == {"type": "duckdb", "path": str(root / "target" / "fsql.duckdb")}
    assert dev["online"] == {"type": "sqlite", "path": str(root / "target" / "online.db")}

    sources = yaml.safe_load((root / "models" / "sources.yml").read_text())
    assert sources == {
        "sources": [{"name": "raw", "tables": [{"name": "a_raw", "path": "data/a_raw.parquet"}]}]
    }
    assert not (root / "data" / "b_raw.parquet").exists()
    meta = yaml.safe_load((root / "models" / "a.yml").read_text())["feature_views"][0]
    assert meta["entities"] == ["user", "item"]
    assert meta["created_timestamp"] == "created"
    assert meta["ttl"] == "7d"
    assert meta["online"] is True
    assert meta["features"][0] == {"name": "x", "type": "int64"}
    meta_b = yaml.safe_load((root / "models" / "b.yml").read_text())["feature_views"][0]
    assert "ttl" in meta_b and "created_timestamp" not in meta_b
    ents = yaml.safe_load((root / "models" / "entities.yml").read_text())
    assert ents == {
        "entities": [
            {"name": "user", "join_keys": ["user_id"]},
            {"name": "item", "join_keys": ["item_id"]},
        ]
    }


def test_parquet_types_and_values(tmp_path: Path) -> None:
    root = make_project(tmp_path, specs(), ENTITIES)
    table = pq.read_table(root / "data" / "a_raw.parquet")
    assert table.schema.names == [
        "user_id",
        "item_id",
        "event_timestamp",
        "created",
        "x",
        "s",
        "f",
        "ok",
    ]
    assert table.schema.field("event_timestamp").type == pa.timestamp("us", tz="UTC")
    assert table.schema.field("created").type == pa.timestamp("us", tz="UTC")
    assert table.schema.field("user_id").type == pa.int64()
    assert table.schema.field("item_id").type == pa.string()
    assert table.schema.field("f").type == pa.float32()
    rows = table.to_pylist()
    # The naive timestamp was written as UTC.
    assert rows[1]["event_timestamp"] == T0
    assert rows[1]["x"] is None and rows[1]["created"] is None


def test_models_run_on_duckdb(tmp_path: Path) -> None:
    root = make_project(tmp_path, specs(), ENTITIES)
    con = duckdb.connect()
    con.execute("set TimeZone='UTC'")
    con.execute(f"create view a_raw as select * from read_parquet('{root}/data/a_raw.parquet')")
    for name in ("a", "b"):
        sql = render((root / "models" / f"{name}.sql").read_text())
        con.execute(f"create view {name} as {sql}")
    cols = [d[0] for d in con.execute("select * from a").description]
    assert cols == ["user_id", "item_id", "event_timestamp", "created", "x", "s", "f", "ok"]
    got = con.execute("select user_id, x10 from b order by user_id").fetchall()
    assert got == [(1, 10), (2, None)]


def test_oracle_view_and_ttl() -> None:
    a, b = specs()
    ov = oracle_view(a, ENTITIES)
    assert ov.join_keys == ("user_id", "item_id")
    assert ov.ttl == timedelta(days=7)
    assert ov.created_col == "created"
    assert ov.features == ("x", "s", "f", "ok")
    assert oracle_view(b, ENTITIES, rows=[]).ttl == timedelta(hours=1)
    assert parse_ttl("1h30m") == timedelta(minutes=90)
    assert parse_ttl(None) is None


def test_composite_key_entity(tmp_path: Path) -> None:
    spec = ViewSpec(
        name="ui",
        entities=["user_item"],
        features=[("n", "int64")],
        rows=[],
        key_types={"user_id": "int64", "item_id": "string"},
    )
    root = make_project(tmp_path, [spec], {"user_item": ["user_id", "item_id"]})
    schema = pq.read_schema(root / "data" / "ui_raw.parquet")
    assert schema.names == ["user_id", "item_id", "event_timestamp", "n"]
    assert schema.field("item_id").type == pa.string()
    assert "select user_id, item_id, event_timestamp, n" in (root / "models" / "ui.sql").read_text()
