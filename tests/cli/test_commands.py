"""The CLI end to end on a copy of the example project (DuckDB + SQLite)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from fsql.cli.main import cli
from fsql.execute.outputs import read_training_meta


def fsql(project: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, [*args, "--project-dir", str(project)])
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def ran_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.conftest import copy_example

    project = copy_example(tmp_path_factory.mktemp("cli") / "shop")
    code, _out, err = fsql(project, "run")
    assert code == 0, err
    return project


def test_compile_writes_sql_and_manifest_without_touching_a_database(
    example_project: Path,
) -> None:
    code, out, _ = fsql(example_project, "compile")
    assert code == 0 and "compiled 6 views" in out
    target = example_project / "target"
    for view in ("user_daily_orders", "user_features", "item_features"):
        for name in ("table.sql", "materialize_full.sql", "materialize_incremental.sql"):
            assert (target / "compiled" / "duckdb" / view / name).is_file()
    manifest = json.loads((target / "manifest.json").read_text())
    user = manifest["views"]["user_features"]
    assert len(user["content_hash"]) == 64
    assert user["depends_on"]["views"] == ["user_daily_orders"]
    assert manifest["views"]["user_daily_orders"]["children"] == ["user_features"]
    assert "user_lifetime_value" in user["columns"]
    windowed = manifest["views"]["user_orders"]
    assert windowed["depends_on"]["sources"] == ["raw.orders"]
    assert "user_30d_purchase_count" in {f["name"] for f in windowed["features"]}
    assert {f["name"]: f["type"] for f in user["features"]}["user_lifetime_value"] == "float64"
    assert not (target / "fsql.duckdb").exists()
    assert not (target / "online.db").exists()


def test_run_builds_and_materializes(ran_project: Path) -> None:
    assert (ran_project / "target" / "fsql.duckdb").is_file()
    assert (ran_project / "target" / "online.db").is_file()
    code, out, err = fsql(
        ran_project,
        "get-online",
        "--features",
        "user_features:user_lifetime_value,item_features:item_category",
        "--entity",
        "user_id=3",
        "--entity",
        "item_id=1002",
    )
    assert code == 0, err
    data = json.loads(out)
    assert data["user_id"] == 3 and data["item_id"] == 1002
    assert isinstance(data["user_lifetime_value"], float)
    assert isinstance(data["item_category"], str)


def test_get_online_unknown_key_gives_nulls(ran_project: Path) -> None:
    code, out, _ = fsql(
        ran_project,
        "get-online",
        "--feature-service",
        "churn_model",
        "--entity",
        "user_id=99999",
        "--entity",
        "item_id=1",
    )
    assert code == 0
    data = json.loads(out)
    assert data["user_lifetime_value"] is None and data["item_category"] is None


@pytest.mark.parametrize("suffix", ["parquet", "csv"])
def test_build_training_set_writes_file_and_sidecar(
    ran_project: Path, tmp_path: Path, suffix: str
) -> None:
    out = tmp_path / f"train.{suffix}"
    code, _stdout, err = fsql(
        ran_project,
        "build-training-set",
        "--entities",
        str(ran_project / "data/entities.csv"),
        "--feature-service",
        "churn_model",
        "--output",
        str(out),
    )
    assert code == 0, err
    entities = pacsv.read_csv(ran_project / "data/entities.csv")
    table = pq.read_table(out) if suffix == "parquet" else pacsv.read_csv(out)
    assert table.num_rows == entities.num_rows
    assert table.column_names[: entities.num_columns] == entities.column_names
    assert table.column_names[entities.num_columns :] == [
        "user_30d_purchase_count",
        "user_lifetime_value",
        "item_avg_rating",
        "item_review_count",
        "item_category",
        "item_purchase_count_7d",
        "item_purchase_rate_7d",
    ]
    assert table.column("user_id").to_pylist() == entities.column("user_id").to_pylist()
    meta = json.loads(Path(f"{out}.meta.json").read_text())
    assert meta["row_count"] == entities.num_rows
    assert meta["target"]["name"] == "dev"
    assert meta["feature_service"] == "churn_model"
    assert set(meta["views"]) == {
        "user_daily_orders",
        "user_features",
        "user_orders",
        "user_cart",
        "item_features",
        "item_orders",
    }
    assert "ASOF LEFT JOIN" in meta["sql"]
    assert meta["run_at"]


def test_full_feature_names_and_entities_sql(ran_project: Path, tmp_path: Path) -> None:
    out = tmp_path / "t.parquet"
    query = (
        "select user_id, event_timestamp + interval 1 day as event_timestamp "
        "from user_features order by user_id, event_timestamp limit 25"
    )
    code, _, err = fsql(
        ran_project,
        "build-training-set",
        "--entities-sql",
        query,
        "--features",
        "user_features:user_order_days",
        "--full-feature-names",
        "--output",
        str(out),
    )
    assert code == 0, err
    table = pq.read_table(out)
    assert table.num_rows == 25
    assert table.column_names[-1] == "user_features__user_order_days"
    assert table.column(2).null_count == 0
    meta = read_training_meta(out)
    assert meta["entities"] == {"sql": query} and meta["full_feature_names"] is True


def test_materialize_range_and_incremental(example_project: Path) -> None:
    code, out, err = fsql(
        example_project,
        "materialize",
        "2026-01-01T00:00:00",
        "2026-02-01T00:00:00",
        "--select",
        "item_features",
    )
    assert code == 0, err
    assert out.startswith("item_features:")
    code, out, err = fsql(example_project, "materialize-incremental", "2026-03-01T00:00:00")
    assert code == 0, err
    assert "item_features" in out and "user_features" in out
    code, out, err = fsql(example_project, "materialize", "2026-03-01", "2026-01-01")
    assert code == 2 and "START is after END" in err


def test_run_select_and_exclude(example_project: Path) -> None:
    code, out, err = fsql(
        example_project, "run", "--select", "+user_features", "--exclude", "user_features"
    )
    assert code == 0, err
    assert "built 1 views, materialized 0 online views" in out


def test_ls_lists_views_features_services_and_lineage(example_project: Path) -> None:
    code, out, _ = fsql(example_project, "ls")
    assert code == 0
    assert "user_features" in out and "<- user_daily_orders" in out
    assert "service churn_model" in out and "item_avg_rating: float64" in out
    lines = out.splitlines()
    assert "entity user  keys: user_id  A customer of the shop." in lines
    assert (
        "on_demand cart_share_of_ltv: float64 = cart_amount / NULLIF(user_lifetime_value, 0)"
        "  (request cart_amount: float64; inputs user_features:user_lifetime_value)"
    ) in lines
    code, out, _ = fsql(example_project, "ls", "--format", "json")
    doc = json.loads(out)
    assert code == 0 and "user_features" in doc["views"]
    assert doc["entities"]["item"] == {
        "join_keys": ["item_id"],
        "description": "A product in the catalogue.",
    }
    assert doc["on_demand_features"]["item_purchase_rate_7d"]["inputs"] == [
        "item_orders:item_purchase_count_7d"
    ]


def test_secret_from_env_var_never_written(
    example_project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sentinel = "s3cr3t-Sentinel-Value-42"
    monkeypatch.setenv("FSQL_TEST_PASSWORD", sentinel)
    profiles = example_project / "profiles.yml"
    profiles.write_text(
        profiles.read_text().replace(
            "{type: duckdb,", "{type: duckdb, password: \"{{ env_var('FSQL_TEST_PASSWORD') }}\",", 1
        )
    )
    assert "FSQL_TEST_PASSWORD" in profiles.read_text()
    assert fsql(example_project, "run")[0] == 0
    out = tmp_path / "t.parquet"
    fsql(
        example_project,
        "build-training-set",
        "--entities",
        str(example_project / "data/entities.csv"),
        "--feature-service",
        "churn_model",
        "--output",
        str(out),
    )
    code, stdout, stderr = fsql(
        example_project,
        "build-training-set",
        "--entities-sql",
        f'select * from "{sentinel}"',
        "--features",
        "user_features",
        "--output",
        str(out),
    )
    assert code == 1
    assert sentinel not in stdout + stderr
    for path in [*(example_project / "target").rglob("*"), *tmp_path.rglob("*.json")]:
        if path.is_file() and path.suffix in (".sql", ".json"):
            assert sentinel not in path.read_text(), path


def test_cli_processes_never_import_pandas(ran_project: Path, tmp_path: Path) -> None:
    # pyarrow imports pandas on its first Python-to-Arrow conversion: half a second that
    # would dominate a small training set or read, so these paths go through buffers.
    out = tmp_path / "train.parquet"
    probe = (
        "import sys\n"
        "from fsql.cli.main import cli\n"
        "for args in (['build-training-set', '--entities', 'data/entities.csv',\n"
        f"              '--feature-service', 'churn_model', '--output', {str(out)!r}],\n"
        "             ['get-online', '--feature-service', 'churn_model',\n"
        "              '--entity', 'user_id=7', '--entity', 'item_id=1003'],\n"
        "             ['materialize-incremental', '2030-01-01T00:00:00']):\n"
        "    try:\n"
        "        cli.main(args, standalone_mode=False)\n"
        "    except SystemExit as stop:\n"
        "        assert not stop.code, (args, stop.code)\n"
        "print('pandas imported:', 'pandas' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ran_project, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("pandas imported: False")
    assert pq.read_metadata(out).num_rows > 0


def test_run_full_refresh_rebuilds_incremental_views_in_full(example_project: Path) -> None:
    yml = example_project / "models" / "item" / "item.yml"
    yml.write_text(yml.read_text().replace("materialized: table", "materialized: incremental"))
    code, _out, err = fsql(example_project, "run", "--select", "item_features")
    assert code == 0, err
    assert "building item_features (full: never built)" in err
    code, out, err = fsql(example_project, "run", "--select", "item_features", "--full-refresh")
    assert code == 0, err
    assert "building item_features (full: --full-refresh)" in err
    assert "built 1 views" in out


def test_example_push_and_on_demand_feature(example_project: Path) -> None:
    # The demo's second half: a pushed row joins later training sets and online reads,
    # and the on-demand feature has the same value offline and online.
    out = example_project / "target" / "cart.parquet"
    features = "user_features:user_lifetime_value,cart_share_of_ltv"
    assert fsql(example_project, "run")[0] == 0
    code, text, err = fsql(example_project, "push", "user_features", "data/push_user_features.csv")
    assert code == 0 and "1 rows pushed" in text, err
    code, _, err = fsql(
        example_project,
        "build-training-set",
        "--entities",
        "data/requests.csv",
        "--features",
        features,
        "--output",
        str(out),
    )
    assert code == 0, err
    rows = pq.read_table(out).to_pylist()
    assert [r["user_lifetime_value"] for r in rows][-1] == 8400.0  # the pushed value
    assert rows[-1]["cart_share_of_ltv"] == 60.0 / 8400.0
    assert rows[2]["cart_share_of_ltv"] == 0.0 and rows[3]["cart_share_of_ltv"] is None
    code, text, err = fsql(
        example_project,
        "get-online",
        "--features",
        features,
        "--entity",
        "user_id=7",
        "--entity",
        "cart_amount=60.0",
    )
    assert code == 0, err
    served = json.loads(text)
    assert served["user_lifetime_value"] == rows[-1]["user_lifetime_value"]
    assert served["cart_share_of_ltv"] == rows[-1]["cart_share_of_ltv"]


def test_joining_is_announced_only_once_the_entities_passed_their_checks(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from click.testing import CliRunner

    from fsql.cli.main import cli
    from tests.support.project_factory import ViewSpec, make_project

    at = datetime(2026, 1, 1, tzinfo=UTC)
    spec = ViewSpec(
        "spend",
        ["user"],
        [("spend", "float64")],
        [{"user_id": 1, "event_timestamp": at, "spend": 1.0}],
    )
    root = make_project(tmp_path / "p", [spec], {"user": ["user_id"]})
    bad, good = tmp_path / "bad.csv", tmp_path / "good.csv"
    bad.write_text("user_id,when\n1,2026-01-02\n")
    good.write_text("user_id,event_timestamp\n1,2026-01-02T00:00:00\n")

    def train(entities: Path) -> object:
        args = [
            "build-training-set",
            "--project-dir",
            str(root),
            "--entities",
            str(entities),
            "--features",
            "spend:spend",
            "--output",
            str(tmp_path / "out.parquet"),
        ]
        return CliRunner().invoke(cli, args)

    failed = train(bad)
    assert failed.exit_code == 2 and "joining features" not in failed.stderr
    done = train(good)
    assert done.exit_code == 0 and "joining features onto 1 entity rows" in done.stderr


def test_windowed_view_through_the_cli(tmp_path: Path) -> None:
    """`ls` says what each windowed feature computes; `run` builds the view; a training set
    from a csv of labels holds the exact window values (the event at t - w left out)."""
    from datetime import UTC, datetime

    from tests.support.project_factory import ViewSpec, make_project

    at = datetime(2024, 5, 1, 12, tzinfo=UTC)
    events = [
        {"user_id": 1, "event_timestamp": at.replace(hour=h), "amount": float(h)}
        for h in (10, 11, 12)
    ]
    spec = ViewSpec(
        name="spend",
        entities=["user"],
        features=[("amount", "float64")],
        rows=events,
        aggregations=[
            {"column": "amount", "function": "sum", "windows": ["1h", "2h"]},
            {"function": "count", "windows": ["2h"]},
        ],
    )
    root = make_project(tmp_path / "p", [spec], {"user": ["user_id"]})
    code, out, err = fsql(root, "ls")
    assert code == 0, err
    assert "amount_sum_1h: float64 = sum(amount) over 1h" in out
    assert "count_2h: int64 = count(*) over 2h" in out
    code, out, err = fsql(root, "run")
    assert code == 0, err
    labels = tmp_path / "labels.csv"
    labels.write_text("user_id,event_timestamp\n1,2024-05-01T12:00:00Z\n2,2024-05-01T12:00:00Z\n")
    result = tmp_path / "out.parquet"
    code, out, err = fsql(
        root,
        "build-training-set",
        "--entities",
        str(labels),
        "--features",
        "spend",
        "--output",
        str(result),
    )
    assert code == 0, err
    rows = pq.read_table(result).to_pylist()
    assert [(r["amount_sum_1h"], r["amount_sum_2h"], r["count_2h"]) for r in rows] == [
        (12.0, 23.0, 2),  # (11:00, 12:00] and (10:00, 12:00]: the 10:00 and 11:00 edges out
        (None, None, 0),  # a key with no events: counts 0, the rest NULL
    ]


def test_pushed_clicks_count_alike_in_training_sets_and_online_reads(
    example_project: Path, tmp_path: Path
) -> None:
    """The demo's checkout flow: add-to-cart clicks pushed "now" to the windowed user_cart
    are counted by a training set of checkout_model and by `get-online --now` alike, at
    window edges too (a click exactly 5 minutes before is out, one at the time is in)."""
    from datetime import UTC, datetime, timedelta

    assert fsql(example_project, "run")[0] == 0
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)

    def at(minutes: int) -> str:
        return str(now - timedelta(minutes=minutes))

    clicks = tmp_path / "clicks.csv"
    clicks.write_text(f"user_id,event_timestamp,quantity\n7,{at(6)},5\n7,{at(3)},2\n7,{at(1)},1\n")
    code, out, err = fsql(example_project, "push", "user_cart", str(clicks))
    assert code == 0 and "3 rows pushed" in out, err
    # (minutes before now, cart_items_added_5m, cart_adds_1h)
    cases = [(0, 3, 3), (1, 3, 3), (4, 5, 1), (6, 5, 1), (11, None, 0)]
    requests = tmp_path / "requests.csv"
    requests.write_text(
        "user_id,event_timestamp,cart_amount\n"
        + "".join(f"7,{at(minutes)},60.0\n" for minutes, _, _ in cases)
    )
    out_path = tmp_path / "checkout.parquet"
    code, _, err = fsql(
        example_project,
        "build-training-set",
        "--entities",
        str(requests),
        "--feature-service",
        "checkout_model",
        "--output",
        str(out_path),
    )
    assert code == 0, err
    rows = pq.read_table(out_path).to_pylist()
    for row, (minutes, items, adds) in zip(rows, cases, strict=True):
        assert (row["cart_items_added_5m"], row["cart_adds_1h"]) == (items, adds), minutes
        code, served, err = fsql(
            example_project,
            "get-online",
            "--feature-service",
            "checkout_model",
            "--entity",
            "user_id=7",
            "--entity",
            "cart_amount=60.0",
            "--now",
            at(minutes),
        )
        assert code == 0, err
        online = json.loads(served)
        assert {k: online[k] for k in row if k != "event_timestamp"} == {
            k: v for k, v in row.items() if k != "event_timestamp"
        }, minutes


def test_get_online_reads_an_entity_file_in_three_formats(
    ran_project: Path, tmp_path: Path
) -> None:
    entities = tmp_path / "rows.csv"
    entities.write_text("item_id\n1003\n1021\n99999\n")
    base = [
        "get-online",
        "--features",
        "item_features:item_category,item_features:item_review_count",
    ]
    code, out, err = fsql(ran_project, *base, "--entities", str(entities))
    assert code == 0, err
    assert json.loads(out) == [
        {"item_id": 1003, "item_category": "books", "item_review_count": 8},
        {"item_id": 1021, "item_category": "garden", "item_review_count": 26},
        {"item_id": 99999, "item_category": None, "item_review_count": None},
    ]
    code, out, _ = fsql(ran_project, *base, "--entities", str(entities), "--format", "csv")
    assert out.splitlines() == [
        "item_id,item_category,item_review_count",
        "1003,books,8",
        "1021,garden,26",
        "99999,,",
    ]
    code, out, _ = fsql(ran_project, *base, "--entity", "item_id=1003", "--format", "table")
    assert out.splitlines() == [
        "item_id  item_category  item_review_count",
        "1003     books          8",
    ]
    code, _, err = fsql(ran_project, *base)
    assert code == 2 and "give --entity key=value (one row) or --entities FILE" in err


def test_a_view_deleted_from_the_project_is_an_orphan_until_torn_down(
    example_project: Path,
) -> None:
    assert fsql(example_project, "run")[0] == 0
    assert fsql(example_project, "ls", "--orphans") == (0, "", "")
    # Delete user_cart (its YAML entry, its model and its place in checkout_model).
    user_yml = example_project / "models" / "user" / "user.yml"
    text = user_yml.read_text()
    user_yml.write_text(text[: text.index("  - name: user_cart")])
    (example_project / "models" / "user" / "user_cart.sql").unlink()
    services = example_project / "models" / "services.yml"
    services.write_text(services.read_text().replace("      - user_cart\n", ""))
    code, out, err = fsql(example_project, "ls", "--orphans")
    assert (code, out) == (0, "user_cart\n"), err
    assert json.loads(fsql(example_project, "ls", "--orphans", "--format", "json")[1]) == [
        "user_cart"
    ]
    code, _, err = fsql(example_project, "teardown", "user_cart", "nope")
    assert code == 2 and "no view named 'nope'" in err
    assert fsql(example_project, "ls", "--orphans")[1] == "user_cart\n"  # nothing removed
    code, out, err = fsql(example_project, "teardown", "user_cart")
    assert code == 0 and "user_cart" in out, err
    assert fsql(example_project, "ls", "--orphans")[1] == ""
    # A project view: its values go, and freshness says it was never materialized.
    assert fsql(example_project, "teardown", "item_orders")[0] == 0
    code, out, _ = fsql(example_project, "freshness", "--format", "json")
    assert {r["view"]: r["status"] for r in json.loads(out)}["item_orders"] == "never"
