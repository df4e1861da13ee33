"""Opening the online store a profile's `online:` block names (drivers imported lazily)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fsql.definitions.models import FeatureView
from fsql.errors import ProjectError
from fsql.online.base import OnlineStore, OnlineTable


def open_online(config: Mapping[str, Any], project_root: Path, project: str) -> OnlineStore:
    """`project` namespaces the store's keys where the store is shared (Redis)."""
    kind = config.get("type", "sqlite")
    if kind == "sqlite":
        from fsql.online.sqlite import SQLiteOnlineStore

        raw = str(config.get("path") or "target/online.db")
        path = Path(raw)
        if raw != ":memory:" and not path.is_absolute():
            path = project_root / path
        return SQLiteOnlineStore(path if raw != ":memory:" else raw)
    if kind == "redis":
        from fsql.online.redis_store import RedisOnlineStore

        url = config.get("url")
        if not isinstance(url, str) or not url:
            raise ProjectError(
                "online store redis needs url", hint="e.g. url: redis://127.0.0.1:6379/0"
            )
        return RedisOnlineStore(
            url,
            project=project,
            key_prefix=str(config.get("key_prefix", "")),
            socket_timeout=_seconds(config.get("socket_timeout", 5.0), "socket_timeout"),
            connect_timeout=_seconds(config.get("connect_timeout", 5.0), "connect_timeout"),
            expire=bool(config.get("expire", False)),
        )
    raise ProjectError(
        f"online store '{kind}' is not available", hint="use type: sqlite or type: redis"
    )


def _seconds(value: Any, key: str) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ProjectError(
            f"online store {key} must be a number of seconds, not {value!r}"
        ) from None


def online_table(view: FeatureView) -> OnlineTable:
    """The store-facing description of an online view."""
    return OnlineTable(
        view=view.name,
        join_keys=view.join_keys,
        features=tuple((f.name, f.type) for f in view.features),
        ttl_us=int(view.ttl.total_seconds()) * 1_000_000 if view.ttl else None,
    )
