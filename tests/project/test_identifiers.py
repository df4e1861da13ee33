"""A source's `identifier:` is a table name and nothing else (SPEC §1, §5).

It is pasted into the FROM clause of every model that reads the source, so a value
that parses as a table function (`read_text('/etc/passwd')`), carries a comment, a
quote that never closes or a fourth part must fail `fsql compile`: exit 2, one line
naming the file, line, source and table and saying what an identifier looks like, no
traceback, nothing written to target/.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from fsql.cli.main import cli
from fsql.compile.plan import compile_project
from fsql.dialects.bigquery import BIGQUERY
from fsql.dialects.snowflake import SNOWFLAKE
from fsql.errors import ProjectError
from fsql.project.identifiers import IdentifierError, parse_identifier
from fsql.project.load import load_project

SOURCES = "models/sources.yml"
MODEL = "models/staging/user_daily_orders.sql"


def _with_identifier(root: Path, value: object) -> Path:
    """The example project with raw.orders read from `identifier: value`."""
    path = root / SOURCES
    text = path.read_text()
    assert "path: data/orders.csv" in text
    path.write_text(text.replace("path: data/orders.csv", f"identifier: {json.dumps(value)}"))
    return root


def _line_of(root: Path, needle: str) -> int:
    lines = (root / SOURCES).read_text().splitlines()
    return next(i for i, line in enumerate(lines, start=1) if needle in line)


def _compile(root: Path) -> Result:
    return CliRunner().invoke(cli, ["compile", "--project-dir", str(root)])


def _one_line(result: Result) -> str:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


def _nothing_written(root: Path) -> None:
    target = root / "target"
    assert not (target / "compiled").exists()
    assert not (target / "manifest.json").exists()


HOSTILE = [
    "read_text('/etc/passwd')",  # a table function call
    'main.uf"; drop table x',  # a quote that never closes (a sqlglot TokenError before)
    "read_csv('data/orders.csv')",
    "a.b.c.d",  # four parts
    "analytics..orders",  # an empty part
    "analytics.orders -- x",  # a comment
    "analytics.orders /* x */",
    "analytics.orders; drop table t",
    "analytics.orders as o",
    "(select 1)",
    "'data/orders.csv'",  # a string: DuckDB would read the file
    "analytics.orders\nx",
    "",
    5,
    ["analytics", "orders"],
    {"schema": "analytics"},
]


@pytest.mark.parametrize("identifier", HOSTILE, ids=[repr(v)[:30] for v in HOSTILE])
def test_an_identifier_that_is_not_a_table_name_fails_compile(
    example_project: Path, identifier: object
) -> None:
    root = _with_identifier(example_project, identifier)
    line = _one_line(_compile(root))
    where = _line_of(root, "identifier:") - 1  # the entry's line: `- name: orders`
    assert line.startswith(f"error: {SOURCES}:{where}: source table raw.orders: identifier ")
    assert "is not a table name" in line
    assert "schema.table or database.schema.table" in line  # what one looks like
    _nothing_written(root)
    assert not (root / "target").exists()  # it fails at load time, before compiling


def test_the_two_probes_read_clearly(example_project: Path) -> None:
    root = _with_identifier(example_project, "read_text('/etc/passwd')")
    line = _one_line(_compile(root))
    assert "identifier \"read_text('/etc/passwd')\" is not a table name: it holds '('" in line
    root = _with_identifier(_with_identifier_reset(root), 'main.uf"; drop table x')
    line = _one_line(_compile(root))
    assert "is not a table name: it has an unterminated quote" in line
    assert "TokenError" not in line


def _with_identifier_reset(root: Path) -> Path:
    path = root / SOURCES
    lines = path.read_text().splitlines(keepends=True)
    path.write_text(
        "".join("        path: data/orders.csv\n" if "identifier:" in ln else ln for ln in lines)
    )
    return root


@pytest.mark.parametrize(
    ("identifier", "written"),
    [
        ("analytics.orders", "analytics.orders"),
        ("warehouse.analytics.orders", "warehouse.analytics.orders"),
        ('analytics."Raw Orders"', 'analytics."Raw Orders"'),
        ("orders", "orders"),
        ("user.order", '"user"."order"'),  # keywords are names, quoted where needed
    ],
)
def test_table_names_compile_as_written(
    example_project: Path, identifier: str, written: str
) -> None:
    root = _with_identifier(example_project, identifier)
    result = _compile(root)
    assert result.exit_code == 0, result.stderr
    table = (root / "target/compiled/duckdb/user_daily_orders/table.sql").read_text()
    assert f"FROM {written} AS orders" in table


def test_a_name_of_another_engine_fails_compile_for_this_one(example_project: Path) -> None:
    """`` `my-project`.ds.t `` is a BigQuery name: the project loads, and compiling for
    DuckDB says it is not one of DuckDB's, writing nothing."""
    root = _with_identifier(example_project, "`my-project`.ds.orders")
    line = _one_line(_compile(root))
    assert line.startswith(f"error: {SOURCES}:")
    assert "source table raw.orders: identifier '`my-project`.ds.orders' is not a duckdb" in line
    _nothing_written(root)


def test_a_source_path_must_be_a_string(example_project: Path) -> None:
    path = example_project / SOURCES
    path.write_text(path.read_text().replace("path: data/orders.csv", "path: [data/orders.csv]"))
    line = _one_line(_compile(example_project))
    assert "source table raw.orders: path ['data/orders.csv'] is not a file path" in line


def test_a_bad_identifier_is_reported_once_not_at_each_use(example_project: Path) -> None:
    root = _with_identifier(example_project, "read_text('/etc/passwd')")
    line = _one_line(_compile(root))
    assert MODEL not in line  # not again as "source('raw', 'orders'): no such source table"


@pytest.mark.parametrize(
    ("dialect", "identifier", "sql"),
    [
        (SNOWFLAKE, 'analytics."Raw".orders', 'analytics."Raw".orders'),
        (SNOWFLAKE, "ANALYTICS.ORDERS", "ANALYTICS.ORDERS"),
        (BIGQUERY, "my-project.analytics.orders", "`my-project`.`analytics`.`orders`"),
        (BIGQUERY, "`my-project.analytics.orders`", "`my-project.analytics.orders`"),
    ],
)
def test_warehouse_names_compile_in_their_dialect(
    example_project: Path, dialect: object, identifier: str, sql: str
) -> None:
    for name in ("orders", "reviews", "items"):  # warehouses read no files
        path = example_project / SOURCES
        path.write_text(
            path.read_text().replace(f"path: data/{name}.csv", f"identifier: raw.{name}")
        )
    root = _with_identifier_for(example_project, "raw.orders", identifier)
    compiled = compile_project(load_project(root), dialect, schema="fsql")  # type: ignore[arg-type]
    assert f"FROM {sql} AS " in compiled.plans["user_daily_orders"].sql("create")


def _with_identifier_for(root: Path, old: str, new: str) -> Path:
    path = root / SOURCES
    path.write_text(
        path.read_text().replace(f"identifier: {old}", f"identifier: {json.dumps(new)}")
    )
    return root


def test_snowflake_refuses_a_bigquery_name(example_project: Path) -> None:
    for name in ("orders", "reviews", "items"):
        path = example_project / SOURCES
        path.write_text(
            path.read_text().replace(f"path: data/{name}.csv", f"identifier: raw.{name}")
        )
    root = _with_identifier_for(example_project, "raw.orders", "`my-project`.ds.orders")
    compiled = compile_project(load_project(root), SNOWFLAKE, schema="fsql")
    with pytest.raises(ProjectError, match="is not a snowflake table name") as info:
        compiled.plans["user_daily_orders"].sql("create")
    assert info.value.location.file == SOURCES and info.value.location.line


@pytest.mark.parametrize(
    ("text", "dialect", "reason"),
    [
        ("read_text('/etc/passwd')", "duckdb", "it holds '('"),
        ('main.uf"; drop table x', "duckdb", "unterminated quote"),
        ("a.b -- c", "duckdb", "comment"),
        ("a.b.c.d", "duckdb", "one to three"),
        ("'a'", "duckdb", "a string literal"),
        ("my-project.ds.t", "duckdb", "it holds '-'"),
        ("IDENTIFIER('t')", "snowflake", "it holds '('"),
        (None, "duckdb", "not a string"),
    ],
)
def test_why_a_text_is_not_a_table_name(text: object, dialect: str, reason: str) -> None:
    with pytest.raises(IdentifierError, match=re.escape(reason)):
        parse_identifier(text, dialect)


def test_a_parsed_identifier_is_a_fresh_tree() -> None:
    first = parse_identifier("analytics.orders", "duckdb")
    first.set("alias", "x")
    assert parse_identifier("analytics.orders", "duckdb").alias == ""
