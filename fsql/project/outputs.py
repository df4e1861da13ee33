"""Checking a model's output columns against the columns its view declares.

A view whose select list names its columns is checked as it is parsed; a `SELECT *`
model is checked once every view is parsed, in DAG order, with its star expanded from
its parents' columns where they are known (fsql.project.columns).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlglot import exp

from fsql.definitions.models import FeatureView
from fsql.project.columns import expanded_columns, listed_columns
from fsql.project.context import ParseContext


def check_outputs(
    ctx: ParseContext, view: str, rel: str, display: str, wanted: list[str], have: list[str] | None
) -> None:
    """Report each declared column the model does not output (unknown: no report)."""
    if have is None:
        return
    folded = {c.casefold() for c in have}
    missing = [c for c in wanted if c.casefold() not in folded]
    for col in dict.fromkeys(missing):
        ctx.errs.add(
            f"feature view '{view}': the SQL does not output column '{col}'",
            rel,
            hint=f"select it in the model or remove it from {display}",
        )


def check_star_outputs(
    ctx: ParseContext, views: dict[str, FeatureView], order: Sequence[str]
) -> None:
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
            if listed_columns(tree) is None:  # a listed one was checked when parsed
                check_outputs(ctx, name, view.sql_path, view.yml_path, wanted, columns)


def output_columns(query: exp.Query) -> list[str] | None:
    """The model's output column names when the select list makes them known."""
    return listed_columns(query)


def _created(view: FeatureView) -> tuple[str, ...]:
    return (view.created_timestamp,) if view.created_timestamp else ()
