"""`fsql init`: a new project on which compile, run, build-training-set and get-online
work at once, with right answers; a folder with files in it is refused."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from click.testing import CliRunner

from fsql.cli.main import cli


def _fsql(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_a_new_project_runs_at_once(tmp_path: Path) -> None:
    folder = tmp_path / "My Project"
    code, out, err = _fsql("init", str(folder))
    assert code == 0, err
    assert "fsql run" in out
    assert "name: my_project" in (folder / "fsql_project.yml").read_text()
    where = ["--project-dir", str(folder)]
    assert _fsql("compile", *where)[0] == 0
    code, out, err = _fsql("run", *where)
    assert code == 0 and "built 2 views, materialized 2 online views" in out, err
    train = folder / "target" / "train.parquet"
    code, _, err = _fsql(
        "build-training-set",
        *where,
        "--feature-service",
        "first_model",
        "--entities",
        str(folder / "data" / "entities.csv"),
        "--output",
        str(train),
    )
    assert code == 0, err
    rows = pq.read_table(train).to_pylist()
    assert len(rows) == 40
    # payments_30d against a count of the sample data itself.
    payments = pacsv.read_csv(folder / "data" / "payments.csv").to_pylist()
    for row in rows:
        t = row["event_timestamp"]
        want = sum(
            1
            for p in payments
            if p["customer_id"] == row["customer_id"] and t - timedelta(days=30) < p["paid_at"] <= t
        )
        assert row["payments_30d"] == want
    assert {row["plan"] for row in rows} <= {"free", "pro", "team"}
    code, out, err = _fsql(
        "get-online", *where, "--feature-service", "first_model", "--entity", "customer_id=1"
    )
    assert code == 0, err
    assert json.loads(out)["plan"] in {"free", "pro", "team"}


def test_a_folder_with_files_is_refused_and_left_alone(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    code, _, err = _fsql("init", str(tmp_path))
    assert code == 2
    assert "is not an empty folder" in err
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]
    assert _fsql("init", str(tmp_path / "notes.txt"))[0] == 2
