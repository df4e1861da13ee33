"""Golden compiled SQL for the example project: a change in generated SQL shows in review.

Regenerate after an intended change with `FSQL_UPDATE_GOLDEN=1 pytest tests/compile`,
then read the diff before committing it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import sqlglot

from fsql.compile.plan import compile_project
from fsql.compile.writer import compiled_files
from fsql.dialects import get_dialect
from fsql.execute.training import compile_training_sql
from fsql.project.load import load_project

REPO = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("FSQL_UPDATE_GOLDEN") == "1"


def _normalise(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.strip().splitlines())


def _generated() -> dict[str, str]:
    project = load_project(REPO)
    compiled = compile_project(project, get_dialect("duckdb"))
    files = compiled_files(compiled)
    selection = compiled.select_features(
        [str(r) for r in project.services["churn_model"].features], False
    )
    files["duckdb/training_sets/churn_model.sql"] = compile_training_sql(
        compiled, selection.items
    )
    return files


GENERATED = _generated()


@pytest.mark.parametrize("rel", sorted(GENERATED))
def test_compiled_sql_matches_golden(rel: str) -> None:
    path = GOLDEN / rel
    text = GENERATED[rel]
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(_normalise(text) + "\n")
    assert path.is_file(), f"no golden file {rel}; run with FSQL_UPDATE_GOLDEN=1 and review"
    assert _normalise(text) == _normalise(path.read_text())


def test_no_stale_golden_files() -> None:
    on_disk = {p.relative_to(GOLDEN).as_posix() for p in GOLDEN.rglob("*.sql")}
    assert on_disk == set(GENERATED)


@pytest.mark.parametrize("rel", [r for r in sorted(GENERATED) if not r.endswith("model.sql")])
def test_golden_sql_reparses_in_its_dialect(rel: str) -> None:
    # The compiled SQL must be a single statement DuckDB's grammar (as sqlglot knows it) reads.
    statements = [s for s in sqlglot.parse(GENERATED[rel], read="duckdb") if s]
    assert len(statements) == 1


def test_training_sql_uses_native_asof_left_join() -> None:
    sql = GENERATED["duckdb/training_sets/churn_model.sql"]
    assert sql.count("ASOF LEFT JOIN") == 2
    # Ties on event time break on created time inside the join (struct order), not by
    # a ROW_NUMBER pass over the feature rows.
    entity_side = "{'t': e.__fsql_ts, 'c': CAST('infinity' AS TIMESTAMPTZ)}"
    assert f"{entity_side} >= __fsql_v0.__fsql_order" in sql
    assert "ROW_NUMBER" not in sql
