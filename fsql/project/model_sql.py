"""Parsing one rendered model: sqlglot, then the engine's own parser where one runs
locally, each error placed at the line of the template the user wrote; the tables it
may not name; and the token stream a view's content hash is taken over."""

from __future__ import annotations

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokens import TokenType

from fsql.project.context import ParseContext
from fsql.project.engine_parse import duckdb_syntax_error, empty_list_item, line_and_column
from fsql.project.lines import template_line
from fsql.project.names import RESERVED_PREFIX

_RENDERED_HINT = " (line of the rendered model; see target/compiled/.../model.sql)"


def parse_model(
    ctx: ParseContext, rendered: str, display: str, template: str = ""
) -> exp.Query | None:
    """The one SELECT of a rendered model, or None with its error collected.

    Its tokens are kept in `ctx.tokens` for the content hash.
    """
    errs, dialect_name = ctx.errs, ctx.config.dialect
    try:
        dialect = sqlglot.Dialect.get_or_raise(dialect_name)
        tokens = dialect.tokenize(rendered)
        ctx.tokens[rendered] = tokens
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
                hint += _RENDERED_HINT
        errs.add(f"SQL syntax error: {desc}", display, line, column=column, hint=hint)
        return None
    except TokenError as err:
        errs.add(f"SQL syntax error: {err}", display, hint="fix the SQL")
        return None
    except RecursionError:
        # sqlglot parses nested expressions recursively: a few hundred levels of
        # parentheses exhaust Python's stack.
        errs.add(
            "SQL nested too deeply to parse",
            display,
            hint="flatten the expression, e.g. with CTEs",
        )
        return None
    if len(statements) != 1 or not isinstance(statements[0], exp.Query):
        errs.add(
            "a model must be exactly one SELECT statement",
            display,
            1,
            hint="remove extra statements and trailing DDL",
        )
        return None
    empty = None if dialect_name == "duckdb" else empty_list_item(tokens)
    if empty is not None:  # DuckDB's own parser, below, says the same with its words
        line, exact = template_line(template or rendered, rendered, empty.line)
        errs.add(
            "SQL syntax error: empty item in a list (a comma with nothing before it)",
            display,
            line,
            column=empty.col if exact else None,
            hint="remove the extra comma",
        )
        return None
    if dialect_name == "duckdb":
        problem = duckdb_syntax_error(rendered)
        if problem is not None:
            line = column = None
            hint = "fix the SQL"
            if problem.offset is not None:
                line, column = line_and_column(rendered, problem.offset)
                line, exact = template_line(template or rendered, rendered, line)
                if not exact:
                    column = None
                    hint += _RENDERED_HINT
            errs.add(
                f"SQL syntax error: {problem.message} (DuckDB's parser)",
                display,
                line,
                column=column,
                hint=hint,
            )
            return None
    return statements[0]


def reserved_table(query: exp.Query, inc_query: exp.Query, rendered: set[str]) -> str | None:
    """A table named like a ref()/source() placeholder that no ref() or source() wrote.

    The compiler swaps every such name for a real relation, so spelling one out would
    read a view without a DAG edge (built in any order, never checked) or a source
    without declaring it.
    """
    for tree in (query,) if inc_query is query else (query, inc_query):
        for table in tree.find_all(exp.Table):
            name = table.name
            if name.casefold().startswith(RESERVED_PREFIX) and name.casefold() not in rendered:
                return name
    return None


_KEEP_CASE = {"VAR", "IDENTIFIER", "STRING", "NUMBER", "NATIONAL_STRING", "RAW_STRING"}
# Each token type's name, and whether its text keeps its case, looked up once: an enum's
# `.name` is a descriptor call, and a large project hashes millions of tokens.
_KINDS = {kind: (kind.name, kind.name in _KEEP_CASE) for kind in TokenType}


def normalized_tokens(tokens: list) -> str:
    """The SQL as its token stream: whitespace, comments and keyword case do not count.

    Hashing tokens rather than regenerated SQL keeps the hash of a definition stable
    across formatting changes and costs a fraction of a generator pass per model.
    """
    parts = []
    for token in tokens:
        kind, keep = _KINDS[token.token_type]
        parts.append(f"{kind}:{token.text if keep else token.text.upper()}")
    return " ".join(parts)
