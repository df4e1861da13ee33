"""A second opinion on SQL syntax from the engine's own parser, where one runs locally.

sqlglot is lenient: it drops empty select items (`select a,, , b` becomes `select a, b`)
and accepts other input the engine would refuse, so a model could compile and then run
something other than what it says. DuckDB parses without executing
(`json_serialize_sql`), so models and on-demand expressions written in DuckDB's dialect
are checked by DuckDB itself at load time, with the position of the first error.
"""

from __future__ import annotations

import functools
import itertools
import json
import threading
from dataclasses import dataclass
from typing import Any

from sqlglot.tokens import TokenType

from fsql.dialects.duckdb import PARSE_CHECK

_LOCK = threading.Lock()
# Tokens after which a comma starts an empty item of a list.
_OPENS_ITEM = {TokenType.COMMA, TokenType.SELECT, TokenType.DISTINCT, TokenType.L_PAREN}


@dataclass(frozen=True)
class EngineSyntaxError:
    message: str
    offset: int | None  # character offset into the parsed text


@functools.cache
def _connection() -> object:
    import duckdb  # imported on first use: only DuckDB-dialect projects pay for it

    return duckdb.connect()


def duckdb_syntax_error(sql: str) -> EngineSyntaxError | None:
    """DuckDB's complaint about `sql` (one or more statements), or None when it parses.

    DuckDB's parser is asked first through `extract_statements` (parse only, ten times
    faster than serializing the tree); only text it refuses is serialized, for the
    message and the position of the error."""
    import duckdb

    with _LOCK:
        try:
            _connection().extract_statements(sql)  # type: ignore[attr-defined]
            return None
        except duckdb.Error:
            pass
        row = (
            _connection()
            .execute(PARSE_CHECK, {"sql": sql})  # type: ignore[attr-defined]
            .fetchone()
        )
    result = json.loads(row[0]) if row else {}
    if not result.get("error"):
        return None
    if result.get("error_type") != "parser":
        return None  # a statement DuckDB cannot serialize, but parsed: not a syntax error
    position = result.get("position")
    offset = int(position) if isinstance(position, str) and position.isdigit() else None
    return EngineSyntaxError(str(result.get("error_message") or "syntax error"), offset)


def line_and_column(text: str, offset: int) -> tuple[int, int]:
    """1-based line and column of a character offset."""
    before = text[:offset]
    return before.count("\n") + 1, offset - (before.rfind("\n") + 1) + 1


def empty_list_item(tokens: list[Any]) -> Any | None:
    """The comma that opens an empty list item (`select a,, b`, `select , a`, `f(, x)`),
    or None. sqlglot drops such items silently, and not every engine's parser runs
    here, so every dialect gets this check on the model's own tokens."""
    for before, comma in itertools.pairwise(tokens):
        if comma.token_type == TokenType.COMMA and before.token_type in _OPENS_ITEM:
            return comma
    return None
