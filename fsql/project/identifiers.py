"""Source `identifier:` values are table names, checked as such before any SQL is built.

An identifier is pasted into every model that reads its source, so it must name a
table and do nothing else: `read_text('/etc/passwd')` would otherwise become a table
function call, and a stray quote a tokenizer crash. sqlglot's `exp.to_table` is too
forgiving for this (it falls back to splitting on dots, and it parses functions,
placeholders and comments as tables), so the text is tokenized and parsed strictly,
and the result must be one to three dot-separated names, each plain or quoted.

Identifiers are names in the warehouse's own dialect (`` `my-project`.ds.t `` is
BigQuery's, `"Raw".t` Snowflake's), which loading a project does not know yet: a
project accepts a name any engine fsql runs on would read, and compiling checks it in
the target's dialect.
"""

from __future__ import annotations

import functools
import re

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokens import TokenType

# The engines fsql compiles for (fsql.dialects): a name one of them reads is plausible.
ENGINE_DIALECTS = ("duckdb", "snowflake", "bigquery")
IDENTIFIER_HINT = (
    "write table, schema.table or database.schema.table: each part a plain name "
    "(letters, digits, _) or a name in the engine's quotes"
)

_NAME_TOKENS = {TokenType.VAR, TokenType.IDENTIFIER, TokenType.DOT}
# BigQuery project ids may hold dashes and digits (`my-project-123.ds.t`); sqlglot's
# BigQuery parser joins those tokens into one name.
_BIGQUERY_TOKENS = {TokenType.DASH, TokenType.NUMBER}
_WORD = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_PARTS = ("this", "db", "catalog")


def shown(value: object, limit: int = 60) -> str:
    """`value` as it may appear in a one-line message: its repr, cut to `limit` chars."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def kind_of(value: object) -> str:
    """What a YAML value is, in the words of a message: `a number`, `a list`, ..."""
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "empty"
    return "a string" if isinstance(value, str) else f"a {type(value).__name__}"


class IdentifierError(ValueError):
    """Why a text is not a table name: a short clause (`it holds a comment`)."""


def check_identifier(text: object, dialects: tuple[str, ...]) -> None:
    """Raise IdentifierError unless `text` is a table name in one of `dialects`.

    The reason given is the one from the first dialect, the project's own.
    """
    first: IdentifierError | None = None
    for dialect in dialects:
        try:
            parse_identifier(text, dialect)
            return
        except IdentifierError as err:
            first = first or err
    if first is not None:
        raise first


def parse_identifier(text: object, dialect: str) -> exp.Table:
    """`text` as a table of `dialect` (a fresh tree), or IdentifierError saying why not."""
    if not isinstance(text, str):
        raise IdentifierError(f"it is {kind_of(text)}, not a string")
    return _parse(text, dialect).copy()


@functools.lru_cache(maxsize=1024)
def _parse(text: str, dialect: str) -> exp.Table:
    if not text.strip():
        raise IdentifierError("it is empty")
    if _CONTROL.search(text):
        raise IdentifierError("it holds a control character")
    engine = sqlglot.Dialect.get_or_raise(dialect)
    try:
        tokens = engine.tokenize(text)
    except TokenError:
        raise IdentifierError("it has an unterminated quote") from None
    allowed = _NAME_TOKENS | (_BIGQUERY_TOKENS if dialect == "bigquery" else set())
    for token in tokens:
        if token.comments:
            raise IdentifierError("it holds a comment")
        # Keywords are names here (`order`, `user`) when spelled as words.
        if token.token_type not in allowed and not (
            _WORD.match(token.text) and token.text.upper() in engine.tokenizer_class.KEYWORDS
        ):
            what = "a string literal" if "STRING" in token.token_type.name else repr(token.text)
            raise IdentifierError(f"it holds {what}, which is not part of a name")
    try:
        table = engine.parser().parse_into(exp.Table, tokens, text)[0]
    except (ParseError, TokenError, RecursionError):
        raise IdentifierError("it does not parse as one") from None
    if not isinstance(table, exp.Table):
        raise IdentifierError("it does not parse as one")
    extra = [k for k, v in table.args.items() if k not in _PARTS and v not in (None, [], False)]
    parts = [table.args.get(k) for k in _PARTS if table.args.get(k) is not None]
    if extra or not all(isinstance(p, exp.Identifier) and p.name for p in parts):
        raise IdentifierError("it is not one to three dot-separated names")
    return table
