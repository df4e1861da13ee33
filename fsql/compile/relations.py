"""Swapping ref()/source() placeholders for each target's real relations.

Rendering leaves `__fsql_ref__view` and `__fsql_src__source__table` table names in
a model; this module replaces those nodes on a copy of the parsed tree, so the same
definition compiles to DuckDB file scans, Snowflake tables or BigQuery tables.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect, NormalizationStrategy

from fsql.definitions.models import Source
from fsql.dialects.base import EngineDialect
from fsql.errors import ProjectError
from fsql.project.identifiers import IDENTIFIER_HINT, IdentifierError, parse_identifier, shown
from fsql.project.jinja import REF_PREFIX, SRC_PREFIX

_FILE_READERS = {"parquet": "read_parquet", "csv": "read_csv"}
_PLAIN_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@functools.cache
def _case_insensitive(dialect: str) -> bool:
    return Dialect.get_or_raise(dialect).normalization_strategy is (
        NormalizationStrategy.CASE_INSENSITIVE
    )


def _unquote_plain_names(query: exp.Expr) -> None:
    """Drop quotes that meant nothing in the model's dialect (see `Relations.resolve`)."""
    for identifier in query.find_all(exp.Identifier):
        if identifier.quoted and _PLAIN_NAME.match(identifier.name):
            identifier.set("quoted", False)


@dataclass(frozen=True)
class Relations:
    """Names of view tables and source relations for one target.

    View tables are unqualified unless `schema` is given: the connection's current
    database and schema (profiles.yml) say where they live. `catalog` qualifies them
    further (BigQuery's project: `project.dataset.view` from `catalog` and `schema`);
    it means nothing without a schema. `model_dialect` is the dialect models are
    written in. Each part is one identifier, never parsed: a dotted or dashed name
    stays one name.
    """

    dialect: EngineDialect
    sources: Mapping[tuple[str, str], Source]
    schema: str | None = None
    model_dialect: str = "duckdb"
    catalog: str | None = None
    # Where relative file source paths are anchored. DuckDB looks a relative path up in
    # the working directory before its `file_search_path`, so SQL that runs must name
    # the project's files absolutely; compiled SQL made for reading leaves it None.
    file_root: Path | None = None
    # `fsql compile` builds each view's statements once from a project it then drops:
    # models are resolved in place rather than copied (copying a large tree costs more
    # than parsing it), except a tree resolved before (a model that is also its own
    # incremental rendering), which is copied.
    consume_models: bool = False
    _resolved: set[int] = field(default_factory=set, compare=False, repr=False)

    def view_table(self, view: str) -> exp.Table:
        table = exp.Table(this=exp.to_identifier(view))
        if self.schema:
            table.set("db", exp.to_identifier(self.schema))
            if self.catalog:
                table.set("catalog", exp.to_identifier(self.catalog))
        return table

    def source_relation(self, source: Source) -> exp.Table:
        if source.identifier is not None:
            return self._identifier_table(source)
        if not self.dialect.reads_files:
            raise ProjectError(
                f"source {source.source_name}.{source.name} is a file ({source.path}); "
                f"{self.dialect.name} reads warehouse tables only",
                file=source.file,
                line=source.line,
                hint="give it an identifier: instead",
            )
        reader = _FILE_READERS[source.file_format or "parquet"]
        where = source.path or Path("")
        if self.file_root is not None and not where.is_absolute():
            where = self.file_root / where
        path = exp.Literal.string(where.as_posix())
        return exp.Table(this=exp.Anonymous(this=reader, expressions=[path]))

    def _identifier_table(self, source: Source) -> exp.Table:
        """The identifier parsed strictly as a table of the target's dialect.

        Loading accepted a name some engine reads; this target must read it too, and as
        a table name only, never as a function, a comment or anything pasted after it.
        """
        dialect = self.dialect.sqlglot_dialect
        try:
            return parse_identifier(source.identifier, dialect)
        except IdentifierError as err:
            raise ProjectError(
                f"source table {source.source_name}.{source.name}: identifier "
                f"{shown(source.identifier)} is not a {self.dialect.name} table name: {err}",
                file=source.file or None,
                line=source.line,
                hint=IDENTIFIER_HINT,
            ) from None

    def _source_by_placeholder(self, name: str) -> Source | None:
        for (src, table), source in self.sources.items():
            if name == f"{SRC_PREFIX}{src}__{table}".lower():
                return source
        return None

    def resolve(self, query: exp.Query) -> exp.Query:
        """A copy of `query` with every placeholder table replaced.

        A model written in a case-insensitive dialect (DuckDB) quotes names only to
        escape keywords: `"Order"` and `order` are one column there. On an engine
        where quotes make a name case-sensitive (Snowflake), such quotes are dropped
        from plain names first, so the model names the same objects as fsql's own
        unquoted SQL. Source relations are swapped in afterwards and keep theirs.
        """
        if self.consume_models and id(query) not in self._resolved:
            self._resolved.add(id(query))
            resolved = query
        else:
            resolved = query.copy()
        if _case_insensitive(self.model_dialect) and not _case_insensitive(
            self.dialect.sqlglot_dialect
        ):
            _unquote_plain_names(resolved)

        def swap(node: exp.Expression) -> exp.Expression:
            if not isinstance(node, exp.Table) or node.args.get("db"):
                return node
            name = node.name.lower()
            if name.startswith(REF_PREFIX):
                replacement = self.view_table(node.name[len(REF_PREFIX) :])
                default_alias = None
            elif name.startswith(SRC_PREFIX):
                source = self._source_by_placeholder(name)
                if source is None:
                    return node
                replacement = self.source_relation(source)
                default_alias = source.name
            else:
                return node
            alias = node.args.get("alias")
            if alias is not None:
                replacement.set("alias", alias.copy())
            elif default_alias is not None:
                replacement.set("alias", exp.TableAlias(this=exp.to_identifier(default_alias)))
            return replacement

        out = resolved.transform(swap, copy=False)
        assert isinstance(out, exp.Query)  # only tables inside it are swapped
        return out
