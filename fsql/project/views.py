"""Building one FeatureView: metadata checks, Jinja rendering, parsing, output columns,
and the content hash of its normalised SQL and metadata."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from fsql.config.yaml_lines import LineDict, line_of
from fsql.definitions.durations import parse_duration
from fsql.definitions.models import (
    Feature,
    FeatureView,
    content_hash,
)
from fsql.definitions.types import FeatureType
from fsql.errors import ProjectError
from fsql.project.collect import (
    IDENT,
    VIEW_KEYS,
    BuildState,
    hint_names,
)
from fsql.project.engine_parse import duckdb_syntax_error, line_and_column
from fsql.project.jinja import ModelRenderer, read_macros
from fsql.project.lines import template_line


class ViewsMixin(BuildState):
    def _renderer(self) -> ModelRenderer | None:
        try:
            macros = read_macros(list(self.files.macros), self.files.rel)
            return ModelRenderer(self.config.vars, macros)
        except ProjectError as err:
            self.errs.errors.append(err)
            return None

    def _parse(self, rendered: str, display: str, template: str = "") -> exp.Query | None:
        try:
            dialect = sqlglot.Dialect.get_or_raise(self.config.dialect)
            tokens = dialect.tokenize(rendered)
            self._tokens[rendered] = tokens
            statements = [s for s in dialect.parser().parse(tokens, rendered) if s]
        except ParseError as err:
            first = err.errors[0] if err.errors else {}
            desc = str(first.get("description") or err).split("\n")[0]
            line, column = first.get("line"), first.get("col")
            hint = "fix the SQL"
            if line is not None:
                line, exact = template_line(template or rendered, rendered, line)
                if not exact:
                    column = None
                    hint += " (line of the rendered model; see target/compiled/.../model.sql)"
            self.errs.add(f"SQL syntax error: {desc}", display, line, column=column, hint=hint)
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
        if self.config.dialect == "duckdb":
            problem = duckdb_syntax_error(rendered)
            if problem is not None:
                line: int | None = None
                column: int | None = None
                hint = "fix the SQL"
                if problem.offset is not None:
                    line, column = line_and_column(rendered, problem.offset)
                    line, exact = template_line(template or rendered, rendered, line)
                    if not exact:
                        column = None
                        hint += " (line of the rendered model; see target/compiled/.../model.sql)"
                self.errs.add(
                    f"SQL syntax error: {problem.message} (DuckDB's parser)",
                    display,
                    line,
                    column=column,
                    hint=hint,
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
            if key not in VIEW_KEYS:
                self.errs.add(
                    f"feature view '{name}': unknown key '{key}'",
                    display,
                    line,
                    hint=hint_names(str(key), sorted(VIEW_KEYS)),
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
                    hint=hint_names(str(ent), self.entities),
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
        if materialized not in ("view", "table", "incremental"):
            self.errs.add(
                f"feature view '{name}': materialized must be view, table or incremental",
                display,
                line,
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
        query = self._parse(rendered, rel, text)
        inc_query = self._parse(rendered_inc, rel, text) if rendered_inc != rendered else query
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
        normalized = normalized_tokens(self._tokens.pop(rendered, []))
        if inc_query is not query:
            normalized += "\n" + normalized_tokens(self._tokens.pop(rendered_inc, []))
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
                or not IDENT.match(item["name"])
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
            folded = fname.casefold()
            if folded in seen or folded in {str(r).casefold() for r in reserved}:
                self.errs.add(
                    f"feature '{doc['name']}:{fname}' is declared twice or is a key or "
                    "timestamp column (names are unique regardless of case)",
                    display,
                    line_of(item),
                )
                continue
            if folded.startswith("__fsql") or folded in _STORE_COLUMNS:
                self.errs.add(
                    f"feature '{doc['name']}:{fname}': the name is reserved for fsql's own columns",
                    display,
                    line_of(item),
                    hint="rename the feature",
                )
                continue
            seen.add(folded)
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
                        # A view cannot ref itself: never suggest it.
                        hint=hint_names(ref, [v for v in self.view_docs if v != view.name]),
                    )
            for key in view.sources:
                if key not in self.sources:
                    known = [f"{s}.{t}" for s, t in self.sources]
                    self.errs.add(
                        f"source('{key[0]}', '{key[1]}'): no such source table",
                        view.sql_path,
                        hint=hint_names(f"{key[0]}.{key[1]}", known),
                    )


# The columns online stores keep beside the features (fsql.online.base).
_STORE_COLUMNS = frozenset({"__event_ts", "__created_ts", "__version"})

_KEEP_CASE = {"VAR", "IDENTIFIER", "STRING", "NUMBER", "NATIONAL_STRING", "RAW_STRING"}


def normalized_tokens(tokens: list) -> str:
    """The SQL as its token stream: whitespace, comments and keyword case do not count.

    Hashing tokens rather than regenerated SQL keeps the hash of a definition stable
    across formatting changes and costs a fraction of a generator pass per model.
    """
    parts = []
    for token in tokens:
        kind = token.token_type.name
        text = token.text if kind in _KEEP_CASE else token.text.upper()
        parts.append(f"{kind}:{text}")
    return " ".join(parts)


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
