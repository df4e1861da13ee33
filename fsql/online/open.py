"""Opening the online store a profile's `online:` block names, and the store-facing
description of a view."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fsql import plugins
from fsql.definitions.models import FeatureView
from fsql.definitions.types import FeatureType
from fsql.online.base import OnlineStore, OnlineTable
from fsql.online.windowed import ROWS_COLUMN


def open_online(config: Mapping[str, Any], project_root: Path, project: str) -> OnlineStore:
    """Open the store a profile's `online:` block names (fsql.plugins, group
    `fsql.online_stores`); `project` namespaces its keys where the store is shared."""
    kind = str(config.get("type", "sqlite"))
    store = plugins.load_named(plugins.ONLINE_STORES, kind, "online store")
    opened: OnlineStore = store.from_config(config, project_root, project)
    return opened


def online_table(view: FeatureView) -> OnlineTable:
    """The store-facing description of an online view. A view with aggregations keeps
    each key's rows in one value (fsql.online.windowed), and no TTL: its windows are its
    limits, applied when it is read."""
    if view.aggregations:
        return OnlineTable(
            view=view.name,
            join_keys=view.join_keys,
            features=((ROWS_COLUMN, FeatureType.BYTES),),
        )
    return OnlineTable(
        view=view.name,
        join_keys=view.join_keys,
        features=tuple((f.name, f.type) for f in view.features),
        ttl_us=int(view.ttl.total_seconds()) * 1_000_000 if view.ttl else None,
    )
