"""Assemble a validated `Project` from files, collecting every error in one pass.

Each problem becomes a ProjectError with its file and line; all of them are
raised together at the end, so a user fixes a project in one round, not ten.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from fsql.config.project_file import ProjectConfig, load_project_config
from fsql.config.yaml_lines import LineDict, line_of, load_yaml_file
from fsql.definitions.durations import parse_duration
from fsql.definitions.models import (
    Entity,
    Feature,
    FeatureRef,
    FeatureService,
    FeatureView,
    OnDemandFeature,
    Project,
    RequestColumn,
    Source,
    content_hash,
)
from fsql.definitions.types import FeatureType
from fsql.errors import ProjectError, raise_collected
from fsql.graph.dag import Dag
from fsql.project.files import ProjectFiles, discover
from fsql.project.jinja import ModelRenderer, read_macros

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TOP_KEYS = {
    "version",
    "entities",
    "sources",
    "feature_views",
    "feature_services",
    "on_demand_features",
}
_VIEW_KEYS = {
    "name",
    "entities",
    "timestamp",
    "created_timestamp",
    "ttl",
    "online",
    "schedule",
    "materialized",
    "lookback",
    "tags",
    "features",
    "description",
}


def _hint_names(name: str, known: Any) -> str:
    close = difflib.get_close_matches(name, list(known), n=3)
    return (
        f"did you mean {', '.join(close)}?"
        if close
        else f"known: {', '.join(sorted(known)) or 'none'}"
    )


class _Collector:
    def __init__(self) -> None:
        self.errors: list[ProjectError] = []

    def add(
        self,
        message: str,
        file: str | None = None,
        line: int | None = None,
        hint: str | None = None,
        column: int | None = None,
    ) -> None:
        self.errors.append(ProjectError(message, file=file, line=line, hint=hint, column=column))


def _items(doc: dict, key: str, display: str, errs: _Collector) -> list[LineDict]:
    value = doc.get(key) or []
    if not isinstance(value, list):
        errs.add(f"'{key}' must be a list", display, line_of(doc))
        return []
    good = []
    for item in value:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            errs.add(f"every entry of '{key}' needs a name", display, line_of(item) or line_of(doc))
        elif not _IDENT.match(item["name"]):
            errs.add(
                f"{key} name '{item['name']}' must be letters, digits and _", display, line_of(item)
            )
        else:
            good.append(item)
    return good


def load_project(project_dir: str | Path = ".", cli_vars: dict[str, Any] | None = None) -> Project:
    """Read, render, parse and validate a project; raise every problem at once."""
    config = load_project_config(Path(project_dir), cli_vars)
    files = discover(config)
    return _Builder(config, files).build()


class _Builder:
    def __init__(self, config: ProjectConfig, files: ProjectFiles) -> None:
        self.config = config
        self.files = files
        self.errs = _Collector()
        self.entities: dict[str, Entity] = {}
        self.sources: dict[tuple[str, str], Source] = {}
        self.view_docs: dict[str, tuple[LineDict, str]] = {}
        self.duplicates: set[str] = set()
        self.service_docs: list[tuple[LineDict, str]] = []
        self.odf_docs: list[tuple[LineDict, str]] = []

    def build(self) -> Project:
        for path in self.files.yml:
            self._read_yml(path)
        if self.errs.errors and any("invalid YAML" in e.message for e in self.errs.errors):
            # A file that does not parse hides what it declares: checking the rest now
            # would only report consequences. Fix the YAML first.
            raise_collected(self.errs.errors)
        sql_files: dict[str, Path] = {}
        for path in self.files.sql:
            if path.stem in sql_files:
                self.errs.add(
                    f"two models named '{path.stem}' (also {self.files.rel(sql_files[path.stem])})",
                    self.files.rel(path),
                    hint="model file names must be unique",
                )
            sql_files[path.stem] = path
        renderer = self._renderer()
        views: dict[str, FeatureView] = {}
        for name, (doc, display) in self.view_docs.items():
            if name in self.duplicates:
                continue  # reported once; checking either copy would only add noise
            if name not in sql_files:
                self.errs.add(
                    f"feature view '{name}' has no SQL file",
                    display,
                    line_of(doc),
                    hint=f"create {self.config.model_paths[0]}/{name}.sql",
                )
                continue
            if renderer is None:
                continue
            view = self._view(doc, display, sql_files[name], renderer)
            if view is not None:
                views[name] = view
        for stem, path in sql_files.items():
            if stem not in self.view_docs:
                self.errs.add(
                    f"model '{stem}' has no feature_views entry",
                    self.files.rel(path),
                    hint=f"add '- name: {stem}' under feature_views in a .yml file",
                )
        self._check_refs(views)
        order: tuple[str, ...] = tuple(sorted(views))
        if not self.errs.errors:
            try:
                dag = Dag(
                    {v.name: v.refs for v in views.values()},
                    {v.name: v.sql_path for v in views.values()},
                )
                order = dag.order
            except ProjectError as err:
                self.errs.errors.append(err)
        services = self._services(views)
        on_demand = self._on_demand(views)
        raise_collected(self.errs.errors)
        return Project(
            name=self.config.name,
            root=self.config.root,
            dialect=self.config.dialect,
            profile=self.config.profile,
            vars=dict(self.config.vars),
            entities=self.entities,
            sources=self.sources,
            views={n: views[n] for n in order},
            services=services,
            on_demand=on_demand,
            target_path=self.config.root / self.config.target_path,
        )

    # -- YAML ---------------------------------------------------------------------------------

    def _read_yml(self, path: Path) -> None:
        display = self.files.rel(path)
        try:
            doc = load_yaml_file(path, display)
        except ProjectError as err:
            self.errs.errors.append(err)
            return
        if doc is None:
            return
        if not isinstance(doc, dict):
            self.errs.add("a metadata file must be a mapping", display, 1)
            return
        for key in doc:
            if key not in _TOP_KEYS:
                self.errs.add(
                    f"unknown section '{key}'",
                    display,
                    line_of(doc),
                    hint="sections: " + ", ".join(sorted(_TOP_KEYS - {"version"})),
                )
        for item in _items(doc, "entities", display, self.errs):
            self._entity(item, display)
        for group in _items(doc, "sources", display, self.errs):
            self._source_group(group, display)
        for item in _items(doc, "feature_views", display, self.errs):
            name = item["name"]
            if name in self.view_docs:
                self.errs.add(
                    f"duplicate feature view '{name}' (also in {self.view_docs[name][1]})",
                    display,
                    line_of(item),
                    hint="feature view names must be unique",
                )
                self.duplicates.add(name)
            else:
                self.view_docs[name] = (item, display)
        self.service_docs += [
            (i, display) for i in _items(doc, "feature_services", display, self.errs)
        ]
        self.odf_docs += [
            (i, display) for i in _items(doc, "on_demand_features", display, self.errs)
        ]

    def _entity(self, item: LineDict, display: str) -> None:
        name = item["name"]
        keys = item.get("join_keys")
        if isinstance(keys, str):
            keys = [keys]
        if (
            not isinstance(keys, list)
            or not keys
            or not all(isinstance(k, str) and _IDENT.match(k) for k in keys)
        ):
            self.errs.add(
                f"entity '{name}' needs join_keys: a list of column names", display, line_of(item)
            )
            return
        if name in self.entities:
            self.errs.add(
                f"duplicate entity '{name}' (also in {self.entities[name].file})",
                display,
                line_of(item),
            )
            return
        self.entities[name] = Entity(
            name, tuple(keys), str(item.get("description", "")), display, line_of(item)
        )

    def _source_group(self, group: LineDict, display: str) -> None:
        tables = group.get("tables") or []
        if not isinstance(tables, list):
            self.errs.add(
                f"source '{group['name']}': tables must be a list", display, line_of(group)
            )
            return
        for table in tables:
            if (
                not isinstance(table, dict)
                or not isinstance(table.get("name"), str)
                or not _IDENT.match(table["name"])
            ):
                self.errs.add(
                    f"source '{group['name']}': every table needs a name (letters, digits and _)",
                    display,
                    line_of(table) or line_of(group),
                )
                continue
            key = (group["name"], table["name"])
            path, ident = table.get("path"), table.get("identifier")
            if (path is None) == (ident is None):
                self.errs.add(
                    f"source table {key[0]}.{key[1]} needs exactly one of path or identifier",
                    display,
                    line_of(table),
                )
                continue
            if key in self.sources:
                self.errs.add(f"duplicate source table {key[0]}.{key[1]}", display, line_of(table))
                continue
            self.sources[key] = Source(
                key[0],
                key[1],
                Path(str(path)) if path is not None else None,
                str(ident) if ident is not None else None,
                display,
                line_of(table),
            )

    # -- models -------------------------------------------------------------------------------

    def _renderer(self) -> ModelRenderer | None:
        try:
            macros = read_macros(list(self.files.macros), self.files.rel)
            return ModelRenderer(self.config.vars, macros)
        except ProjectError as err:
            self.errs.errors.append(err)
            return None

    def _parse(self, rendered: str, display: str) -> exp.Query | None:
        try:
            statements = [s for s in sqlglot.parse(rendered, read=self.config.dialect) if s]
        except ParseError as err:
            first = err.errors[0] if err.errors else {}
            desc = str(first.get("description") or err).split("\n")[0]
            self.errs.add(
                f"SQL syntax error: {desc}",
                display,
                first.get("line"),
                column=first.get("col"),
                hint="fix the SQL (line numbers are of the rendered model, see target/compiled)",
            )
            return None
        except TokenError as err:
            self.errs.add(f"SQL syntax error: {err}", display, hint="fix the SQL")
            return None
        if len(statements) != 1 or not isinstance(statements[0], exp.Query):
            self.errs.add(
                "a model must be exactly one SELECT statement",
                display,
                1,
                hint="remove extra statements and trailing DDL",
            )
            return None
        return statements[0]

    def _duration(self, doc: LineDict, key: str, display: str) -> Any:
        if doc.get(key) is None:
            return None
        try:
            return parse_duration(doc[key])
        except ValueError as err:
            self.errs.add(f"feature view '{doc['name']}': {key}: {err}", display, line_of(doc))
            return None

    def _view(
        self, doc: LineDict, display: str, sql_path: Path, renderer: ModelRenderer
    ) -> FeatureView | None:
        name, line = doc["name"], line_of(doc)
        before = len(self.errs.errors)
        for key in doc:
            if key not in _VIEW_KEYS:
                self.errs.add(
                    f"feature view '{name}': unknown key '{key}'",
                    display,
                    line,
                    hint="keys: " + ", ".join(sorted(_VIEW_KEYS)),
                )
        ents = doc.get("entities") or []
        if isinstance(ents, str):
            ents = [ents]
        join_keys: list[str] = []
        if not ents or not isinstance(ents, list):
            self.errs.add(f"feature view '{name}' needs entities: [...]", display, line)
        for ent in ents if isinstance(ents, list) else []:
            if ent not in self.entities:
                self.errs.add(
                    f"feature view '{name}': unknown entity '{ent}'",
                    display,
                    line,
                    hint=_hint_names(str(ent), self.entities),
                )
            else:
                join_keys += [k for k in self.entities[ent].join_keys if k not in join_keys]
        timestamp = doc.get("timestamp")
        if not isinstance(timestamp, str) or not timestamp:
            self.errs.add(
                f"feature view '{name}' needs timestamp: <event-time column>", display, line
            )
            timestamp = "event_timestamp"
        created = doc.get("created_timestamp")
        ttl = self._duration(doc, "ttl", display)
        schedule = self._duration(doc, "schedule", display)
        lookback = self._duration(doc, "lookback", display)
        materialized = str(doc.get("materialized", "table"))
        if materialized not in ("table", "incremental"):
            self.errs.add(
                f"feature view '{name}': materialized must be table or incremental", display, line
            )
        online = doc.get("online", False)
        if not isinstance(online, bool):
            self.errs.add(f"feature view '{name}': online must be true or false", display, line)
        tags = doc.get("tags") or []
        tags = [tags] if isinstance(tags, str) else tags
        features = self._features(doc, display, set(join_keys) | {timestamp, created})
        rel = self.files.rel(sql_path)
        try:
            text = sql_path.read_text(encoding="utf-8")
            rendered, record = renderer.render(text, rel, name, incremental=False)
            rendered_inc, record_inc = renderer.render(text, rel, name, incremental=True)
        except ProjectError as err:
            self.errs.errors.append(err)
            return None
        query = self._parse(rendered, rel)
        inc_query = self._parse(rendered_inc, rel) if rendered_inc != rendered else query
        if query is None or inc_query is None or len(self.errs.errors) > before:
            return None
        outputs = output_columns(query)
        if outputs is not None:
            have = {c.lower() for c in outputs}
            wanted = [
                *join_keys,
                timestamp,
                *([created] if created else []),
                *(f.name for f in features),
            ]
            for col in wanted:
                if col.lower() not in have:
                    self.errs.add(
                        f"feature view '{name}': the SQL does not output column '{col}'",
                        rel,
                        hint=f"add it to the SELECT list (declared in {display})",
                    )
        meta_view = FeatureView(
            name=name,
            entities=tuple(ents),
            join_keys=tuple(join_keys),
            timestamp=timestamp,
            features=tuple(features),
            query=query,
            incremental_query=inc_query,
            rendered_sql=rendered,
            sql_path=rel,
            yml_path=display,
            yml_line=line,
            created_timestamp=created,
            ttl=ttl,
            online=bool(online),
            schedule=schedule,
            materialized=materialized,
            lookback=lookback,
            tags=tuple(str(t) for t in tags),
            description=str(doc.get("description", "")),
            # Both renderings count: a ref() only inside {% if is_incremental() %} is
            # still an edge of the DAG and an input to check.
            refs=tuple(dict.fromkeys([*record.refs, *record_inc.refs])),
            sources=tuple(dict.fromkeys([*record.sources, *record_inc.sources])),
            output_columns=tuple(outputs) if outputs else None,
        )
        normalized = query.sql(dialect=self.config.dialect, comments=False)
        if inc_query is not query:
            normalized += "\n" + inc_query.sql(dialect=self.config.dialect, comments=False)
        digest = content_hash(normalized, meta_view.metadata())
        return FeatureView(**{**meta_view.__dict__, "content_hash": digest})

    def _features(self, doc: LineDict, display: str, reserved: set) -> list[Feature]:
        raw = doc.get("features") or []
        out: list[Feature] = []
        if not isinstance(raw, list) or not raw:
            self.errs.add(
                f"feature view '{doc['name']}' declares no features",
                display,
                line_of(doc),
                hint="add features: [{name: ..., type: ...}]",
            )
            return out
        seen: set[str] = set()
        for item in raw:
            if (
                not isinstance(item, dict)
                or not isinstance(item.get("name"), str)
                or not _IDENT.match(item["name"])
            ):
                self.errs.add(
                    f"feature view '{doc['name']}': every feature needs a name "
                    "(letters, digits and _)",
                    display,
                    line_of(item) or line_of(doc),
                )
                continue
            fname = item["name"]
            try:
                ftype = FeatureType.parse(item.get("type"))
            except ValueError as err:
                self.errs.add(f"feature '{doc['name']}:{fname}': {err}", display, line_of(item))
                continue
            if fname in seen or fname in reserved:
                self.errs.add(
                    f"feature '{doc['name']}:{fname}' is declared twice or is a key or "
                    "timestamp column",
                    display,
                    line_of(item),
                )
                continue
            seen.add(fname)
            out.append(Feature(fname, ftype, str(item.get("description", ""))))
        return out

    def _check_refs(self, views: dict[str, FeatureView]) -> None:
        for view in views.values():
            for ref in view.refs:
                if ref == view.name:
                    self.errs.add(
                        f"feature view '{view.name}' refs itself",
                        view.sql_path,
                        hint="use {{ this }} for the view's own table",
                    )
                elif ref not in views and ref not in self.view_docs:
                    self.errs.add(
                        f"ref('{ref}'): no feature view of that name",
                        view.sql_path,
                        hint=_hint_names(ref, self.view_docs),
                    )
            for key in view.sources:
                if key not in self.sources:
                    known = [f"{s}.{t}" for s, t in self.sources]
                    self.errs.add(
                        f"source('{key[0]}', '{key[1]}'): no such source table",
                        view.sql_path,
                        hint=_hint_names(f"{key[0]}.{key[1]}", known),
                    )

    def _services(self, views: dict[str, FeatureView]) -> dict[str, FeatureService]:
        out: dict[str, FeatureService] = {}
        for doc, display in self.service_docs:
            name = doc["name"]
            refs: list[FeatureRef] = []
            raw = doc.get("features") or []
            for text in raw if isinstance(raw, list) else []:
                try:
                    ref = FeatureRef.parse(str(text))
                except ValueError as err:
                    self.errs.add(f"feature service '{name}': {err}", display, line_of(doc))
                    continue
                problem = check_ref(ref, views, set(self.view_docs))
                if problem:
                    self.errs.add(f"feature service '{name}': {problem}", display, line_of(doc))
                refs.append(ref)
            if not refs:
                self.errs.add(f"feature service '{name}' lists no features", display, line_of(doc))
            if name in out:
                self.errs.add(f"duplicate feature service '{name}'", display, line_of(doc))
            out[name] = FeatureService(
                name, tuple(refs), str(doc.get("description", "")), display, line_of(doc)
            )
        return out

    def _on_demand(self, views: dict[str, FeatureView]) -> dict[str, OnDemandFeature]:
        out: dict[str, OnDemandFeature] = {}
        for doc, display in self.odf_docs:
            name, line = doc["name"], line_of(doc)
            try:
                ftype = FeatureType.parse(doc.get("type"))
                expression = sqlglot.parse_one(
                    str(doc.get("expression", "")), read=self.config.dialect
                )
            except (ValueError, ParseError, TokenError) as err:
                self.errs.add(
                    f"on-demand feature '{name}': {str(err).splitlines()[0]}", display, line
                )
                continue
            cols = []
            for col in doc.get("request_columns") or []:
                try:
                    cols.append(RequestColumn(str(col["name"]), FeatureType.parse(col["type"])))
                except (KeyError, TypeError, ValueError):
                    self.errs.add(
                        f"on-demand feature '{name}': request_columns entries need name and type",
                        display,
                        line,
                    )
            inputs = []
            for text in doc.get("inputs") or []:
                try:
                    ref = FeatureRef.parse(str(text))
                except ValueError as err:
                    self.errs.add(f"on-demand feature '{name}': {err}", display, line)
                    continue
                problem = check_ref(ref, views, set(self.view_docs))
                if problem:
                    self.errs.add(f"on-demand feature '{name}': {problem}", display, line)
                inputs.append(ref)
            if name in out:
                self.errs.add(f"duplicate on-demand feature '{name}'", display, line,
                              hint="on-demand feature names must be unique")
                continue
            out[name] = OnDemandFeature(
                name, ftype, expression, tuple(cols), tuple(inputs), display, line
            )
        return out


def check_ref(ref: FeatureRef, views: dict[str, FeatureView], declared: set[str]) -> str | None:
    """Why `ref` does not name a feature of the project, or None when it does."""
    if ref.view not in views:
        if ref.view in declared:
            return None  # the view itself has errors, reported elsewhere
        return f"unknown feature view '{ref.view}' ({_hint_names(ref.view, views)})"
    if ref.feature is not None and views[ref.view].feature(ref.feature) is None:
        return (
            f"feature view '{ref.view}' has no feature '{ref.feature}' "
            f"({_hint_names(ref.feature, views[ref.view].feature_names)})"
        )
    return None


def output_columns(query: exp.Query) -> list[str] | None:
    """The model's output column names when the select list makes them known."""
    select = query
    while isinstance(select, exp.SetOperation):
        select = select.this
    if not isinstance(select, exp.Select):
        return None
    for projection in select.expressions:
        if isinstance(projection, exp.Star) or (
            isinstance(projection, exp.Column) and isinstance(projection.this, exp.Star)
        ):
            return None
    return list(select.named_selects)
