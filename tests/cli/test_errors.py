"""Bad input: exit code 2, one clear line naming the file, no traceback, target/ untouched."""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from fsql.cli.main import cli


def run(project: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, [*args, "--project-dir", str(project)])
    return result.exit_code, result.stdout, result.stderr


def snapshot(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def append(path: Path, text: str) -> None:
    path.write_text(path.read_text() + text)


USER_YML = "models/user/user.yml"
USER_SQL = "models/user/user_features.sql"
ITEM_SQL = "models/item/item_features.sql"
SOURCES = "models/sources.yml"

# (id, mutation, text the one error line must contain, file it must name)
CASES: list[tuple[str, Callable[[Path], None], str, str]] = [
    (
        "unknown_ref",
        lambda p: edit(p / USER_SQL, "ref('user_daily_orders')", "ref('user_daily_order')"),
        "ref('user_daily_order')",
        USER_SQL,
    ),
    (
        "unknown_source",
        lambda p: edit(p / ITEM_SQL, "source('raw', 'reviews')", "source('raw', 'review')"),
        "source('raw', 'review')",
        ITEM_SQL,
    ),
    (
        "unknown_entity",
        lambda p: edit(p / USER_YML, "entities: [user]", "entities: [usr]"),
        "unknown entity 'usr'",
        USER_YML,
    ),
    (
        "unknown_view_in_service",
        lambda p: edit(p / "models/services.yml", "- item_features", "- item_featurez"),
        "unknown feature view 'item_featurez'",
        "models/services.yml",
    ),
    (
        "syntax_error",
        lambda p: edit(p / USER_SQL, "from {{ ref(", "from (( select {{ ref("),
        "SQL syntax error",
        USER_SQL,
    ),
    (
        "cycle",
        lambda p: edit(
            p / "models/staging/user_daily_orders.sql",
            "from ",
            "from {{ ref('user_features') }} as cyc, ",
        ),
        "cycle",
        ".sql",
    ),
    (
        "missing_feature_column",
        lambda p: edit(p / USER_YML, "- name: user_order_days", "- name: user_order_dayz"),
        "does not output column 'user_order_dayz'",
        USER_SQL,
    ),
    (
        "missing_created_column",
        lambda p: edit(
            p / USER_YML, "created_timestamp: created_timestamp", "created_timestamp: created_at"
        ),
        "does not output column 'created_at'",
        USER_SQL,
    ),
    (
        "missing_join_key",
        lambda p: edit(
            p / ITEM_SQL, "running.item_id as item_id,", "running.item_id as product_id,"
        ),
        "does not output column 'item_id'",
        ITEM_SQL,
    ),
    ("bad_ttl", lambda p: edit(p / USER_YML, "ttl: 3650d", "ttl: 10 days"), "ttl", USER_YML),
    (
        "bad_schedule",
        lambda p: edit(p / USER_YML, "schedule: 1d", "schedule: daily"),
        "schedule",
        USER_YML,
    ),
    ("view_without_sql", lambda p: (p / USER_SQL).unlink(), "has no SQL file", USER_YML),
    (
        "sql_without_metadata",
        lambda p: (p / "models/extra_view.sql").write_text("select 1 as a"),
        "no feature_views entry",
        "models/extra_view.sql",
    ),
    (
        "yaml_syntax",
        lambda p: append(p / USER_YML, "\n  - name: [unclosed\n"),
        "invalid YAML",
        USER_YML,
    ),
    (
        "undefined_var",
        lambda p: edit(p / USER_SQL, "var('daily_job_delay_minutes', 1)", "var('no_such_var')"),
        "var('no_such_var')",
        USER_SQL,
    ),
]
CASES.append(
    (
        "duplicate_entity",
        lambda p: edit(
            p / SOURCES,
            "  - name: item\n",
            "  - name: user\n    join_keys: [user_id]\n  - name: item\n",
        ),
        "duplicate entity 'user'",
        SOURCES,
    )
)
CASES.append(
    (
        "duplicate_view",
        lambda p: append(
            p / "models/item/item.yml",
            "\n  - name: user_features\n    entities: [user]\n"
            "    timestamp: event_timestamp\n"
            "    features: [{name: x, type: int64}]\n",
        ),
        "duplicate feature view 'user_features'",
        "models/item/item.yml",
    )
)

CASES.append(
    (
        "unknown_pit_strategy",
        lambda p: edit(
            p / "profiles.yml",
            "path: target/fsql.duckdb}",
            "path: target/fsql.duckdb, pit_strategy: asoff}",
        ),
        "point-in-time strategy 'asoff' is not available for duckdb",
        "profiles.yml",
    )
)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_project_exits_2_with_one_line_and_keeps_target(
    example_project: Path, case: tuple[str, Callable[[Path], None], str, str]
) -> None:
    _, mutate, needle, file = case
    code, _, _ = run(example_project, "compile")
    assert code == 0
    before = snapshot(example_project / "target")
    mutate(example_project)
    code, _, err = run(example_project, "compile")
    assert code == 2, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert needle in lines[0]
    assert file in lines[0]
    assert snapshot(example_project / "target") == before


def test_cycle_message_prints_the_cycle(example_project: Path) -> None:
    edit(
        example_project / "models/staging/user_daily_orders.sql",
        "from ",
        "from {{ ref('user_features') }} as cyc, ",
    )
    code, _, err = run(example_project, "compile")
    assert code == 2
    assert re.search(
        r"user_daily_orders -> user_features -> user_daily_orders|"
        r"user_features -> user_daily_orders -> user_features",
        err,
    ), err


def test_several_errors_are_reported_in_one_pass(example_project: Path) -> None:
    edit(example_project / USER_YML, "ttl: 3650d", "ttl: forever")
    edit(example_project / ITEM_SQL, "source('raw', 'reviews')", "source('raw', 'review')")
    code, _, err = run(example_project, "compile")
    assert code == 2
    assert len(err.strip().splitlines()) == 2


def test_unknown_target(example_project: Path) -> None:
    code, _, err = run(example_project, "compile", "--target", "prod")
    assert code == 2
    assert "target 'prod' not found" in err and "profiles.yml" in err


def _training(project: Path, entities: Path, features: str, out: Path) -> tuple[int, str]:
    code, _, err = run(
        project,
        "build-training-set",
        "--entities",
        str(entities),
        "--features",
        features,
        "--output",
        str(out),
    )
    return code, err


def test_missing_entity_file(example_project: Path, tmp_path: Path) -> None:
    code, err = _training(
        example_project,
        tmp_path / "nope.parquet",
        "user_features:user_lifetime_value",
        tmp_path / "o.parquet",
    )
    assert code == 2 and "nope.parquet" in err and "not found" in err
    assert not (tmp_path / "o.parquet").exists()


def test_entity_file_without_event_timestamp(example_project: Path, tmp_path: Path) -> None:
    path = tmp_path / "e.parquet"
    pq.write_table(pa.table({"user_id": [1, 2]}), path)
    code, err = _training(
        example_project, path, "user_features:user_lifetime_value", tmp_path / "o.parquet"
    )
    assert code == 2 and "event_timestamp" in err and str(path) in err
    assert not (tmp_path / "o.parquet").exists()


def test_entity_key_type_mismatch(example_project: Path, tmp_path: Path) -> None:
    path = tmp_path / "e.csv"
    path.write_text("user_id,event_timestamp\nu1,2026-02-01 00:00:00\n")
    code, err = _training(
        example_project, path, "user_features:user_lifetime_value", tmp_path / "o.parquet"
    )
    assert code == 2 and "'user_id'" in err and "user_features" in err
    assert len([line for line in err.splitlines() if line.startswith("error:")]) == 1


def test_unknown_feature_ref(example_project: Path, tmp_path: Path) -> None:
    code, err = _training(
        example_project,
        example_project / "data/entities.csv",
        "user_features:no_such",
        tmp_path / "o.parquet",
    )
    assert code == 2 and "no feature 'no_such'" in err


def test_two_features_with_the_same_name(example_project: Path, tmp_path: Path) -> None:
    edit(
        example_project / "models/item/item.yml", "name: item_review_count", "name: user_order_days"
    )
    edit(example_project / ITEM_SQL, "as item_review_count", "as user_order_days")
    code, err = _training(
        example_project,
        example_project / "data/entities.csv",
        "user_features:user_order_days,item_features:user_order_days",
        tmp_path / "o.parquet",
    )
    assert code == 2 and "both named 'user_order_days'" in err and "full-feature-names" in err


def test_real_process_prints_no_traceback(example_project: Path) -> None:
    edit(example_project / USER_YML, "ttl: 3650d", "ttl: 7 parsecs")
    proc = subprocess.run(
        [sys.executable, "-m", "fsql.cli.main", "compile", "--project-dir", str(example_project)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: models/user/user.yml:")
    assert "Traceback" not in proc.stderr
    debug = subprocess.run(
        [
            sys.executable,
            "-m",
            "fsql.cli.main",
            "compile",
            "--debug",
            "--project-dir",
            str(example_project),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert "Traceback" in debug.stderr
    assert debug.returncode == 2  # --debug shows the traceback, the exit code stays


# (id, entity csv text, extra arguments, text the one error line must contain)
ENTITY_CASES = [
    (
        "non_iso_time",
        "user_id,event_timestamp\n1,2026-01-02\n2,01/03/2026\n",
        (),
        "column 'event_timestamp' row 2: '01/03/2026' is not an ISO-8601 time",
    ),
    (
        "time_column_elsewhere",
        "user_id,ts\n1,2026-01-02\n",
        (),
        "no 'event_timestamp' column (columns: user_id, ts)",
    ),
    (
        "named_time_column_missing",
        "user_id,event_timestamp\n1,2026-01-02\n",
        ("--timestamp-column", "ts"),
        "no 'ts' column",
    ),
    (
        "integer_time",
        "user_id,event_timestamp\n1,20260102\n",
        (),
        "column 'event_timestamp' must be a timestamp, not integer",
    ),
    (
        "key_beyond_64_bits",
        "user_id,event_timestamp\n99999999999999999999999,2026-01-02\n",
        (),
        "join key 'user_id' of view 'user_features' is an integer key; got a float column",
    ),
]


@pytest.mark.parametrize("case", ENTITY_CASES, ids=[c[0] for c in ENTITY_CASES])
def test_bad_entity_file_is_one_line(
    example_project: Path, tmp_path: Path, case: tuple[str, str, tuple[str, ...], str]
) -> None:
    _, text, extra, expected = case
    path = tmp_path / "e.csv"
    path.write_text(text)
    out = tmp_path / "o.parquet"
    code, _, err = run(
        example_project,
        "build-training-set",
        "--entities",
        str(path),
        "--features",
        "user_features:user_lifetime_value",
        "--output",
        str(out),
        *extra,
    )
    lines = [line for line in err.splitlines() if not line.startswith("[")]
    assert code == 2, err
    assert len(lines) == 1 and expected in lines[0] and str(path) in lines[0], err
    assert "Traceback" not in err and "You might want" not in err and "joining" not in err
    assert not out.exists()


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_entity_file_without_rows_gives_an_empty_training_set(
    example_project: Path, tmp_path: Path, fmt: str
) -> None:
    path = tmp_path / f"e.{fmt}"
    if fmt == "csv":
        path.write_text("user_id,event_timestamp,label\n")  # header only: every type null
    else:
        pq.write_table(
            pa.table(
                {
                    "user_id": pa.array([], pa.int64()),
                    "event_timestamp": pa.array([], pa.timestamp("us")),
                    "label": pa.array([], pa.int64()),
                }
            ),
            path,
        )
    out = tmp_path / "o.parquet"
    code, _, err = run(
        example_project,
        "build-training-set",
        "--entities",
        str(path),
        "--features",
        "user_features:user_lifetime_value",
        "--output",
        str(out),
    )
    assert code == 0, err
    result = pq.read_table(out)
    assert result.num_rows == 0
    assert result.column_names == ["user_id", "event_timestamp", "label", "user_lifetime_value"]


def test_timestamp_column_names_the_entity_time(example_project: Path, tmp_path: Path) -> None:
    entities = (example_project / "data/entities.csv").read_text()
    renamed = tmp_path / "e.csv"
    renamed.write_text(entities.replace("event_timestamp", "observed_at", 1))
    plain_out, named_out = tmp_path / "plain.parquet", tmp_path / "named.parquet"
    code, _, err = run(
        example_project,
        "build-training-set",
        "--entities",
        str(example_project / "data/entities.csv"),
        "--features",
        "user_features:user_lifetime_value",
        "--output",
        str(plain_out),
    )
    assert code == 0, err
    code, _, err = run(
        example_project,
        "build-training-set",
        "--entities",
        str(renamed),
        "--timestamp-column",
        "observed_at",
        "--features",
        "user_features:user_lifetime_value",
        "--output",
        str(named_out),
    )
    assert code == 0, err
    plain, named = pq.read_table(plain_out), pq.read_table(named_out)
    assert named.column_names[:4] == ["user_id", "item_id", "observed_at", "label"]
    values = named.column("user_lifetime_value")
    assert values.equals(plain.column("user_lifetime_value")) and values.null_count < len(values)
    meta = (tmp_path / "named.parquet.meta.json").read_text()
    assert '"timestamp_column": "observed_at"' in meta


def test_empty_source_key_type_is_explained(example_project: Path, tmp_path: Path) -> None:
    """A view over an empty csv has text key columns (DuckDB types an empty file's
    columns as VARCHAR): the mismatch says so and how to fix it."""
    (example_project / "data/empty.csv").write_text("user_id,ts,score\n")
    append(example_project / SOURCES, "      - name: empty\n        path: data/empty.csv\n")
    (example_project / "models/empty_scores.sql").write_text(
        "select user_id, ts as event_timestamp, score from {{ source('raw', 'empty') }}\n"
    )
    (example_project / "models/empty_scores.yml").write_text(
        "feature_views:\n  - name: empty_scores\n    entities: [user]\n"
        "    timestamp: event_timestamp\n    features:\n      - {name: score, type: float64}\n"
    )
    path = tmp_path / "e.csv"
    path.write_text("user_id,event_timestamp\n1,2026-01-02\n")
    code, _, err = run(
        example_project,
        "build-training-set",
        "--entities",
        str(path),
        "--features",
        "empty_scores:score",
        "--output",
        str(tmp_path / "o.csv"),
    )
    assert code == 2, err
    line = err.strip().splitlines()[-1]
    assert "view 'empty_scores' has no rows" in line and "CAST(user_id AS BIGINT)" in line


DRIVER_LOGS = (
    "import logging, sys\n"
    "from fsql.cli.errors import run_guarded\n"
    "def command():\n"
    "    logging.getLogger('snowflake.connector.network').error('retrying: boom')\n"
    "    raise RuntimeError('gave up')\n"
    "run_guarded(command, debug=sys.argv[1] == 'debug')\n"
)


@pytest.mark.parametrize("debug", [False, True])
def test_driver_log_records_stay_out_unless_debug(debug: bool) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", DRIVER_LOGS, "debug" if debug else "plain"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 1
    assert ("retrying: boom" in proc.stderr) is debug
    assert proc.stderr.strip().splitlines()[-1].startswith("error: RuntimeError: gave up")
