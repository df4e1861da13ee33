"""Opening the online store a profile's `online:` block names (drivers imported lazily)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fsql.definitions.models import FeatureView
from fsql.errors import ProjectError
from fsql.online.base import OnlineStore, OnlineTable


def open_online(config: Mapping[str, Any], project_root: Path) -> OnlineStore:
    kind = config.get("type", "sqlite")
    if kind == "sqlite":
        from fsql.online.sqlite import SQLiteOnlineStore

        raw = str(config.get("path") or "target/online.db")
        path = Path(raw)
        if raw != ":memory:" and not path.is_absolute():
            path = project_root / path
        return SQLiteOnlineStore(path if raw != ":memory:" else raw)
    raise ProjectError(
        f"online store '{kind}' is not available in this build", hint="use type: sqlite"
    )


def online_table(view: FeatureView) -> OnlineTable:
    """The store-facing description of an online view."""
    return OnlineTable(
        view=view.name,
        join_keys=view.join_keys,
        features=tuple((f.name, f.type) for f in view.features),
        ttl_us=int(view.ttl.total_seconds()) * 1_000_000 if view.ttl else None,
    )
