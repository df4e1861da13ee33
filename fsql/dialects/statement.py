"""SQL ready for one engine: the text an adapter runs and the parameters it binds.

Compiled trees name their run-time values with sqlglot placeholders
(`exp.Placeholder(this="end")`). `prepare` writes a tree for an engine once, at compile
time, and records which values the text binds, so that an adapter never reads SQL back:
it sends `text` and `values(params)` to its driver as they are.

Engines differ in how values are bound. DuckDB (`$end`) and BigQuery (`@end`) bind by
name: `parameters` lists the names the text uses, and only those are sent (BigQuery
refuses a parameter the query does not use). Snowflake's connector binds server-side by
number (`numeric` paramstyle): the placeholders are numbered `:1`, `:2` in the order
sqlglot meets them, one number per distinct name, and `parameters` gives the names in
number order. Numbers rather than `?`: the order sqlglot walks a tree in need not be the
order it prints it in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlglot import exp

from fsql.errors import RunError


@dataclass(frozen=True)
class Statement:
    """One statement's engine-ready text and the values it binds.

    `tree` is the finished tree the text was written from, kept for engines that must
    have values written into the text instead (fsql.dialects.bigquery's `inline_values`,
    for emulators that refuse query parameters)."""

    text: str
    parameters: tuple[str, ...] = ()
    numbered: bool = False
    tree: exp.Expr | None = field(default=None, compare=False, repr=False)

    def values(self, params: Mapping[str, Any] | None) -> list[Any] | dict[str, Any]:
        """The values to bind: a list in number order, or a mapping of the names used."""
        given = params or {}
        missing = [name for name in self.parameters if name not in given]
        if missing:
            raise RunError(
                f"SQL parameter '{missing[0]}' has no value", hint="this is a bug in fsql"
            )
        if self.numbered:
            return [given[name] for name in self.parameters]
        return {name: given[name] for name in self.parameters}


def _placeholder_name(node: exp.Expr) -> str | None:
    if isinstance(node, exp.Placeholder) and node.name:
        return node.name
    return None


def prepare(
    tree: exp.Expr, dialect: str, numbered: bool = False, pretty: bool = False
) -> Statement:
    """`tree` written for `dialect` (a sqlglot dialect name), with the parameters it binds.

    With `numbered`, named placeholders become `:1`, `:2`, ... in a copy of the tree; the
    tree given is not changed."""
    if not numbered:
        names = dict.fromkeys(
            name for node in tree.walk(bfs=False) if (name := _placeholder_name(node)) is not None
        )
        return Statement(tree.sql(dialect=dialect, pretty=pretty), tuple(names), False, tree)
    numbers: dict[str, int] = {}

    def number(node: exp.Expr) -> exp.Expr:
        name = _placeholder_name(node)
        if name is None:
            return node
        numbers.setdefault(name, len(numbers) + 1)
        return exp.Placeholder(this=str(numbers[name]))

    written = tree.transform(number)
    return Statement(written.sql(dialect=dialect, pretty=pretty), tuple(numbers), True, tree)


def read_upload(tree: exp.Expr, name: str, table: exp.Table) -> exp.Expr:
    """`tree` with each unqualified reference to table `name` pointed at `table` (where an
    adapter put rows registered under that name), aliased back to `name` so that
    `name.column` still resolves. A CTE called `name` is left alone. The tree given is not
    changed; when `table` is simply `name`, it is returned as it is."""
    if not table.db and not table.catalog and table.name == name:
        return tree
    ctes = {cte.alias for cte in tree.find_all(exp.CTE)}
    if name in ctes:
        return tree

    def swap(node: exp.Expr) -> exp.Expr:
        if not isinstance(node, exp.Table) or node.name != name or node.db or node.catalog:
            return node
        real = table.copy()
        real.set("alias", node.args.get("alias") or exp.TableAlias(this=exp.to_identifier(name)))
        return real

    return tree.transform(swap)
