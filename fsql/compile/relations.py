"""Swapping ref()/source() placeholders for each target's real relations.

Rendering leaves `__fsql_ref__view` and `__fsql_src__source__table` table names in
a model; this module replaces those nodes on a copy of the parsed tree, so the same
definition compiles to DuckDB file scans, Snowflake tables or BigQuery tables.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlglot import exp

from fsql.definitions.models import Source
from fsql.dialects.base import EngineDialect
from fsql.errors import ProjectError
from fsql.project.jinja import REF_PREFIX, SRC_PREFIX

_FILE_READERS = {"parquet": "read_parquet", "csv": "read_csv"}


@dataclass(frozen=True)
class Relations:
    """Names of view tables and source relations for one target."""

    dialect: EngineDialect
    sources: Mapping[tuple[str, str], Source]
    schema: str | None = None

    def view_table(self, view: str) -> exp.Table:
        table = exp.Table(this=exp.to_identifier(view))
        if self.schema:
            table.set("db", exp.to_identifier(self.schema))
        return table

    def source_relation(self, source: Source) -> exp.Table:
        if source.identifier is not None:
            return exp.to_table(source.identifier, dialect=self.dialect.sqlglot_dialect)
        if self.dialect.name != "duckdb":
            raise ProjectError(
                f"source {source.source_name}.{source.name} is a file ({source.path}); "
                f"{self.dialect.name} reads warehouse tables only",
                file=source.file,
                line=source.line,
                hint="give it an identifier: instead",
            )
        reader = _FILE_READERS[source.file_format or "parquet"]
        path = exp.Literal.string(source.path.as_posix() if source.path else "")
        return exp.Table(this=exp.Anonymous(this=reader, expressions=[path]))

    def _source_by_placeholder(self, name: str) -> Source | None:
        for (src, table), source in self.sources.items():
            if name == f"{SRC_PREFIX}{src}__{table}".lower():
                return source
        return None

    def resolve(self, query: exp.Query) -> exp.Query:
        """A copy of `query` with every placeholder table replaced."""

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

        return query.copy().transform(swap, copy=False)
