"""Building one FeatureView: metadata checks, Jinja rendering, parsing, output columns,
and the content hash of its normalised SQL and metadata."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from fsql.config.yaml_lines import LineDict, line_of, read_text
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
    reserved_column,
)
from fsql.project.columns import expanded_columns, listed_columns
from fsql.project.engine_parse import duckdb_syntax_error, empty_list_item, line_and_column
from fsql.project.jinja import ModelRenderer, read_macros, ref_placeholder, source_placeholder
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
        except RecursionError:
            # sqlglot parses nested expressions recursively: a few hundred levels of
            # parentheses exhaust Python's stack.
            self.errs.add(
                "SQL nested too deeply to parse",
                display,
                hint="flatten the expression, e.g. with CTEs",
            )
            return None
        if len(statements) != 1 or not isinstance(statements[0], exp.Query):
            self.errs.add(
                "a model must be exactly one SELECT statement",
                display,
                1,
                hint="remove extra statements and trailing DDL",
            )
            return None
        empty = None if self.config.dialect == "duckdb" else empty_list_item(tokens)
        if empty is not None:  # DuckDB's own parser, below, says the same with its words
            line, exact = template_line(template or rendered, rendered, empty.line)
            self.errs.add(
                "SQL syntax error: empty item in a list (a comma with nothing before it)",
                display,
                line,
                column=empty.col if exact else None,
                hint="remove the extra comma",
            )
            return None
        if self.config.dialect == "duckdb":
            problem = duckdb_syntax_error(rendered)
            if problem is not None:
                line = column = None
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
        elif not all(isinstance(e, str) for e in ents):
            self.errs.add(
                f"feature view '{name}': entities must be a list of entity names",
                display,
                line,
                hint=f"e.g. entities: [{next(iter(self.entities), 'user')}]",
            )
            ents = []
        for ent in ents if isinstance(ents, list) else []:
            if ent not in self.entities:
                self.errs.add(
                    f"feature view '{name}': unknown entity '{ent}'",
                    display,
                    line,
                    hint=hint_names(str(ent), self.entities),
                )
            else:  # one column however its entities spell it (engines fold case)
                for key in self.entities[ent].join_keys:
                    if key.casefold() not in {k.casefold() for k in join_keys}:
                        join_keys.append(key)
        timestamp = doc.get("timestamp")
        if not isinstance(timestamp, str) or not IDENT.match(timestamp):
            self.errs.add(
                f"feature view '{name}' needs timestamp: <event-time column> "
                "(letters, digits and _)",
                display,
                line,
            )
            timestamp = "event_timestamp"
        created = doc.get("created_timestamp")
        if created is not None and (not isinstance(created, str) or not IDENT.match(created)):
            self.errs.add(
                f"feature view '{name}': created_timestamp must be a column name "
                "(letters, digits and _)",
                display,
                line,
            )
            created = None
        keys_folded = {k.casefold() for k in join_keys}
        for what, column in (("timestamp", timestamp), ("created_timestamp", created)):
            if column is not None and reserved_column(column):
                self.errs.add(
                    f"feature view '{name}': {what} '{column}' is reserved for fsql's own columns",
                    display,
                    line,
                    hint="rename the column in the model and here",
                )
            elif column is not None and column.casefold() in keys_folded:
                self.errs.add(
                    f"feature view '{name}': {what} '{column}' is also a join key",
                    display,
                    line,
                    hint="name the event-time columns apart from the entities' keys",
                )
        if created is not None and created.casefold() == timestamp.casefold():
            self.errs.add(
                f"feature view '{name}': created_timestamp is the timestamp column itself",
                display,
                line,
                hint="remove created_timestamp, or name the column the row was created at",
            )
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
        if not isinstance(tags, list) or not all(isinstance(t, str) and t for t in tags):
            self.errs.add(
                f"feature view '{name}': tags must be a list of words",
                display,
                line,
                hint="e.g. tags: [core]",
            )
            tags = []
        features = self._features(doc, display, {*join_keys, timestamp, created})
        rel = self.files.rel(sql_path)
        try:
            text = read_text(sql_path, rel)
            rendered, record = renderer.render(text, rel, name, incremental=False)
            rendered_inc, record_inc = renderer.render(text, rel, name, incremental=True)
        except ProjectError as err:
            self.errs.errors.append(err)
            return None
        query = self._parse(rendered, rel, text)
        inc_query = self._parse(rendered_inc, rel, text) if rendered_inc != rendered else query
        if query is None or inc_query is None or len(self.errs.errors) > before:
            return None
        placeholders = {
            record.this,
            *(ref_placeholder(r) for r in (*record.refs, *record_inc.refs)),
            *(source_placeholder(*k) for k in (*record.sources, *record_inc.sources)),
        }
        smuggled = _reserved_tables(query, inc_query, {p.casefold() for p in placeholders})
        if smuggled:
            self.errs.add(
                f"feature view '{name}': table '{smuggled}': names beginning with __fsql are "
                "reserved for fsql",
                rel,
                hint="read views with {{ ref('view') }} and sources with {{ source('s', 't') }}",
            )
            return None
        outputs = output_columns(query)
        wanted = [
            *join_keys,
            timestamp,
            *([created] if created else []),
            *(f.name for f in features),
        ]
        for tree in (query,) if inc_query is query else (query, inc_query):
            listed = outputs if tree is query else output_columns(tree)
            self._check_outputs(name, rel, display, wanted, listed)
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

    def _check_outputs(
        self, view: str, rel: str, display: str, wanted: list[str], have: list[str] | None
    ) -> None:
        """Report each declared column the model does not output (unknown: no report)."""
        if have is None:
            return
        folded = {c.casefold() for c in have}
        missing = [c for c in wanted if c.casefold() not in folded]
        for col in dict.fromkeys(missing):
            self.errs.add(
                f"feature view '{view}': the SQL does not output column '{col}'",
                rel,
                hint=f"select it in the model or remove it from {display}",
            )

    def _check_star_outputs(self, views: dict[str, FeatureView], order: Sequence[str]) -> None:
        """The declared columns of `SELECT *` models, checked in DAG order.

        A star over CTEs, subqueries and ref()'d views is expanded from their columns
        (a parent's table has its model's columns), so the one star model whose
        columns can be known is checked now rather than failing in the engine's words
        at build time. Where a star reads a source, nothing is known until the build.
        """
        known: dict[str, list[str] | None] = {}
        for name in order:
            view = views[name]
            if view.output_columns is not None:
                known[name] = list(view.output_columns)
                continue
            wanted = [*view.join_keys, view.timestamp, *_created(view), *view.feature_names]
            trees: tuple[exp.Query, ...] = (view.query,)
            if view.incremental_query is not view.query:
                trees += (view.incremental_query,)
            for tree in trees:
                columns = expanded_columns(tree, known.get)
                if tree is view.query:
                    known[name] = columns
                if listed_columns(tree) is None:  # a listed one was checked when loaded
                    self._check_outputs(name, view.sql_path, view.yml_path, wanted, columns)

    def _features(self, doc: LineDict, display: str, reserved: set[str | None]) -> list[Feature]:
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
            if folded in seen or folded in {r.casefold() for r in reserved if r is not None}:
                self.errs.add(
                    f"feature '{doc['name']}:{fname}' is declared twice or is a key or "
                    "timestamp column (names are unique regardless of case)",
                    display,
                    line_of(item),
                )
                continue
            if reserved_column(fname):
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
                if key not in self.sources and key not in self.bad_sources:
                    known = [f"{s}.{t}" for s, t in self.sources]
                    self.errs.add(
                        f"source('{key[0]}', '{key[1]}'): no such source table",
                        view.sql_path,
                        hint=hint_names(f"{key[0]}.{key[1]}", known),
                    )


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


def _reserved_tables(query: exp.Query, inc_query: exp.Query, rendered: set[str]) -> str | None:
    """A table named like a ref()/source() placeholder that no ref() or source() wrote.

    The compiler swaps every such name for a real relation, so spelling one out would
    read a view without a DAG edge (built in any order, never checked) or a source
    without declaring it.
    """
    for tree in (query,) if inc_query is query else (query, inc_query):
        for table in tree.find_all(exp.Table):
            name = table.name
            if name.casefold().startswith("__fsql") and name.casefold() not in rendered:
                return name
    return None


def output_columns(query: exp.Query) -> list[str] | None:
    """The model's output column names when the select list makes them known."""
    return listed_columns(query)


def _created(view: FeatureView) -> tuple[str, ...]:
    return (view.created_timestamp,) if view.created_timestamp else ()
