"""The project as online reads need it, kept in target/project_snapshot.json, so that
`fsql get-online` answers without rendering, parsing or checking a single model.

A read needs the declarations (views' keys, features and types, TTLs and aggregations;
services; on-demand features; entities), none of the models' SQL. A full parse renders
every model with Jinja, parses it with sqlglot and checks it with DuckDB's parser, which
costs more than the read itself. So the first read after any change parses the project
and writes the snapshot; the reads that follow load it.

The snapshot is keyed by the digest of everything a parse reads (fsql.project.unchanged:
fsql's version, every project file and the profiles file, the target and vars given,
the environment variables the models read and those the profiles file names): when any
of them differs, the snapshot is ignored, and written again after the parse. Its views
hold no SQL trees, only a stand-in that refuses every use, so that a store which loaded
one can read online values and nothing else. JSON, never pickle: target/ may be written
by anyone who can run a build, and reading it must not run code.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, cast

import orjson

from fsql.definitions.models import (
    Entity,
    FeatureRef,
    FeatureService,
    OnDemandFeature,
    Project,
    RequestColumn,
    Source,
)
from fsql.definitions.types import FeatureType
from fsql.graph.dag import Dag
from fsql.project.parse_cache import view_from_json, view_to_json
from fsql.project.unchanged import inputs_digest

if TYPE_CHECKING:
    from sqlglot import exp

SNAPSHOT_FILE = "project_snapshot.json"


class UnloadedTree:
    """Stands for a snapshot view's SQL trees: any use fails at once, rather than
    compiling a placeholder into wrong SQL."""

    def __getattr__(self, name: str) -> NoReturn:
        raise RuntimeError(
            "this store was opened for online reads from a project snapshot: its views "
            "hold no SQL (open FeatureStore without for_reads to compile or build)"
        )

    def __repr__(self) -> str:
        return "UnloadedTree()"


class ExpressionText:
    """A snapshot's on-demand expression: its text, parsed (as the project parse does)
    on first use, so that a read computing no on-demand feature loads no sqlglot. Stands
    for the tree wherever one is used (`copy()`, `sql()`)."""

    def __init__(self, text: str, dialect: str) -> None:
        self._text = text
        self._dialect = dialect
        self._tree: Any = None

    def __getattr__(self, name: str) -> Any:
        # Only the tree's own methods and attributes: copying or pickling the stand-in
        # (whose own attributes may not be set yet) must not parse.
        if name.startswith("_"):
            raise AttributeError(name)
        if self._tree is None:
            from fsql.project.expressions import parse_expression

            self._tree = parse_expression(self._text, self._dialect)
        return getattr(self._tree, name)

    def __repr__(self) -> str:
        return f"ExpressionText({self._text!r})"


@dataclass
class Snapshot:
    """One project's snapshot as found: `project` when it matches the inputs now."""

    path: Path
    digest: str  # of the inputs now, under the environment variables recorded
    env: tuple[str, ...]
    project: Project | None
    current: bool = False  # taken from the inputs as they are now


@dataclass(frozen=True)
class Inputs:
    """What a parse is asked for: the arguments of `load_project` and the profile."""

    project_dir: str | Path
    target: str | None
    profiles_dir: str | Path | None
    vars: Mapping[str, Any]


def open_snapshot(inputs: Inputs, target_path: Path, load: bool = True) -> Snapshot:
    """The snapshot in `target_path`, with its project when it was taken from the inputs
    as they are now (None otherwise: no file, another fsql, anything changed).
    `load=False`: only whether it is current, its project not decoded."""
    path = target_path / SNAPSHOT_FILE
    try:
        doc = orjson.loads(path.read_bytes())
        env = tuple(str(n) for n in doc["env"])
    except (OSError, ValueError, TypeError, KeyError):
        doc, env = None, ()
    digest = _digest(inputs, env)
    project = None
    current = doc is not None and doc.get("inputs") == digest
    if current and load:
        try:
            project = project_from_json(doc["project"])
        except Exception:  # not what this fsql writes (a refs cycle, bad types): parse
            current = False
    return Snapshot(path, digest, env, project, current)


def save_snapshot(snapshot: Snapshot, inputs: Inputs, project: Project) -> None:
    """Record `project`, parsed from the inputs `snapshot` was opened with. Nothing is
    written when an input changed while it was parsed (the digest taken again differs):
    the snapshot would describe files that no longer exist. Best effort: a target/ that
    cannot be written only costs the next read a parse."""
    now = _digest(inputs, snapshot.env)  # as `open_snapshot` took it, before the parse
    if now != snapshot.digest:
        return
    digest = now if project.env_read == snapshot.env else _digest(inputs, project.env_read)
    doc = {"inputs": digest, "env": list(project.env_read), "project": project_to_json(project)}
    tmp = snapshot.path.with_name(f".{snapshot.path.name}.{os.getpid()}")
    try:
        snapshot.path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(orjson.dumps(doc))
        os.replace(tmp, snapshot.path)
    except (OSError, TypeError):  # TypeError: vars orjson cannot write
        tmp.unlink(missing_ok=True)


def _digest(inputs: Inputs, env: tuple[str, ...]) -> str:
    digest, _, _ = inputs_digest(
        inputs.project_dir, inputs.target, inputs.profiles_dir, inputs.vars, env
    )
    return digest


# -- Project <-> JSON -----------------------------------------------------------------------------


def project_to_json(project: Project) -> dict[str, Any]:
    """Plain JSON values (vars as JSON has them: a date var comes back as text, which
    nothing a read does looks at)."""
    return {
        "name": project.name,
        "root": str(project.root),
        "dialect": project.dialect,
        "profile": project.profile,
        "vars": project.vars,
        "target_path": str(project.target_path),
        "env_read": list(project.env_read),
        "entities": [
            [e.name, list(e.join_keys), e.description, e.file, e.line]
            for e in project.entities.values()
        ],
        "sources": [_source(s) for s in project.sources.values()],
        "views": [view_to_json(v) for v in project.views.values()],
        "services": [_service(s) for s in project.services.values()],
        "on_demand": [_on_demand(o) for o in project.on_demand.values()],
    }


def project_from_json(doc: Mapping[str, Any]) -> Project:
    """The project a snapshot holds; on-demand expressions are parsed again from their
    text when first used, as the project parse did."""
    tree = UnloadedTree()
    views = {v.name: v for v in (view_from_json(d, tree) for d in doc["views"])}
    entities = {
        name: Entity(name, tuple(keys), description, file, line)
        for name, keys, description, file, line in doc["entities"]
    }
    sources = {
        (group, name): Source(group, name, None if path is None else Path(path), ident, file, line)
        for group, name, path, ident, file, line in doc["sources"]
    }
    services = {
        name: FeatureService(name, tuple(_unref(r) for r in refs), description, file, line, rate)
        for name, refs, description, file, line, rate in doc["services"]
    }
    on_demand = {
        name: OnDemandFeature(
            name,
            FeatureType(ftype),
            cast("exp.Expr", ExpressionText(text, doc["dialect"])),
            tuple(RequestColumn(c, FeatureType(t)) for c, t in columns),
            tuple(_unref(r) for r in inputs),
            file,
            line,
            text,
        )
        for name, ftype, text, columns, inputs, file, line in doc["on_demand"]
    }
    return Project(
        name=doc["name"],
        root=Path(doc["root"]),
        dialect=doc["dialect"],
        profile=doc["profile"],
        vars=dict(doc["vars"]),
        entities=entities,
        sources=sources,
        views=views,
        services=services,
        on_demand=on_demand,
        target_path=Path(doc["target_path"]),
        dag=Dag({n: v.refs for n, v in views.items()}, {n: v.sql_path for n, v in views.items()}),
        env_read=tuple(doc["env_read"]),
    )


def _source(s: Source) -> list[Any]:
    path = None if s.path is None else str(s.path)
    return [s.source_name, s.name, path, s.identifier, s.file, s.line]


def _service(s: FeatureService) -> list[Any]:
    refs = [_ref(r) for r in s.features]
    return [s.name, refs, s.description, s.file, s.line, s.log_sample_rate]


def _on_demand(o: OnDemandFeature) -> list[Any]:
    columns = [[c.name, c.type.value] for c in o.request_columns]
    inputs = [_ref(r) for r in o.inputs]
    return [o.name, o.type.value, o.text, columns, inputs, o.file, o.line]


def _ref(ref: FeatureRef) -> list[Any]:
    return [ref.view, ref.feature, ref.alias, [list(pair) for pair in ref.key_map]]


def _unref(data: list[Any]) -> FeatureRef:
    view, feature, alias, key_map = data
    return FeatureRef(view, feature, alias, tuple((k, e) for k, e in key_map))


def project_for_reads(inputs: Inputs, target_path: Path) -> Project:
    """The project from its snapshot when the inputs are unchanged; otherwise parsed
    (raising every problem, as any command would) and snapshotted for the next read."""
    snapshot = open_snapshot(inputs, target_path)
    if snapshot.project is not None:
        return snapshot.project
    from fsql.project.load import load_project

    project = load_project(inputs.project_dir, dict(inputs.vars))
    save_snapshot(snapshot, inputs, project)
    return project
