"""The drift scenario: train on one period, serve another in which one feature's source
values were scaled by 1.5. `fsql skew` flags exactly that feature, and its HTML report,
opened in headless Chromium, draws a histogram for every feature."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from fsql.cli.main import cli
from fsql.monitor.report import SERVING_COLOUR, TRAINING_COLOUR
from fsql.store import FeatureStore
from tests.support.engines import unavailable

USERS = 400
PROJECT = {
    "fsql_project.yml": "name: drift\nprofile: drift\n",
    "profiles.yml": (
        "drift:\n  target: dev\n  outputs:\n    dev:\n"
        "      offline: {type: duckdb, path: target/fsql.duckdb}\n"
        "      online: {type: sqlite, path: target/online.db}\n"
    ),
    "models/stats.sql": (
        "select cast(user_id as bigint) as user_id, cast(ts as timestamp) as event_timestamp,\n"
        "    cast(spend as double) as spend, cast(visits as bigint) as visits,\n"
        "    cast(plan as varchar) as plan\nfrom {{ source('raw', 'stats') }}\n"
    ),
    "models/stats.yml": """
entities: [{name: user, join_keys: [user_id]}]
sources: [{name: raw, tables: [{name: stats, path: data/stats.csv}]}]
feature_views:
  - name: stats
    entities: [user]
    timestamp: event_timestamp
    online: true
    materialized: table
    features:
      - {name: spend, type: float64}
      - {name: visits, type: int64}
      - {name: plan, type: string}
feature_services:
  - name: model
    logging: {sample_rate: 1.0}
    features: [stats]
""",
}


def _write_stats(project: Path, scale: float) -> None:
    rng = random.Random(5)
    lines = ["user_id,ts,spend,visits,plan"]
    for user in range(1, USERS + 1):
        spend = round(rng.lognormvariate(3, 0.5), 2)
        lines.append(
            f"{user},2026-01-01 00:00:00,{spend * scale:.4f},{rng.randrange(20)},"
            f"{rng.choice(['free', 'pro', 'team'])}"
        )
    (project / "data").mkdir(exist_ok=True)
    (project / "data" / "stats.csv").write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def drifted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = tmp_path_factory.mktemp("drift")
    for rel, text in PROJECT.items():
        (project / rel).parent.mkdir(parents=True, exist_ok=True)
        (project / rel).write_text(text)
    _write_stats(project, 1.0)
    entities = project / "entities.csv"
    entities.write_text(
        "user_id,event_timestamp\n"
        + "".join(f"{u},2026-02-01 00:00:00\n" for u in range(1, USERS + 1))
    )
    with FeatureStore(project) as store:
        store.run()
        store.get_historical_features(str(entities), feature_service="model").to_parquet(
            project / "train.parquet"
        )
    # Another period: spend is now reported in another unit (x 1.5); served from there.
    _write_stats(project, 1.5)
    with FeatureStore(project) as store:
        store.run()
        for user in range(1, USERS + 1):
            store.get_online_features(None, [{"user_id": user}], "model")
    return project


def test_skew_flags_exactly_the_scaled_feature(drifted: Path) -> None:
    result = CliRunner().invoke(
        cli,
        [
            "skew",
            "--project-dir",
            str(drifted),
            "--training",
            str(drifted / "train.parquet"),
            "--format",
            "json",
            "--report",
            str(drifted / "skew.html"),
        ],
    )
    assert result.exit_code == 1, result.output
    doc = json.loads(result.stdout)
    flags = {f["feature"]: f["flagged"] for f in doc["features"]}
    assert flags == {"spend": True, "visits": False, "plan": False}
    by_name = {f["feature"]: f for f in doc["features"]}
    assert by_name["spend"]["p_value"] < 1e-6
    assert by_name["visits"]["p_value"] == 1.0 and by_name["plan"]["p_value"] == 1.0
    assert by_name["spend"]["serving_rows"] == USERS
    assert "skew: spend (p < 0.01" in result.stderr
    # A range with nothing served: nothing to compare, exit 1 and say so.
    empty = CliRunner().invoke(
        cli,
        [
            "skew",
            "--project-dir",
            str(drifted),
            "--training",
            str(drifted / "train.parquet"),
            "--end",
            "2020-01-01",
        ],
    )
    assert empty.exit_code == 1 and "logged no rows in the range" in empty.stderr


def _columns_with(image: object, colour: str) -> int:
    """How many charts show bars of `colour`: groups of image rows holding that colour."""
    from PIL import Image

    assert isinstance(image, Image.Image)
    want = tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5))
    rgb = image.convert("RGB")
    width, height = rgb.size
    pixels = rgb.load()
    rows = [y for y in range(height) if any(pixels[x, y] == want for x in range(0, width, 2))]
    groups = 0
    previous = -10
    for y in rows:
        if y - previous > 5:
            groups += 1
        previous = y
    return groups


def test_the_report_draws_a_histogram_per_feature_in_chromium(
    drifted: Path, tmp_path: Path
) -> None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        unavailable("chromium", "Chromium is not installed (Debian package chromium)")
    report = drifted / "skew.html"
    if not report.exists():
        CliRunner().invoke(
            cli,
            [
                "skew",
                "--project-dir",
                str(drifted),
                "--training",
                str(drifted / "train.parquet"),
                "--report",
                str(report),
            ],
        )
    shot = tmp_path / "report.png"
    subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--window-size=900,1400",
            f"--screenshot={shot}",
            report.as_uri(),
        ],
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert shot.exists()
    from PIL import Image

    with Image.open(shot) as image:
        # The legend shows each colour once; then one chart per feature (3) with both.
        assert _columns_with(image, TRAINING_COLOUR) == 1 + 3
        assert _columns_with(image, SERVING_COLOUR) == 1 + 3
