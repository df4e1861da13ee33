"""On-demand (request-time) features: one bound sqlglot tree per feature, used offline and online.

An on-demand feature's expression names request columns and feature names. Binding
rewrites each of those Column nodes to a column of a flat relation, cast to its
declared type: the training set's point-in-time result (feature output columns, plus
the request columns carried through from the entity table), or, at serving time, an
Arrow table of the same columns evaluated in-process by DuckDB. Both sides evaluate
`CAST(<bound expression> AS <declared type>)` built from the same tree, so they agree
value for value, NULLs included.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fsql.compile.items import ROW_ID
from fsql.definitions.models import OnDemandFeature
from fsql.definitions.types import FeatureType
from fsql.errors import ProjectError

# Binding is plain data; sqlglot is imported by the functions that build trees, so that
# resolving a selection (every online read) does not load it.
if TYPE_CHECKING:
    from sqlglot import exp

    from fsql.dialects.base import EngineDialect

# Request columns travel through the slim entity table and the join under this prefix,
# so they can never collide with a join key or a feature output column.
REQUEST_PREFIX = "__fsql_req__"
# Inputs of an on-demand feature that were not requested themselves are joined under
# this prefix and left out of the result.
INPUT_PREFIX = "__fsql_in__"
PIT_ALIAS = "__fsql_p"
ONLINE_TABLE = "__fsql_odf"


def request_column(name: str) -> str:
    """The slim entity table's (and the serving table's) column for request column `name`."""
    return f"{REQUEST_PREFIX}{name}"


def hidden_input(view: str, feature: str) -> str:
    return f"{INPUT_PREFIX}{view}__{feature}"


@dataclass(frozen=True)
class BoundInput:
    """One name the expression may use, and the flat column (with its type) it reads."""

    view: str | None  # None for a request column
    name: str
    column: str
    type: FeatureType


@dataclass(frozen=True)
class OnDemandItem:
    """A requested on-demand feature: its output column and what its names are bound to."""

    name: str
    output_name: str
    inputs: tuple[BoundInput, ...]
    requests: tuple[BoundInput, ...]
    feature: OnDemandFeature = field(compare=False, hash=False, repr=False)

    def expression(self, dialect: EngineDialect) -> exp.Expr:
        """`CAST(<expression with names bound> AS <type>) AS <output>`, types spelled for
        `dialect`. A fresh tree on every call: compiled trees are never shared."""
        from sqlglot import exp

        by_name: dict[str, BoundInput | None] = {}
        by_qualified: dict[tuple[str, str], BoundInput] = {}
        for bound in self.inputs:
            key = bound.name.casefold()
            by_name[key] = None if key in by_name else bound  # None: ambiguous
            by_qualified[(str(bound.view).casefold(), key)] = bound
        for bound in self.requests:
            by_name[bound.name.casefold()] = bound  # validated below: no clash with inputs

        def bind(node: exp.Expression) -> exp.Expression:
            if not isinstance(node, exp.Column) or isinstance(node.this, exp.Star):
                return node
            key = node.name.casefold()
            if node.table:
                bound = by_qualified.get((node.table.casefold(), key))
            else:
                bound = by_name.get(key)
                if bound is None and key in by_name:
                    raise self._error(
                        f"'{node.name}' is a feature of several inputs; write view.feature"
                    )
            if bound is None:
                known = ", ".join(b.name for b in (*self.requests, *self.inputs)) or "none"
                raise self._error(
                    f"expression names '{node.sql()}', which is neither a request column "
                    f"nor an input feature (known: {known})"
                )
            return exp.cast(exp.column(bound.column), dialect.data_type(bound.type), copy=False)

        body = self.feature.expression.copy().transform(bind, copy=False)
        value = exp.cast(body, dialect.data_type(self.feature.type), copy=False)
        return exp.alias_(value, self.output_name, copy=False)

    def _error(self, message: str) -> ProjectError:
        return ProjectError(
            f"on-demand feature '{self.name}': {message}",
            file=self.feature.file or None,
            line=self.feature.line,
        )


def bind_on_demand(
    feature: OnDemandFeature,
    output_name: str,
    columns: Mapping[tuple[str, str], str],
    types: Mapping[tuple[str, str], FeatureType],
) -> OnDemandItem:
    """An item whose inputs read `columns[(view, feature)]` (each input's output column)."""
    inputs = tuple(
        BoundInput(view, name, column, types[(view, name)])
        for (view, name), column in columns.items()
    )
    requests = tuple(
        BoundInput(None, r.name, request_column(r.name), r.type) for r in feature.request_columns
    )
    item = OnDemandItem(feature.name, output_name, inputs, requests, feature)
    clash = {r.name.casefold() for r in requests} & {i.name.casefold() for i in inputs}
    if clash:
        raise item._error(
            f"{', '.join(sorted(clash))} is both a request column and an input feature"
        )
    return item


def request_columns(items: Sequence[OnDemandItem]) -> dict[str, str]:
    """Request column name → the first on-demand feature needing it, in request order."""
    out: dict[str, str] = {}
    for item in items:
        for bound in item.requests:
            out.setdefault(bound.name, item.name)
    return out


def on_demand_outer_query(
    pit: exp.Select,
    columns: Sequence[str],
    items: Sequence[OnDemandItem],
    dialect: EngineDialect,
) -> exp.Select:
    """`SELECT __fsql_row, <columns in requested order> FROM (<pit>) AS __fsql_p`, each
    on-demand column computed as its bound, cast expression; the rest read as they are.

    The dialect's rewrites run on the outer query only (the point-in-time query has had
    them), so the subquery is put in place after they ran."""
    from sqlglot import exp

    odf = {item.output_name: item for item in items}
    projections: list[exp.Expr] = [exp.column(ROW_ID)]
    for name in columns:
        item = odf.get(name)
        projections.append(item.expression(dialect) if item else exp.column(name))
    outer = (
        exp.select(*projections, copy=False)
        .from_(exp.to_table(PIT_ALIAS), copy=False)
        .order_by(exp.column(ROW_ID), copy=False)
    )
    finished = dialect.finish(outer)
    assert isinstance(finished, exp.Select)  # the rewrites change a SELECT in place
    outer = finished
    source = outer.find(exp.From)
    assert source is not None
    source.set("this", pit.subquery(PIT_ALIAS, copy=False))
    return outer


def on_demand_online_query(items: Sequence[OnDemandItem], dialect: EngineDialect) -> exp.Select:
    """`SELECT <each bound, cast expression> FROM __fsql_odf`: the serving-side query over
    an Arrow table of the same request and input columns the training set reads."""
    from sqlglot import exp

    return exp.select(*[item.expression(dialect) for item in items], copy=False).from_(
        exp.to_table(ONLINE_TABLE), copy=False
    )
