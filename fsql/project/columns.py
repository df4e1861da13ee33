"""The columns a model outputs, as far as its SQL and its parents make them known.

A model's table is `SELECT * REPLACE (CAST(feature AS type) AS feature, ...) FROM
(model)`, so a declared column the model does not output fails in the engine, at build
time, with the engine's words (`Column "x" in REPLACE list not found`). When the
select list names its columns that is caught at load time; this module goes further
for `SELECT *` (and `SELECT *, x`): a star over CTEs, subqueries and `ref()`'d views
is expanded from what they output, so the missing column is still a load-time error
naming the model.

Expansion only ever answers with a superset of what the engine will output, or None
(unknown): a star over a source, a table function, a PIVOT, `COLUMNS(...)` or
anything else whose columns only the engine knows gives None, and then the build
reports the column instead (fsql.execute.build). A superset can only hide a missing
column, never invent one, so a known answer never rejects a model that would build.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from sqlglot import exp

from fsql.project.jinja import REF_PREFIX

Columns = list[str] | None
# A ref()'d view's table columns by view name, or None when they are unknown.
ViewColumns = Callable[[str], Columns]

# Projections that produce columns the engine names or counts itself: DuckDB's
# `unnest(struct)` yields one column per field, `COLUMNS(...)` one per match.
_OPAQUE = (exp.Columns, exp.Explode, exp.Unnest)


def listed_columns(query: exp.Expr) -> Columns:
    """The output columns when the select list names every one of them, else None.

    No star, no `COLUMNS(...)`, no unnest: each select item is one column whose name
    sqlglot knows (its alias, or the column it reads). For `UNION BY NAME`, the names
    of every branch.
    """
    return _query_columns(query, {}, lambda _: None, expand=False)


def expanded_columns(query: exp.Expr, views: ViewColumns) -> Columns:
    """The output columns with stars expanded from CTEs, subqueries and `views`."""
    return _query_columns(query, {}, views, expand=True)


def _query_columns(
    query: exp.Expr, scope: Mapping[str, Columns], views: ViewColumns, expand: bool
) -> Columns:
    scope = _with_ctes(query, scope, views, expand)
    if isinstance(query, exp.Subquery):
        return _query_columns(query.this, scope, views, expand)
    if isinstance(query, exp.SetOperation):
        left = _query_columns(query.this, scope, views, expand)
        if not query.args.get("by_name"):
            return left  # positional: the first branch names the columns
        right = _query_columns(query.expression, scope, views, expand)
        return None if left is None or right is None else list(dict.fromkeys(left + right))
    if not isinstance(query, exp.Select):
        return None
    out: list[str] = []
    for projection in query.expressions:
        star = _star(projection)
        if star is not None:
            if not expand:
                return None
            columns = _star_columns(query, star, projection, scope, views)
            if columns is None:
                return None
            out += columns
            continue
        value = projection.unalias()
        if isinstance(value, _OPAQUE) or any(
            (not isinstance(s.parent, exp.Func) or isinstance(s.parent, exp.Columns))
            and s.find_ancestor(exp.Query) is query  # not the star of a subquery
            for s in projection.find_all(exp.Star)
        ):
            return None  # `* LIKE 'x%'`, `COLUMNS(*)`, unnest: the engine names these
        name = projection.output_name or projection.alias_or_name
        if name:
            out.append(name)
    return out


def _with_ctes(
    query: exp.Expr, scope: Mapping[str, Columns], views: ViewColumns, expand: bool
) -> Mapping[str, Columns]:
    """`scope` plus the CTEs of `query`'s WITH, each visible to the ones after it."""
    with_ = query.args.get("with_") or query.args.get("with")
    if not isinstance(with_, exp.With):
        return scope
    inner = dict(scope)
    for cte in with_.expressions:
        columns = _query_columns(cte.this, inner, views, expand)
        inner[cte.alias_or_name.casefold()] = _aliased(columns, cte.args.get("alias"))
    return inner


def _aliased(columns: Columns, alias: exp.Expr | None) -> Columns:
    """Columns renamed by `AS t(a, b)`: the first ones take the listed names."""
    names = [c.name for c in alias.columns] if isinstance(alias, exp.TableAlias) else []
    if not names:
        return columns
    if columns is None:
        return None
    if len(names) > len(columns):
        return None  # the engine rejects it; nothing to say about its columns
    return names + columns[len(names) :]


def _star(projection: exp.Expr) -> exp.Star | None:
    """The star of `*` or `t.*` (with EXCLUDE/REPLACE/RENAME), else None."""
    if isinstance(projection, exp.Star):
        return projection
    if isinstance(projection, exp.Column) and isinstance(projection.this, exp.Star):
        return projection.this
    return None


def _star_columns(
    select: exp.Select,
    star: exp.Star,
    projection: exp.Expr,
    scope: Mapping[str, Columns],
    views: ViewColumns,
) -> Columns:
    sources = _sources(select)
    if sources is None:
        return None
    qualifier = projection.table.casefold() if isinstance(projection, exp.Column) else ""
    out: list[str] = []
    for alias, source in sources:
        if qualifier and alias != qualifier:
            continue
        columns = _source_columns(source, scope, views)
        if columns is None:
            return None
        out += columns
    if qualifier and not any(alias == qualifier for alias, _ in sources):
        return None  # `struct_column.*` or a name sqlglot cannot place
    excluded = {
        c.name.casefold() for c in star.args.get("except_") or star.args.get("except") or []
    }
    renamed = {
        a.this.name.casefold(): a.alias
        for a in star.args.get("rename") or []
        if isinstance(a, exp.Alias) and isinstance(a.this, exp.Column)
    }
    if len(renamed) != len(star.args.get("rename") or []):
        return None
    return [renamed.get(c.casefold(), c) for c in out if c.casefold() not in excluded]


def _sources(select: exp.Select) -> list[tuple[str, exp.Expr]] | None:
    """(alias, relation) of the FROM and every join, or None for a form not handled."""
    from_ = select.args.get("from_") or select.args.get("from")
    if not isinstance(from_, exp.From):
        return None
    relations = [from_.this, *(join.this for join in select.args.get("joins") or [])]
    if select.args.get("laterals") or select.args.get("pivots"):
        return None
    out: list[tuple[str, exp.Expr]] = []
    for relation in relations:
        if not isinstance(relation, (exp.Table, exp.Subquery)) or relation.args.get("pivots"):
            return None
        out.append((relation.alias_or_name.casefold(), relation))
    return out


def _source_columns(
    relation: exp.Expr, scope: Mapping[str, Columns], views: ViewColumns
) -> Columns:
    alias = relation.args.get("alias")
    if isinstance(relation, exp.Subquery):
        return _aliased(_query_columns(relation.this, scope, views, True), alias)
    if not isinstance(relation, exp.Table) or not isinstance(relation.this, exp.Identifier):
        return None  # a table function (read_csv, unnest, ...)
    if relation.args.get("db") or relation.args.get("catalog"):
        return None
    name = relation.name.casefold()
    if name in scope:
        return _aliased(scope[name], alias)
    if name.startswith(REF_PREFIX):
        return _aliased(views(relation.name[len(REF_PREFIX) :]), alias)
    return None  # a source or any other table: only the engine knows its columns
