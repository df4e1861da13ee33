"""A model file from a pull request must not run code or read secrets, and an entity
query must not change anything (SPEC §1 "Model SQL", §3 `--entities-sql`).

Each attack goes through the CLI as a user would run it: exit 2, one line naming the
file or the option, no traceback, and nothing done (no file written, no secret printed,
no table dropped).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from click.testing import CliRunner

from fsql import FeatureStore
from fsql.cli.main import cli
from tests.support.project_factory import ViewSpec, make_project

SENTINEL = "s3ntinel-Vx9q"
T0 = datetime(2026, 1, 1, tzinfo=UTC)
ROWS = [{"user_id": 1, "event_timestamp": T0, "spend": 1.0}]


def _project(root: Path, model: str | None = None, online: dict[str, Any] | None = None) -> Path:
    spec = ViewSpec("spend", ["user"], [("spend", "float64")], ROWS, online=True)
    made = make_project(root, [spec], {"user": ["user_id"]}, online_store=online)
    if model is not None:
        (made / "models" / "spend.sql").write_text(model)
    return made


def _fsql(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args))


def _one_clear_line(result: Any, *needles: str) -> None:
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.output + result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


ESCAPES = [
    "{{ cycler.__init__.__globals__.os.popen('touch PWNED').read() }}",
    "{{ joiner.__init__.__globals__['os'].system('touch PWNED') }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ lipsum.__globals__['os'].popen('touch PWNED') }}",
    "{{ self.__init__.__globals__ }}",
    "{{ ref.__self__.__dict__ }}",
    "{{ env_var.__globals__['os'].environ }}",
    "{% set x = [] %}{{ x.append(1) }}",
]


@pytest.mark.parametrize("payload", ESCAPES)
def test_templates_cannot_reach_python(
    tmp_path: Path, payload: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    model = f"select user_id, event_timestamp, spend, '{payload}' as x\n" + (
        "from {{ source('raw', 'spend_raw') }}\n"
    )
    root = _project(tmp_path / "p", model)
    result = _fsql("compile", "--project-dir", str(root))
    _one_clear_line(result, "models/spend.sql")
    assert not (tmp_path / "PWNED").exists() and not (root / "PWNED").exists()
    assert not (root / "target" / "compiled").exists()


def test_a_model_cannot_read_a_profile_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret_path = str(tmp_path / f"online-{SENTINEL}.db")
    monkeypatch.setenv("FSQL_TEST_ONLINE_PATH", secret_path)
    monkeypatch.setenv("FSQL_TEST_INNOCENT", secret_path)  # the same value, another name
    online = {"type": "sqlite", "path": "{{ env_var('FSQL_TEST_ONLINE_PATH') }}"}
    for name in ("FSQL_TEST_ONLINE_PATH", "FSQL_TEST_INNOCENT"):
        model = (
            f"select user_id, event_timestamp, spend, '{{{{ env_var('{name}') }}}}' as leak\n"
            "from {{ source('raw', 'spend_raw') }}\n"
        )
        root = _project(tmp_path / name, model, online)
        for command in (["compile"], ["run", "--debug"]):
            result = _fsql(*command, "--project-dir", str(root))
            assert result.exit_code == 2, result.output
            assert SENTINEL not in result.output + result.stderr
            assert f"env_var('{name}')" in result.stderr and "secret" in result.stderr
            if "--debug" in command:  # the traceback is shown, scrubbed like everything
                assert "Traceback" in result.stderr
        target = root / "target"
        for path in target.rglob("*") if target.exists() else []:
            if path.is_file() and path.suffix in (".sql", ".json"):
                assert SENTINEL not in path.read_text(errors="replace"), path


REFUSED = {
    "COPY (SELECT 1 AS user_id) TO 'written.csv'": "COPY",
    "ATTACH 'attached.duckdb' AS other": "ATTACH",
    "DROP TABLE spend__push": "DROP",
    "INSTALL httpfs": "INSTALL",
    "LOAD httpfs": "COMMAND",
    "PRAGMA version": "PRAGMA",
    "SET threads = 1": "SET",
    "CREATE TABLE made AS SELECT 1 AS user_id": "CREATE",
    "SELECT 1 AS user_id; DROP TABLE spend__push": "2 statements",
    "INSERT INTO spend__push SELECT * FROM spend__push": "INSERT",
}


def _training_from_sql(root: Path, query: str, out: Path) -> Any:
    """`fsql build-training-set --entities-sql QUERY` of feature spend:spend into `out`."""
    return _fsql(
        "build-training-set",
        "--project-dir",
        str(root),
        "--entities-sql",
        query,
        "--features",
        "spend:spend",
        "--output",
        str(out),
    )


@pytest.mark.parametrize("query", list(REFUSED))
def test_entities_sql_only_reads(
    tmp_path: Path, query: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    root = _project(tmp_path / "p")
    with FeatureStore(project_dir=root) as store:
        store.run()
        row = {"user_id": [1], "event_timestamp": [T0], "spend": [2.0]}
        store.push("spend", pa.table(row))
    result = _training_from_sql(root, query, tmp_path / "out.parquet")
    _one_clear_line(result, "--entities-sql", REFUSED[query])
    assert not (tmp_path / "written.csv").exists() and not (tmp_path / "attached.duckdb").exists()
    assert not (tmp_path / "out.parquet").exists()
    with FeatureStore(project_dir=root) as store:
        assert store.offline.table_schema("spend__push") is not None  # the log survives
        assert store.offline.table_schema("made") is None


def test_entities_sql_still_runs_a_query(tmp_path: Path) -> None:
    root = _project(tmp_path / "p")
    out = tmp_path / "out.parquet"
    query = (
        "with e as (select 1 as user_id, timestamp '2026-01-02' as event_timestamp) select * from e"
    )
    result = _training_from_sql(root, query, out)
    assert result.exit_code == 0, result.output
    assert out.exists()
