"""What a short-lived CLI process imports: only what its command needs.

A `fsql get-online` process is mostly interpreter start-up and imports, so every module
it loads for nothing (an engine driver, the server, the statistics of `fsql skew`, the
SQL dialects of other engines) is time added to each call. These tests run real CLI
processes and look at `sys.modules` when they end; they check which modules load,
not how long anything takes.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from fsql.cli.main import cli

# Runs the CLI as `fsql ARGS...` and writes the names in sys.modules to the file named
# by its first argument.
PROBE = """\
import json, sys
out = sys.argv.pop(1)
from fsql.cli.main import cli
try:
    cli.main(sys.argv[1:], prog_name="fsql", standalone_mode=False)
finally:
    with open(out, "w") as f:
        json.dump(sorted(sys.modules), f)
"""

# Never needed to read online values; a module is matched with its submodules.
NOT_FOR_ONLINE_READS = [
    "pandas",
    "scipy",  # fsql skew
    "starlette",  # fsql serve
    "uvicorn",
    "prometheus_client",
    "duckdb",  # only for on-demand features (and DuckDB-dialect model checks)
    "pyarrow.parquet",  # entity and training-set files
    "pyarrow.csv",
    "pyarrow.dataset",
    "fsql.adapters",  # offline engines
    "fsql.execute.build",
    "fsql.execute.training",
    "fsql.execute.outputs",
    "fsql.execute.push",
    "fsql.execute.feature_log",
    "fsql.online.freshness",
    "fsql.online.parity",
    "fsql.online.push",
    "fsql.monitor.report",
    "fsql.server",
]
# The models' dialect (below), the target's and the SQLite online store's.
DIALECTS = {"postgres", "duckdb", "sqlite"}


def imported(project: Path, tmp_path: Path, *args: str) -> tuple[set[str], str]:
    """The modules an `fsql ARGS --project-dir PROJECT` process had loaded, and its output."""
    out = tmp_path / "modules.json"
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(out), *args, "--project-dir", str(project)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return set(json.loads(out.read_text())), done.stdout


def loaded(modules: set[str], names: list[str]) -> list[str]:
    return sorted(m for m in modules if any(m == n or m.startswith(f"{n}.") for n in names))


@pytest.fixture(scope="module")
def online_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example project, built and materialized, its models read as PostgreSQL: a
    DuckDB-dialect project has its models checked by DuckDB's own parser when it is
    loaded, which would hide whether reading online values opens DuckDB."""
    from tests.conftest import copy_example

    project = copy_example(tmp_path_factory.mktemp("startup") / "shop")
    config = project / "fsql_project.yml"
    config.write_text(config.read_text() + "\ndialect: postgres\n")
    result = CliRunner().invoke(cli, ["run", "--project-dir", str(project), "--quiet"])
    assert result.exit_code == 0, result.output
    return project


def test_get_online_loads_no_engine_server_or_training_code(
    online_project: Path, tmp_path: Path
) -> None:
    modules, out = imported(
        online_project,
        tmp_path,
        "get-online",
        "--features",
        "user_features:user_lifetime_value",
        "--entity",
        "user_id=7",
    )
    assert json.loads(out)["user_lifetime_value"] is not None
    assert loaded(modules, NOT_FOR_ONLINE_READS) == []
    dialects = {m.split(".")[2] for m in modules if m.startswith("sqlglot.dialects.")}
    assert dialects - {"dialect"} <= DIALECTS


# What a read served from the project snapshot (fsql.project.snapshot) never loads: the
# parse (Jinja, DuckDB's parser, the compiler) and Arrow, which only writes need.
NOT_WITH_A_SNAPSHOT = [
    *NOT_FOR_ONLINE_READS,
    "pyarrow",
    "numpy",
    "jinja2",
    "fsql.project.load",
    "fsql.project.jinja",
    "fsql.compile.plan",
    "fsql.compile.pit",
    "fsql.online.sqlite_rows",
    "fsql.dialects",  # the target engine's: a read needs only the online store's SQL
    "fsql.project.expressions",  # on-demand expressions, parsed when one is computed
]


def test_reads_after_a_run_load_neither_the_parse_nor_arrow(tmp_path: Path) -> None:
    """`fsql run` leaves the project's snapshot; a read after an edit parses and leaves a
    new one for the reads after it."""
    from tests.conftest import copy_example

    project = copy_example(tmp_path / "shop")  # DuckDB models: parsing them opens DuckDB
    result = CliRunner().invoke(cli, ["run", "--project-dir", str(project), "--quiet"])
    assert result.exit_code == 0, result.output
    args = ["get-online", "--features", "user_features:user_lifetime_value"]
    args += ["--entity", "user_id=7"]
    first, out = imported(project, tmp_path, *args)
    assert json.loads(out)["user_lifetime_value"] == 8222.14
    assert loaded(first, NOT_WITH_A_SNAPSHOT) == []
    model = project / "models" / "user" / "user_features.sql"
    model.write_text(model.read_text() + "-- edited\n")
    edited, again = imported(project, tmp_path, *args)
    assert json.loads(again) == json.loads(out)
    assert "fsql.project.load" in edited  # the snapshot is not of these files: parsed
    last, _ = imported(project, tmp_path, *args)
    assert loaded(last, NOT_WITH_A_SNAPSHOT) == []


def test_an_on_demand_feature_opens_duckdb_when_it_is_read(
    online_project: Path, tmp_path: Path
) -> None:
    modules, out = imported(
        online_project,
        tmp_path,
        "get-online",
        "--features",
        "cart_share_of_ltv",
        "--entity",
        "user_id=7",
        "--entity",
        "cart_amount=10.5",
    )
    assert json.loads(out)["cart_share_of_ltv"] is not None
    assert "duckdb" in modules
    assert loaded(modules, [n for n in NOT_FOR_ONLINE_READS if n != "duckdb"]) == []


def test_build_training_set_loads_no_server_or_monitoring_code(
    online_project: Path, tmp_path: Path
) -> None:
    output = tmp_path / "train.parquet"
    modules, _ = imported(
        online_project,
        tmp_path,
        "build-training-set",
        "--entities",
        str(online_project / "data" / "entities.csv"),
        "--feature-service",
        "churn_model",
        "--output",
        str(output),
    )
    assert output.is_file()
    unneeded = ["pandas", "scipy", "starlette", "uvicorn", "prometheus_client", "fsql.server"]
    unneeded += ["fsql.monitor.report", "fsql.online.parity", "fsql.online.sqlite"]
    assert loaded(modules, unneeded) == []


def test_help_loads_no_project_code(tmp_path: Path) -> None:
    out = tmp_path / "modules.json"
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(out), "--help"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "get-online" in done.stdout
    modules = set(json.loads(out.read_text()))
    assert loaded(modules, ["fsql.store", "fsql.definitions", "pyarrow", "sqlglot"]) == []
