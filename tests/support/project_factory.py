"""Write throwaway fsql projects (SPEC §1) into a temporary directory for tests.

A project is described by `ViewSpec`s: each view gets its raw rows written to
`data/<view>_raw.parquet` (timestamps as `timestamp('us', tz='UTC')`), a table in the `raw`
source, a model `models/<view>.sql` selecting explicit columns from that source (or custom SQL,
e.g. one that `ref()`s another view) and its metadata in `models/<view>.yml`.

`oracle_view()` turns the same spec into the oracle's view, so a test states its data once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from tests.support.oracle import EVENT_TIMESTAMP, OracleView, is_null, to_utc

if TYPE_CHECKING:
    from fsql.definitions.models import Project

PROJECT_NAME = "fsql_test"

_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


@dataclass
class ViewSpec:
    """One feature view of a throwaway project.

    `rows` are the raw rows (keys, `event_timestamp`, the created column if any, features).
    `key_types` gives the type of a join key column when it cannot be inferred from the rows
    (default: inferred, int64 when every value is NULL). `sql` replaces the generated model
    SQL; a view with custom SQL and no rows gets no raw table.
    """

    name: str
    entities: list[str]
    features: list[tuple[str, str]]
    rows: list[dict[str, Any]] = field(default_factory=list)
    ttl: str | None = None
    created_col: str | None = None
    online: bool = False
    sql: str | None = None
    key_types: dict[str, str] = field(default_factory=dict)
    timestamp_col: str = EVENT_TIMESTAMP
    extra_yaml: dict[str, Any] = field(default_factory=dict)
    # `aggregations:` entries: the view's features are then these, and `features` are
    # only the model's value columns (in the raw table and the generated SQL).
    aggregations: list[dict[str, Any]] | None = None

    @property
    def feature_names(self) -> list[str]:
        return [f for f, _ in self.features]

    @property
    def has_raw_table(self) -> bool:
        return self.sql is None or bool(self.rows)


def parse_ttl(text: str | None) -> timedelta | None:
    """`7d`, `3600s`, `1h30m` as a timedelta (the factory's own reading, for the oracle)."""
    if text is None:
        return None
    total, num = 0, ""
    for ch in text.strip():
        if ch.isdigit():
            num += ch
        else:
            total += int(num) * _DURATION_UNITS[ch]
            num = ""
    if num:
        raise ValueError(f"duration {text!r} needs a unit")
    return timedelta(seconds=total)


def join_keys_of(spec: ViewSpec, entities: Mapping[str, Sequence[str]]) -> tuple[str, ...]:
    keys: list[str] = []
    for ent in spec.entities:
        keys.extend(k for k in entities[ent] if k not in keys)
    return tuple(keys)


def _infer_type(values: Sequence[Any]) -> pa.DataType:
    for v in values:
        if is_null(v):
            continue
        if isinstance(v, bool):
            return pa.bool_()
        if isinstance(v, int):
            return pa.int64()
        if isinstance(v, float):
            return pa.float64()
        if isinstance(v, str):
            return pa.string()
        if isinstance(v, datetime):
            return pa.timestamp("us", tz="UTC")
        if isinstance(v, date):
            return pa.date32()
        if isinstance(v, bytes):
            return pa.binary()
        raise TypeError(f"cannot infer an Arrow type for {v!r}")
    return pa.int64()


def _column(values: list[Any], dtype: pa.DataType) -> pa.Array:
    if pa.types.is_timestamp(dtype):
        values = [to_utc(v) for v in values]
    elif pa.types.is_floating(dtype):  # a float NaN is a value (SPEC: NaN is not NULL)
        values = [v if isinstance(v, float) or not is_null(v) else None for v in values]
    else:
        values = [None if is_null(v) else v for v in values]
    return pa.array(values, type=dtype)


def _arrow_type(name: str) -> pa.DataType:
    """A feature type's Arrow type, as fsql reads the type name."""
    from fsql.definitions.types import FeatureType

    return FeatureType.parse(name).arrow()


def raw_schema(spec: ViewSpec, join_keys: Sequence[str]) -> pa.Schema:
    """Columns of the raw table: keys, event timestamp, created timestamp, features."""
    fields = []
    for key in join_keys:
        if key in spec.key_types:
            dtype = _arrow_type(spec.key_types[key])
        else:
            dtype = _infer_type([r.get(key) for r in spec.rows])
        fields.append(pa.field(key, dtype))
    fields.append(pa.field(spec.timestamp_col, pa.timestamp("us", tz="UTC")))
    if spec.created_col:
        fields.append(pa.field(spec.created_col, pa.timestamp("us", tz="UTC")))
    fields.extend(pa.field(name, _arrow_type(t)) for name, t in spec.features)
    return pa.schema(fields)


def raw_table(spec: ViewSpec, join_keys: Sequence[str]) -> pa.Table:
    schema = raw_schema(spec, join_keys)
    arrays = [_column([r.get(f.name) for r in spec.rows], f.type) for f in schema]
    return pa.Table.from_arrays(arrays, schema=schema)


def write_raw(path: Path, spec: ViewSpec, join_keys: Sequence[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(raw_table(spec, join_keys), path)


def upload_raw(offline: Mapping[str, Any], name: str, table: pa.Table) -> str:
    """Load `table` into a warehouse target's schema as `name`; return its identifier.

    Goes through fsql's own adapter (a session temporary table, then CREATE TABLE AS), as
    a user would load data with their warehouse's tools before pointing a source at it."""
    from sqlglot import exp

    from fsql.adapters.base import open_offline

    adapter = open_offline(offline, Path("."))
    staging = f"{name}_staging"
    schema = str(offline.get("schema") or offline.get("dataset"))  # Snowflake | BigQuery
    try:
        uploaded = adapter.register(staging, table)
        target = exp.table_(name, db=schema)
        create = exp.Create(
            this=target,
            kind="TABLE",
            replace=True,
            expression=exp.select("*").from_(uploaded),
        )
        adapter.execute(create.sql(dialect=str(offline["type"])))
        adapter.unregister(staging)
    finally:
        adapter.close()
    return f"{schema}.{name}"


def default_sql(spec: ViewSpec, join_keys: Sequence[str]) -> str:
    cols = [*join_keys, spec.timestamp_col]
    if spec.created_col:
        cols.append(spec.created_col)
    cols.extend(spec.feature_names)
    return f"select {', '.join(cols)}\nfrom {{{{ source('raw', '{spec.name}_raw') }}}}\n"


def view_yaml(spec: ViewSpec) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": spec.name,
        "entities": list(spec.entities),
        "timestamp": spec.timestamp_col,
    }
    if spec.created_col:
        meta["created_timestamp"] = spec.created_col
    if spec.ttl:
        meta["ttl"] = spec.ttl
    meta["online"] = spec.online
    if spec.aggregations is not None:
        meta["aggregations"] = spec.aggregations
    else:
        meta["features"] = [{"name": n, "type": t} for n, t in spec.features]
    meta.update(spec.extra_yaml)
    return {"feature_views": [meta]}


def _dump(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def make_project(
    root: Path,
    views: Sequence[ViewSpec],
    entities: Mapping[str, Sequence[str]],
    *,
    name: str = PROJECT_NAME,
    relative_store_paths: bool = False,
    extra_files: Mapping[str, str] | None = None,
    online_store: Mapping[str, Any] | None = None,
    offline: Mapping[str, Any] | None = None,
    duckdb_options: Mapping[str, Any] | None = None,
) -> Path:
    """Write a project into `root` and return `root`.

    `entities` maps an entity name to its join keys. The profile's stores live in
    `root/target/` (`fsql.duckdb`, `online.db`); they are written as absolute paths unless
    `relative_store_paths`, since SPEC §5 does not say what a relative store path is
    relative to, and a path relative to the working directory would share one store
    between tests. `online_store` replaces the SQLite online block (e.g. a Redis one);
    `offline` replaces the DuckDB block with a warehouse one (e.g. Snowflake on fakesnow),
    whose raw tables are then loaded into its schema and named by `identifier:`.
    `duckdb_options` adds keys to the default DuckDB block (e.g. `pit_strategy: window`),
    whose sources stay parquet files.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    _dump(root / "fsql_project.yml", {"name": name, "profile": name})
    target = root / "target"
    if relative_store_paths:
        db, online = "target/fsql.duckdb", "target/online.db"
    else:
        target.mkdir(exist_ok=True)
        db, online = str(target / "fsql.duckdb"), str(target / "online.db")
    _dump(
        root / "profiles.yml",
        {
            name: {
                "target": "dev",
                "outputs": {
                    "dev": {
                        "offline": dict(offline)
                        if offline
                        else {"type": "duckdb", "path": db, **(duckdb_options or {})},
                        "online": dict(online_store)
                        if online_store
                        else {"type": "sqlite", "path": online},
                    }
                },
            }
        },
    )
    models = root / "models"
    _dump(
        models / "entities.yml",
        {"entities": [{"name": e, "join_keys": list(keys)} for e, keys in entities.items()]},
    )
    tables = []
    for spec in views:
        keys = join_keys_of(spec, entities)
        if spec.has_raw_table and offline:
            identifier = upload_raw(offline, f"{spec.name}_raw", raw_table(spec, keys))
            tables.append({"name": f"{spec.name}_raw", "identifier": identifier})
        elif spec.has_raw_table:
            rel = f"data/{spec.name}_raw.parquet"
            write_raw(root / rel, spec, keys)
            tables.append({"name": f"{spec.name}_raw", "path": rel})
        (models / f"{spec.name}.sql").write_text(spec.sql or default_sql(spec, keys))
        _dump(models / f"{spec.name}.yml", view_yaml(spec))
    if tables:
        _dump(models / "sources.yml", {"sources": [{"name": "raw", "tables": tables}]})
    for rel, text in (extra_files or {}).items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def oracle_view(
    spec: ViewSpec,
    entities: Mapping[str, Sequence[str]],
    rows: list[dict[str, Any]] | None = None,
) -> OracleView:
    """The oracle's view of `spec`; `rows` overrides the view's output rows (custom SQL)."""
    return OracleView(
        name=spec.name,
        join_keys=join_keys_of(spec, entities),
        rows=list(spec.rows if rows is None else rows),
        ttl=parse_ttl(spec.ttl),
        created_col=spec.created_col,
        timestamp_col=spec.timestamp_col,
        features=tuple(spec.feature_names),
    )


def warehouse_sources(project: Project) -> Project:
    """A loaded project (e.g. the repository's example) as a warehouse deployment declares
    it: its file sources as warehouse tables (`identifier: raw.<table>`), since Snowflake
    and BigQuery read no files."""
    sources = {
        key: dataclasses.replace(source, path=None, identifier=f"raw.{source.name}")
        for key, source in project.sources.items()
    }
    return dataclasses.replace(project, sources=sources)
