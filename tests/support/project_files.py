"""Throwaway projects written file by file, for tests of parsing: a base of entities and
sources, views as a model file and its YAML, and the errors loading them collects."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from fsql.errors import ProjectError, ProjectErrors
from fsql.project.load import load_project

BASE = {
    "entities": [
        {"name": "user", "join_keys": ["user_id"]},
        {"name": "item", "join_keys": ["item_id"]},
        {"name": "user_item", "join_keys": ["user_id", "item_id"]},
    ],
    "sources": [
        {
            "name": "raw",
            "tables": [
                {"name": "events", "path": "data/events.parquet"},
                {"name": "orders", "identifier": "analytics.orders"},
            ],
        }
    ],
}
SRC = "{{ source('raw', 'events') }}"
DEFAULT_SQL = f"select user_id, event_timestamp, f\nfrom {SRC}\n"


def view(name: str, sql: str | None = DEFAULT_SQL, **meta: Any) -> dict[str, str]:
    """Files for one view: models/<name>.sql and its metadata in models/<name>.yml."""
    doc = {
        "name": name,
        "entities": ["user"],
        "timestamp": "event_timestamp",
        "features": [{"name": "f", "type": "int64"}],
        **meta,
    }
    files = {f"models/{name}.yml": yaml.safe_dump({"feature_views": [doc]}, sort_keys=False)}
    if sql is not None:
        files[f"models/{name}.sql"] = sql
    return files


def make(tmp_path: Path, *parts: dict[str, str], base: bool = True) -> Path:
    root = tmp_path / "proj"
    files = {"fsql_project.yml": "name: t\n"}
    if base:
        files["models/base.yml"] = yaml.safe_dump(BASE, sort_keys=False)
    for part in parts:
        files.update(part)
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def errors_of(root: Path) -> list[ProjectError]:
    with pytest.raises(ProjectError) as info:
        load_project(root)
    err = info.value
    return err.errors if isinstance(err, ProjectErrors) else [err]


def one_error(root: Path, text: str, file: str) -> ProjectError:
    """The error whose message contains `text`; its rendering must name `file`."""
    found = [e for e in errors_of(root) if text in e.message]
    assert found, [e.render() for e in errors_of(root)]
    err = found[0]
    assert err.location.file == file
    assert err.render().startswith(file)
    assert err.exit_code == 2
    return err


def log_service(project: Path, service: str, rate: float = 1.0) -> None:
    """Give a feature service of a copied example project `logging: {sample_rate}`."""
    services = project / "models" / "services.yml"
    marker = f"  - name: {service}\n"
    text = services.read_text()
    assert marker in text, service
    services.write_text(text.replace(marker, f"{marker}    logging: {{sample_rate: {rate}}}\n", 1))
