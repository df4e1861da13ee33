"""Engines, dialects and online stores by name, found as entry points.

A profile's `type:` names a plug-in of one of three groups:

- `fsql.adapters`: an `OfflineAdapter` subclass (`from_config(config, project_root,
  source, waiting)`), with its `fsql.dialects` entry of the same name: an
  `EngineDialect` (how fsql writes SQL for it);
- `fsql.online_stores`: an `OnlineStore` subclass (`from_config(config, project_root,
  project)`).

fsql's own plug-ins are declared in pyproject.toml like anyone else's, and listed here
as the same `EntryPoint` objects, so that finding a built-in needs no scan of the
installed distributions (about 30 ms per process) and works from a source checkout.
A third-party package registers more names in its own metadata, e.g.

    [project.entry-points."fsql.adapters"]
    trino = "fsql_trino.adapter:TrinoAdapter"

Nothing here imports an implementation until it is asked for by name: the registry
sits below every package it serves, so no package imports back into itself through it.
"""

from __future__ import annotations

import functools
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from fsql.errors import ProjectError

ADAPTERS = "fsql.adapters"
DIALECTS = "fsql.dialects"
ONLINE_STORES = "fsql.online_stores"

BUILTIN: dict[str, dict[str, str]] = {
    ADAPTERS: {
        "duckdb": "fsql.adapters.duckdb:DuckDBAdapter",
        "snowflake": "fsql.adapters.snowflake:SnowflakeAdapter",
        "bigquery": "fsql.adapters.bigquery:BigQueryAdapter",
    },
    DIALECTS: {
        "duckdb": "fsql.dialects.duckdb:DUCKDB",
        "snowflake": "fsql.dialects.snowflake:SNOWFLAKE",
        "bigquery": "fsql.dialects.bigquery:BIGQUERY",
    },
    ONLINE_STORES: {
        "sqlite": "fsql.online.sqlite:SQLiteOnlineStore",
        "redis": "fsql.online.redis_store:RedisOnlineStore",
    },
}


class PluginNotFound(LookupError):
    """No plug-in of that name in the group; `known` lists the names there are."""

    def __init__(self, group: str, name: str, known: list[str]) -> None:
        self.group, self.name, self.known = group, name, known
        super().__init__(f"no {group} plug-in named '{name}' (known: {', '.join(known)})")


@functools.cache
def _installed(group: str) -> dict[str, EntryPoint]:
    """Entry points of other packages, read once per process and only when needed."""
    return {ep.name: ep for ep in entry_points(group=group)}


def find(group: str, name: str) -> EntryPoint:
    """The entry point for `name`: a built-in first, else an installed package's."""
    builtin = BUILTIN.get(group, {}).get(name)
    if builtin is not None:
        return EntryPoint(name=name, value=builtin, group=group)
    found = _installed(group).get(name)
    if found is None:
        raise PluginNotFound(group, name, names(group))
    return found


def load(group: str, name: str) -> Any:
    """The object `name` registers in `group`, imported now."""
    return find(group, name).load()


def load_named(group: str, name: str, what: str, file: str | None = None) -> Any:
    """`load` for a profile's `type:`: an unknown name is one ProjectError naming `what`
    (e.g. "offline engine") and the names there are."""
    try:
        return load(group, name)
    except PluginNotFound as err:
        raise ProjectError(
            f"{what} '{name}' is not available",
            file=file,
            hint=f"use type: {' or '.join(err.known)}, or install the package that adds it",
        ) from None


def known(group: str, name: str) -> bool:
    """Whether `name` is registered in `group` (built-ins answer without a scan)."""
    return name in BUILTIN.get(group, {}) or name in _installed(group)


def names(group: str) -> list[str]:
    """Every name registered in `group`: built-ins first, then installed ones."""
    builtin = list(BUILTIN.get(group, {}))
    return builtin + sorted(set(_installed(group)) - set(builtin))
