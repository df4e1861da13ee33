"""Every SQL statement is built as a sqlglot tree in `compile/` (or `dialects/` for an
engine's own syntax); elsewhere a string that starts like a statement is a defect. This
test reads every module's string literals and f-strings (docstrings excluded) and fails
on those that begin like a SQL statement, naming the file and line.

What counts as a statement, so that prose (error hints such as "use type: duckdb",
"set `dataset:` in profiles.yml", "create it, or list the folders") is not flagged:

- an upper-case verb, matched case-sensitively, alone or followed by more text
  (`BEGIN TRANSACTION`, `COMMIT`, `PRAGMA journal_mode = WAL`, `SET {k} = $value`,
  `SELECT ...`): prose does not shout;
- a verb in any case only when SQL structure follows it (`select a, count(*) from`,
  `insert into`, `create table|view|stage ...`, `pragma x`, `merge into`,
  `drop table`, `set x = ...`, ...).

Allowed places besides `compile/` and `dialects/`: `fsql/online/sqlite_sql.py`, the
SQLite online store's declared SQL module. SQLite is no offline engine (it has no
EngineDialect and no compiled plans), so its statements are built with sqlglot beside
the store that runs them, in that one module, and nowhere else in `online/`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "fsql"
ALLOWED = {"compile", "dialects"}
# Modules outside compile/ and dialects/ that own SQL: one per store, declared here.
ALLOWED_MODULES = {
    "online/sqlite_sql.py",  # the SQLite online store's statements (see the docstring)
}

VERBS = (
    "SELECT",
    "INSERT",
    "CREATE",
    "MERGE",
    "BEGIN",
    "COMMIT",
    "ROLLBACK",
    "PRAGMA",
    "COPY",
    "PUT",
    "DROP",
    "DELETE",
    "UPDATE",
    "ALTER",
    "SET",
    "WITH",
    "ATTACH",
    "DETACH",
    "INSTALL",
    "LOAD",
    "CALL",
    "USE",
    "SHOW",
    "DESCRIBE",
    "TRUNCATE",
    "GRANT",
    "VACUUM",
    "ANALYZE",
    "EXPLAIN",
    "REMOVE",
    "LIST",
    "SAVEPOINT",
)
# Upper-case verb, case-sensitive: alone (`COMMIT`) or followed by anything (`SET {} = x`).
_SHOUTED = rf"(?:{'|'.join(VERBS)})(?:\s*;?\s*$|\s+\S)"
# A name as it appears in SQL: plain, quoted, qualified, or an f-string hole (`{}`).
_NAME = r"""(?:[\w$]+|"[^"]*"|`[^`]*`|\{\})(?:\.(?:[\w$*]+|"[^"]*"|`[^`]*`|\{\}))*"""
# One select-list item: `*`, a name, or a call, with an optional alias (`x AS y`, `x y`).
_ITEM = rf"(?:\*|{_NAME}(?:\s*\([^()]*\))?)(?:\s+(?:as\s+)?{_NAME})?"
# Verbs in any case, only with the structure that makes them a statement.
_STRUCTURED = "|".join(
    (
        rf"select\s+(?:distinct\s+)?{_ITEM}(?:\s*,\s*{_ITEM})*\s+from\s+\S",
        rf"insert\s+(?:or\s+\w+\s+)?(?:into|overwrite)\s+{_NAME}",
        r"create\s+(?:or\s+replace\s+)?(?:(?:temp|temporary|transient|unique)\s+)?"
        r"(?:table|view|stage|schema|database|index|sequence|function|macro)\b",
        r"pragma\s+\w+",
        rf"merge\s+into\s+{_NAME}",
        r"(?:drop|truncate)\s+(?:table|view|stage|schema|database|index)\b",
        rf"delete\s+from\s+{_NAME}",
        rf"update\s+{_NAME}\s+set\s+{_NAME}\s*=",
        r"alter\s+(?:table|view|session|schema|database)\b",
        rf"set\s+{_NAME}\s*(?:=|to\s)",
        rf"with\s+(?:recursive\s+)?{_NAME}\s+as\s*\(",
        r"begin\s+(?:transaction|work|immediate|exclusive|deferred)\b",
        r"(?:commit|rollback)(?:\s+(?:transaction|work))?\s*;?\s*$",
        rf"copy\s+(?:into\s+{_NAME}|{_NAME}\s+(?:from|to)\s+['\"{{(]|\()",
        r"start\s+transaction\b",
        r"use\s+(?:warehouse|database|schema|role|secondary\s+roles)\s+\S",
        r"attach\s+(?:database\s+)?['\"{]",
        r"show\s+(?:tables|columns|databases|schemas|views|stages)\b",
    )
)
STATEMENT = re.compile(rf"^\s*(?:{_SHOUTED}|(?i:{_STRUCTURED}))")


def _docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                ids.add(id(body[0].value))
    return ids


def _text(node: ast.expr) -> str | None:
    """A literal's text; an f-string's literal parts with `{}` for each value."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(str(v.value) if isinstance(v, ast.Constant) else "{}" for v in node.values)
    return None


def sql_strings(path: Path) -> Iterator[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = _docstrings(tree)
    inner = {id(v) for n in ast.walk(tree) if isinstance(n, ast.JoinedStr) for v in n.values}
    for node in ast.walk(tree):
        if not isinstance(node, ast.expr) or id(node) in skip or id(node) in inner:
            continue
        text = _text(node)
        if text is not None and STATEMENT.match(text):
            yield node.lineno, text.strip().splitlines()[0][:60]


def _relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def modules() -> list[Path]:
    return sorted(
        p
        for p in ROOT.rglob("*.py")
        if p.relative_to(ROOT).parts[0] not in ALLOWED and _relative(p) not in ALLOWED_MODULES
    )


@pytest.mark.parametrize("path", modules(), ids=_relative)
def test_no_sql_text_outside_compile(path: Path) -> None:
    found = [
        f"{path.relative_to(ROOT.parent)}:{line}: {text!r}" for line, text in sql_strings(path)
    ]
    assert not found, "SQL built as text: " + "; ".join(found)


def test_declared_modules_exist() -> None:
    for name in ALLOWED_MODULES:
        assert (ROOT / name).is_file(), f"{name} is listed in test_sql_text but does not exist"


def test_the_check_sees_literals_and_fstrings(tmp_path: Path) -> None:
    sample = tmp_path / "m.py"
    sample.write_text(
        '"""SELECT in a docstring is prose."""\n'
        'A = "SELECT 1"\n'
        'B = f"BEGIN TRANSACTION {A}"\n'
        'C = f"PRAGMA {A} = 1"\n'
        'D = "set the value"\n'
        'E = "selected rows"\n'
    )
    assert [line for line, _ in sql_strings(sample)] == [2, 3, 4]


STATEMENTS = [
    "BEGIN TRANSACTION",
    "BEGIN IMMEDIATE",
    "begin transaction",
    "COMMIT",
    "rollback",
    "PRAGMA journal_mode = WAL",
    "pragma busy_timeout = 10000",
    "SELECT {} FROM {}",
    "SELECT json_serialize_sql($sql)",
    "select count(*) from t",
    "select a, b as c, t.* from {}",
    'select "x" from "s"."t" where 1',
    "insert into t values (?)",
    "INSERT OR REPLACE INTO t VALUES (?)",
    "create table if not exists t (a int)",
    "create or replace temporary view v as select 1",
    "create stage {}",
    "merge into {} using s on true",
    "drop table if exists t",
    "delete from t where k = ?",
    "update t set a = 1",
    "set threads = 4",
    "with x as (select 1) select * from x",
    "copy into {} from @stage",
    "copy t to 'out.parquet'",
    "copy (select 1) to {}",
    "start transaction",
    "PUT file://{} @{}",
    "use warehouse {}",
    "show tables",
    "  SELECT 1",
]
PROSE = [
    "use type: duckdb",
    "use type: {}, or install the package that adds it",
    "set online: true on the view",
    "set `dataset:` in profiles.yml",
    "set it under vars in fsql_project.yml",
    "create it, or list the folders that hold the models",
    "create {}/{}.sql",
    "select it in the model or remove it from {}",
    "selected rows",
    "select a view",
    "Show tracebacks on errors.",
    "grant the privilege to the profile's role",
    "copy profiles.example.yml to profiles.yml",
    "copy the file into the project instead of linking to it",
    "START",
    "start the server",
    "call prepare() before upsert(); re-run the command",
    "remove one of these ref() calls",
    "update the value",
    "with",
    "merge",
    "create",
    "begin the run",
    "commit the file to the repository",
    "Selecting",
    "WITHOUT ROWID",
]


@pytest.mark.parametrize("text", STATEMENTS)
def test_the_check_catches_statements(text: str, tmp_path: Path) -> None:
    sample = tmp_path / "m.py"
    sample.write_text(f"X = {text!r}\n")
    assert [line for line, _ in sql_strings(sample)] == [1]


def test_the_check_sees_fstring_holes(tmp_path: Path) -> None:
    sample = tmp_path / "m.py"
    sample.write_text('k = "TimeZone"\nX = f"SET {k} = $value"\nY = f"select {k} from {k}"\n')
    assert [line for line, _ in sql_strings(sample)] == [2, 3]


@pytest.mark.parametrize("text", PROSE)
def test_the_check_leaves_prose(text: str, tmp_path: Path) -> None:
    sample = tmp_path / "m.py"
    sample.write_text(f"X = {text!r}\n")
    assert list(sql_strings(sample)) == []


# SQL is read (parsed) only where it arrives from users: model files (`project/`) and the
# `--entities-sql` query (`execute/entities.py`, checked before it runs). Compiled SQL is
# never read back: adapters get trees' text and the values they bind (`Statement`).
PARSING_ALLOWED = {"project", "dialects", "compile", "execute/entities.py"}
PARSERS = {"parse", "parse_one", "transpile", "maybe_parse"}


def sql_parsing_calls(path: Path) -> Iterator[tuple[int, str]]:
    """Calls of sqlglot's parsers (`sqlglot.parse_one(...)`, `parse_one(...)` imported from
    sqlglot, `exp.maybe_parse(...)`) in one module."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    imported = {
        alias.asname or alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sqlglot")
        for alias in node.names
        if alias.name in PARSERS
    }
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in PARSERS:
            base = func.value
            if isinstance(base, ast.Name) and base.id in {"sqlglot", "exp"}:
                yield node.lineno, f"{base.id}.{func.attr}"
        elif isinstance(func, ast.Name) and func.id in imported:
            yield node.lineno, func.id


def _parses_allowed(path: Path) -> bool:
    relative = _relative(path)
    return relative in PARSING_ALLOWED or relative.split("/")[0] in PARSING_ALLOWED


@pytest.mark.parametrize(
    "path", [p for p in sorted(ROOT.rglob("*.py")) if not _parses_allowed(p)], ids=_relative
)
def test_compiled_sql_is_never_parsed_back(path: Path) -> None:
    found = [f"{_relative(path)}:{line}: {call}" for line, call in sql_parsing_calls(path)]
    assert not found, "SQL parsed outside parse/compile: " + "; ".join(found)


def test_the_parse_check_sees_every_spelling(tmp_path: Path) -> None:
    sample = tmp_path / "m.py"
    sample.write_text(
        "import sqlglot\n"
        "from sqlglot import exp, parse_one as read\n"
        "a = sqlglot.parse_one('select 1')\n"
        "b = read('select 1')\n"
        "c = exp.maybe_parse('x')\n"
        "d = sqlglot.transpile('select 1')\n"
        "e = exp.to_table('t')\n"
    )
    assert [line for line, _ in sql_parsing_calls(sample)] == [3, 4, 5, 6]
