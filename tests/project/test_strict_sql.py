"""Compile rejects SQL the engine's own parser rejects (SPEC §1, "Model SQL").

sqlglot alone drops empty select items (`select a,, , b` reads as `select a, b`) and
accepts typos in on-demand expressions that only fail later, naming nothing. DuckDB's
parser, run without executing anything, judges both at load time: one line naming the
file (and, for models, the line), exit 2, nothing compiled.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from fsql.cli.main import cli
from fsql.project.engine_parse import duckdb_syntax_error, line_and_column
from tests.support.project_factory import ViewSpec, make_project

ROWS = [{"user_id": 1, "event_timestamp": datetime(2026, 1, 1, tzinfo=UTC), "spend": 1.0}]


def _project(root: Path, model: str | None = None, extra: dict[str, str] | None = None) -> Path:
    spec = ViewSpec("spend", ["user"], [("spend", "float64")], ROWS, online=True)
    made = make_project(root, [spec], {"user": ["user_id"]}, extra_files=extra)
    if model is not None:
        (made / "models" / "spend.sql").write_text(model)
    return made


def _compile(root: Path) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["compile", "--project-dir", str(root)])
    return result.exit_code, result.stderr


def test_empty_select_items_are_an_error_sqlglot_would_hide(tmp_path: Path) -> None:
    model = "select user_id,, , event_timestamp, spend\nfrom {{ source('raw', 'spend_raw') }}\n"
    code, err = _compile(_project(tmp_path / "p", model))
    assert code == 2
    (line,) = err.strip().splitlines()
    assert line.startswith("error: models/spend.sql:1:")
    assert "DuckDB's parser" in line and "Traceback" not in err
    assert not (tmp_path / "p" / "target" / "compiled").exists()


@pytest.mark.parametrize(
    "select", ["select user_id,, event_timestamp", "select , user_id", "select distinct , user_id"]
)
def test_empty_items_are_an_error_in_every_dialect(tmp_path: Path, select: str) -> None:
    """Where no engine parser runs locally (a Snowflake-dialect project), the model's own
    tokens are checked for the empty items sqlglot would drop."""
    root = _project(tmp_path / "p", f"{select}, spend\nfrom {{{{ source('raw', 'spend_raw') }}}}\n")
    config = root / "fsql_project.yml"
    config.write_text(config.read_text() + "dialect: snowflake\n")
    code, err = _compile(root)
    assert code == 2, err
    (line,) = err.strip().splitlines()
    assert line.startswith("error: models/spend.sql:1:") and "empty item in a list" in line
    assert not (root / "target" / "compiled").exists()
    (root / "models" / "spend.sql").write_text(
        "select user_id, event_timestamp, spend from {{ source('raw', 'spend_raw') }}\n"
    )
    assert _compile(root)[0] == 0


@pytest.mark.parametrize("expression", ["spend + * 2", "spend +", "nullif(spend, 0"])
def test_a_broken_on_demand_expression_fails_compile(tmp_path: Path, expression: str) -> None:
    odf = (
        "on_demand_features:\n"
        "  - name: doubled\n"
        "    type: float64\n"
        f"    expression: '{expression}'\n"
        "    inputs: [spend:spend]\n"
    )
    code, err = _compile(_project(tmp_path / "p", extra={"models/odf.yml": odf}))
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "models/odf.yml" in lines[0]
    assert "on-demand feature 'doubled'" in lines[0]


def test_the_parser_reports_where() -> None:
    problem = duckdb_syntax_error("select 1,\n  , 2")
    assert problem is not None and problem.offset is not None
    assert line_and_column("select 1,\n  , 2", problem.offset) == (2, 3)
    assert duckdb_syntax_error("select 1, 2 from t where x > 1") is None


def test_a_ref_typo_never_suggests_the_view_itself(tmp_path: Path) -> None:
    model = "select user_id, event_timestamp, spend from {{ ref('spends') }}\n"
    code, err = _compile(_project(tmp_path / "p", model))
    assert code == 2
    assert "ref('spends'): no feature view of that name" in err
    assert "did you mean spend" not in err


def test_a_yaml_key_typo_gets_a_suggestion(tmp_path: Path) -> None:
    root = _project(tmp_path / "p")
    yml = next((root / "models").glob("spend*.yml"), None) or next(
        p for p in (root / "models").rglob("*.yml") if "spend" in p.read_text()
    )
    yml.write_text(yml.read_text().replace("online: true", "onlnie: true"))
    code, err = _compile(root)
    assert code == 2
    assert "unknown key 'onlnie'" in err and "did you mean online?" in err


def _two_views(root: Path, first: str, second: str, feature: str = "spend") -> Path:
    specs = [
        ViewSpec(first, ["user"], [(feature, "float64")], rows_for(feature)),
        ViewSpec(second, ["user"], [("spend", "float64")], ROWS),
    ]
    return make_project(root, specs, {"user": ["user_id"]})


def rows_for(feature: str) -> list[dict[str, object]]:
    return [{"user_id": 1, "event_timestamp": ROWS[0]["event_timestamp"], feature: 1.0}]


def test_view_names_differing_only_in_case_are_one_name(tmp_path: Path) -> None:
    code, err = _compile(_two_views(tmp_path / "p", "Spend_a", "spend_A"))
    assert code == 2
    assert "names are unique regardless of case" in err and "Traceback" not in err


@pytest.mark.parametrize("name", ["__fsql_row", "__FSQL_x", "__event_ts", "__version"])
def test_reserved_feature_names(tmp_path: Path, name: str) -> None:
    code, err = _compile(_two_views(tmp_path / "p", "a", "b", feature=name))
    assert code == 2, err
    assert f"feature 'a:{name}'" in err and "reserved" in err


def test_a_reserved_view_name(tmp_path: Path) -> None:
    code, err = _compile(_two_views(tmp_path / "p", "__fsql_v", "b"))
    assert code == 2
    assert "names beginning with __fsql are reserved" in err
