"""Checks on compiled trees for SQL an engine would reject but sqlglot writes anyway.

sqlglot passes an ASOF join, an INTERVAL `RANGE` frame or a UNION of TIMESTAMP and
DATETIME columns through to BigQuery without a word, and re-parsing the text accepts
them too (ENGINE_NOTES). These checks read the tree instead, so such SQL fails at
compile time naming the view, not at run time in the warehouse. A dialect names the
checks it needs in `lint_rules`; each check returns one message per problem.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlglot import exp
from sqlglot.optimizer.annotate_types import annotate_types

from fsql.dialects.base import EngineDialect
from fsql.errors import ProjectError

Check = Callable[[exp.Expression, str], list[str]]

_T = exp.DataType.Type
# Types BigQuery coerces into one another in a set operation (they share a supertype).
_FAMILIES = {
    **dict.fromkeys(
        (_T.TINYINT, _T.SMALLINT, _T.INT, _T.BIGINT, _T.DECIMAL, _T.BIGDECIMAL, _T.FLOAT),
        "numeric",
    ),
    _T.DOUBLE: "numeric",
    **dict.fromkeys((_T.VARCHAR, _T.TEXT, _T.CHAR, _T.NCHAR, _T.NVARCHAR), "string"),
}
_UNTYPED = {_T.UNKNOWN, _T.NULL}


def asof_joins(tree: exp.Expression, dialect: str) -> list[str]:
    """Any ASOF join: the engine has none, whatever spelling sqlglot would give it."""
    return [
        f"ASOF join with {join.this.sql(dialect=dialect)}: {dialect} has no ASOF join"
        for join in tree.find_all(exp.Join)
        if "ASOF" in (join.text("method").upper(), join.text("kind").upper())
        or join.args.get("match_condition") is not None
    ]


def range_interval_frames(tree: exp.Expression, dialect: str) -> list[str]:
    """`RANGE BETWEEN INTERVAL ...`: the engine's RANGE frames take numeric offsets only."""
    problems = []
    for spec in tree.find_all(exp.WindowSpec):
        bounds = [spec.args.get("start"), spec.args.get("end")]
        if spec.text("kind").upper() == "RANGE" and any(
            isinstance(b, exp.Interval) for b in bounds
        ):
            window = spec.parent if isinstance(spec.parent, exp.Window) else spec
            problems.append(
                f"window frame RANGE with an INTERVAL bound in {window.sql(dialect=dialect)}: "
                f"{dialect} RANGE frames need a numeric ORDER BY key and offset "
                "(e.g. UNIX_MICROS(ts)); fsql rewrites fixed units (up to WEEK) on one "
                "ORDER BY key itself, not MONTH or YEAR"
            )
    return problems


def _branches(node: exp.Expr) -> list[exp.Expr]:
    if isinstance(node, exp.SetOperation):
        return _branches(node.left) + _branches(node.right)
    if isinstance(node, exp.Subquery):
        return _branches(node.this)
    return [node]


def _chain_root(node: exp.Expression) -> bool:
    """`node` is the outermost set operation of `a UNION (b UNION c) ...`."""
    parent = node.parent
    while isinstance(parent, exp.Subquery):
        parent = parent.parent
    return not isinstance(parent, exp.SetOperation)


def _column_type(projection: exp.Expr) -> exp.DataType | None:
    """The type a branch gives a column, or None where BigQuery coerces any type
    (NULL and string literals) or sqlglot cannot tell (columns of unknown tables)."""
    value = projection.unalias()
    if isinstance(value, exp.Null) or (isinstance(value, exp.Literal) and value.is_string):
        return None
    dtype = projection.type
    if dtype is None or dtype.this in _UNTYPED:
        return None
    return dtype


def _compatible(a: exp.DataType, b: exp.DataType) -> bool:
    family_a, family_b = _FAMILIES.get(a.this), _FAMILIES.get(b.this)
    if family_a or family_b:
        return family_a == family_b
    return a.this == b.this


def set_operation_types(tree: exp.Expression, dialect: str) -> list[str]:
    """UNION / INTERSECT / EXCEPT branches whose columns have different types (as
    sqlglot's annotate_types sees them): TIMESTAMP and DATETIME do not mix in BigQuery."""
    typed = annotate_types(tree.copy(), dialect=dialect)
    problems = []
    for setop in typed.find_all(exp.SetOperation):
        if not _chain_root(setop):
            continue  # part of an enclosing chain, whose branches include its own
        branches = [b for b in _branches(setop) if isinstance(b, exp.Select)]
        if len(branches) != len(_branches(setop)):
            continue
        first = branches[0]
        for branch in branches[1:]:
            if len(branch.selects) != len(first.selects):
                continue  # a star or a count mismatch: the engine reports it itself
            for left, right in zip(first.selects, branch.selects, strict=True):
                a, b = _column_type(left), _column_type(right)
                if a is not None and b is not None and not _compatible(a, b):
                    name = left.alias_or_name
                    problems.append(
                        f"{setop.key.upper()} branches give column '{name}' two types, "
                        f"{a.sql(dialect=dialect)} and {b.sql(dialect=dialect)}: "
                        f"{dialect} does not coerce one into the other"
                    )
    return problems


RULES: dict[str, Check] = {
    "asof_join": asof_joins,
    "range_interval_frame": range_interval_frames,
    "set_operation_types": set_operation_types,
}


def lint(tree: exp.Expression, dialect: EngineDialect) -> list[str]:
    """Every problem the dialect's `lint_rules` find in `tree`, in rule order."""
    return [
        problem
        for rule in dialect.lint_rules
        for problem in RULES[rule](tree, dialect.sqlglot_dialect)
    ]


def lint_bigquery(tree: exp.Expression, where: str) -> list[str]:
    """BigQuery's problems with `tree`, each message prefixed with `where`."""
    from fsql.dialects.bigquery import BIGQUERY

    return [f"{where}: {problem}" for problem in lint(tree, BIGQUERY)]


def check_dialect(
    tree: exp.Expression,
    dialect: EngineDialect,
    where: str,
    file: str | None = None,
    hint: str | None = None,
) -> None:
    """Raise ProjectError (one line, naming `where`) when `tree` fails the dialect's lint.

    `where` names what was compiled (`view 'user_features' (table)`); `file`, when
    known, is the model file the error points at. A no-op for dialects with no rules.
    """
    if not dialect.lint_rules:
        return
    problems = lint(tree, dialect)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise ProjectError(
            f"{where} compiles to SQL {dialect.name} rejects: {problems[0]}{more}",
            file=file,
            hint=hint or f"rewrite the model in SQL that {dialect.name} runs",
        )
