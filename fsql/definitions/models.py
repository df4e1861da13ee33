"""Frozen definitions: what the project declares, validated once and content-hashed.

Nothing downstream mutates these objects: compiling derives new sqlglot trees from
them (copying `query` first), so one `Project` can be shared by every request a
`FeatureStore` serves.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fsql.definitions.aggregations import Aggregation
from fsql.definitions.durations import format_duration
from fsql.definitions.types import FeatureType
from fsql.graph.dag import Dag

if TYPE_CHECKING:  # trees are made by the parse; reading definitions needs no sqlglot
    from sqlglot import exp


@dataclass(frozen=True)
class Entity:
    name: str
    join_keys: tuple[str, ...]
    description: str = ""
    file: str = ""
    line: int | None = None


@dataclass(frozen=True)
class Source:
    """One table of a `sources:` group: a file DuckDB reads, or a warehouse table."""

    source_name: str
    name: str
    path: Path | None = None
    identifier: str | None = None
    file: str = ""
    line: int | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.source_name, self.name)

    @property
    def file_format(self) -> str | None:
        if self.path is None:
            return None
        suffix = self.path.suffix.lower()
        return "csv" if suffix in (".csv", ".tsv") else "parquet"


@dataclass(frozen=True)
class Feature:
    name: str
    type: FeatureType
    description: str = ""


# The join key of a view with `entities: []` (one row per time, joined to every entity
# row by time alone): a constant column the view's model is wrapped to output and every
# entity row is given, so that one plan serves keyed and global views alike.
GLOBAL_KEY = "__fsql_global"


@dataclass(frozen=True)
class FeatureView:
    """A feature view: its metadata plus its rendered, parsed SQL.

    `query` is the model rendered for a full build; `incremental_query` is the same
    model rendered with `is_incremental()` true (equal to `query` when the model
    does not branch on it). Both still hold placeholder tables for `ref()` and
    `source()`, which the compiler resolves per target.
    """

    name: str
    entities: tuple[str, ...]
    join_keys: tuple[str, ...]
    timestamp: str
    features: tuple[Feature, ...]
    query: exp.Query
    incremental_query: exp.Query
    rendered_sql: str
    sql_path: str
    yml_path: str
    yml_line: int | None = None
    created_timestamp: str | None = None
    ttl: timedelta | None = None
    online: bool = False
    schedule: timedelta | None = None
    materialized: str = "table"
    lookback: timedelta | None = None
    tags: tuple[str, ...] = ()
    description: str = ""
    refs: tuple[str, ...] = ()
    sources: tuple[tuple[str, str], ...] = ()
    content_hash: str = ""
    output_columns: tuple[str, ...] | None = None
    # Windowed aggregations (fsql.definitions.aggregations): the features are computed
    # from the table's event rows, which hold `row_columns`.
    aggregations: tuple[Aggregation, ...] = ()
    aggregation_interval: timedelta | None = None
    # "created_timestamp": a row is visible at t only once it had arrived (SPEC §2).
    visible_at: str = "event_timestamp"

    @property
    def row_columns(self) -> tuple[str, ...]:
        """The value columns of the view's table: its features, or, for a view with
        aggregations, the columns they read."""
        if not self.aggregations:
            return self.feature_names
        return tuple(dict.fromkeys(a.column for a in self.aggregations if a.column))

    def feature(self, name: str) -> Feature | None:
        for f in self.features:
            if f.name == name:
                return f
        return None

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features)

    @property
    def is_global(self) -> bool:
        """`entities: []`: one row per time, joined to every entity row by time alone."""
        return self.join_keys == (GLOBAL_KEY,)

    @property
    def user_keys(self) -> tuple[str, ...]:
        """The join keys users see (none for a global view)."""
        return () if self.is_global else self.join_keys

    def metadata(self) -> dict[str, Any]:
        """The declared metadata as plain JSON values (manifest and content hash)."""
        return {
            "name": self.name,
            "entities": list(self.entities),
            "join_keys": list(self.join_keys),
            "timestamp": self.timestamp,
            "created_timestamp": self.created_timestamp,
            "ttl": format_duration(self.ttl) if self.ttl else None,
            "online": self.online,
            "schedule": format_duration(self.schedule) if self.schedule else None,
            "materialized": self.materialized,
            "lookback": format_duration(self.lookback) if self.lookback else None,
            "tags": list(self.tags),
            "features": [
                {"name": f.name, "type": f.type.value, "description": f.description}
                for f in self.features
            ],
            # Only when set, so that the hashes of views without them do not move.
            **(
                {"aggregations": [a.metadata() for a in self.aggregations]}
                if self.aggregations
                else {}
            ),
            **(
                {"aggregation_interval": format_duration(self.aggregation_interval)}
                if self.aggregation_interval
                else {}
            ),
            **({"visible_at": self.visible_at} if self.visible_at != "event_timestamp" else {}),
        }


def content_hash(normalized_sql: str, metadata: dict[str, Any]) -> str:
    """sha256 over normalised SQL and metadata: the version recorded in manifests."""
    payload = json.dumps({"sql": normalized_sql, "meta": metadata}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


@dataclass(frozen=True)
class FeatureRef:
    """`view:feature`, or a whole `view` (all of its features).

    A feature service entry `{view, as, join_keys}` gives a reference an `alias`: its
    features are named `<alias>__<feature>`, and with `key_map` ((view key, entity
    column) pairs) the view joins through other entity columns, so one view serves
    twice (Feast's `location_stats` as origin and destination).
    """

    view: str
    feature: str | None = None
    alias: str | None = None
    key_map: tuple[tuple[str, str], ...] = ()

    @classmethod
    def parse(cls, text: str) -> FeatureRef:
        text = text.strip()
        if ":" in text:
            view, _, feat = text.partition(":")
            if not view or not feat or ":" in feat:
                raise ValueError(f"{text!r} is not a feature reference; write view:feature")
            return cls(view.strip(), feat.strip())
        if not text:
            raise ValueError("empty feature reference")
        return cls(text)

    @property
    def group(self) -> str:
        """What its view's features are joined under: the view, once per alias."""
        return self.view if self.alias is None else f"{self.view} as {self.alias}"

    def __str__(self) -> str:
        text = f"{self.view}:{self.feature}" if self.feature else self.view
        if self.alias is None:
            return text
        keys = ", ".join(f"{k}={e}" for k, e in self.key_map)
        return f"{text} as {self.alias}" + (f" on {keys}" if keys else "")


@dataclass(frozen=True)
class FeatureService:
    name: str
    features: tuple[FeatureRef, ...]
    description: str = ""
    file: str = ""
    line: int | None = None
    # `logging: {sample_rate}`: the share of served entity rows written to the service's
    # feature log (`<service>__log`) for skew checks; None = not logged.
    log_sample_rate: float | None = None


@dataclass(frozen=True)
class RequestColumn:
    name: str
    type: FeatureType


@dataclass(frozen=True)
class OnDemandFeature:
    """A feature computed at request time from request columns and view features."""

    name: str
    type: FeatureType
    expression: exp.Expr
    request_columns: tuple[RequestColumn, ...]
    inputs: tuple[FeatureRef, ...]
    file: str = ""
    line: int | None = None
    text: str = ""  # the expression as written (a project snapshot parses it again)


@dataclass(frozen=True)
class Project:
    """Everything one project declares, validated and ordered."""

    name: str
    root: Path
    dialect: str
    profile: str
    vars: dict[str, Any]
    entities: dict[str, Entity]
    sources: dict[tuple[str, str], Source]
    views: dict[str, FeatureView]
    services: dict[str, FeatureService]
    on_demand: dict[str, OnDemandFeature] = field(default_factory=dict)
    target_path: Path = Path("target")
    # The ref() graph of `views`, built once when the project is parsed.
    dag: Dag = field(default_factory=lambda: Dag({}))
    # The environment variables the models read when rendered (env_var()): with the
    # project's files, what its parse depends on (fsql.project.snapshot).
    env_read: tuple[str, ...] = ()

    def view(self, name: str) -> FeatureView | None:
        return self.views.get(name)
