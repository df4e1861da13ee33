"""On-demand expressions: YAML text parsed strictly as one SQL expression over one row's
columns. Used by the project parse, and by a project snapshot (fsql.project.snapshot)
that parses the same text again rather than keep a tree."""

from __future__ import annotations

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

# What an on-demand expression may not contain: it is evaluated over the columns of one
# row (in the training set's outer SELECT, and in-process when serving), so a table,
# a subquery or a statement would read or change something else.
_NOT_IN_EXPRESSIONS = (exp.Query, exp.Table, exp.DDL, exp.DML, exp.Command, exp.Block)


def parse_expression(text: str, dialect: str) -> exp.Expr:
    """`text` parsed as exactly one expression, or ValueError saying why not.

    Parsed strictly as one condition, not as a statement: text that closes the
    expression and starts something else (`1; DROP TABLE t`, `1 FROM t`) is refused
    rather than carried into every compiled training query.
    """
    engine = sqlglot.Dialect.get_or_raise(dialect)
    try:
        parsed = engine.parser().parse_into(exp.Condition, engine.tokenize(text), text)
    except ParseError as err:
        first = err.errors[0].get("description") if err.errors else None
        raise ValueError(
            f"expression must be one SQL expression ({first or 'it does not parse'})"
        ) from None
    expressions = [e for e in parsed if e is not None]
    if len(expressions) != 1:
        raise ValueError("expression must be one SQL expression, not several statements")
    expression = expressions[0]
    found = expression.find(*_NOT_IN_EXPRESSIONS)
    if found is not None:
        raise ValueError(
            f"expression may not contain {found.key.upper()} "
            f"({found.sql(dialect=dialect)[:40]}): only request columns and input features"
        )
    return expression
