"""A profile target's dialect and where its view tables live: what compiling for the
target needs from its `offline:` block, without opening anything."""

from __future__ import annotations

from collections.abc import Mapping

from fsql.config.profiles import Target
from fsql.dialects import get_dialect
from fsql.dialects.base import EngineDialect
from fsql.errors import ProjectError


def location_args(location: Mapping[str, str]) -> tuple[str | None, str | None]:
    """`compile_project`'s schema and catalog from a dialect's table location."""
    return location.get("schema"), location.get("catalog")


def table_location(target: Target, dialect: EngineDialect) -> dict[str, str]:
    """Where view tables live, for engines that need them qualified (BigQuery:
    `project.dataset`); others resolve unqualified names in the session's schema."""
    try:
        return dialect.table_location(target.offline)
    except KeyError as err:
        raise ProjectError(
            f"target '{target.name}': a {target.offline_type} offline engine needs {err.args[0]}",
            file=target.file,
            hint="set it under offline: (where fsql builds its tables)",
        ) from None


def target_dialect(target: Target) -> EngineDialect:
    """The target's SQL dialect, with the point-in-time strategy its profile asks for."""
    strategy = target.offline.get("pit_strategy")
    try:
        return get_dialect(target.offline_type, None if strategy is None else str(strategy))
    except ValueError as err:  # an engine this build lacks, or a strategy it cannot run
        raise ProjectError(
            str(err),
            file=target.file,
            hint="offline engines: duckdb, snowflake, bigquery; pit_strategy: asof or window",
        ) from None
