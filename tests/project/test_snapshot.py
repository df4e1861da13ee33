"""The project snapshot of online reads (target/project_snapshot.json): after any sequence
of edits to a project's files, environment and settings, the project a read gets is the
one a full parse gives; it comes from the snapshot exactly when nothing changed since
the snapshot was taken; and a snapshot's views compile nothing."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from fsql.definitions.models import Project
from fsql.project import load as load_module
from fsql.project import unchanged
from fsql.project.load import load_project
from fsql.project.parse_cache import view_to_json
from fsql.project.snapshot import SNAPSHOT_FILE, Inputs, project_for_reads
from fsql.store import FeatureStore
from tests.conftest import copy_example
from tests.support.cli_runs import fsql

ENV = "FSQL_TEST_SNAPSHOT_CURRENCY"
ON_DEMAND_ROW = {"user_id": 7, "cart_amount": 10.5}


def summary(project: Project) -> dict[str, Any]:
    """Everything a project holds but its views' SQL trees, as comparable values."""
    return {
        "head": [project.name, project.root, project.dialect, project.profile, project.vars],
        "target_path": project.target_path,
        "entities": project.entities,
        "sources": project.sources,
        "views": [view_to_json(v) for v in project.views.values()],
        "order": project.dag.order,
        "parents": {n: project.dag.parents(n) for n in project.dag.order},
        "services": project.services,
        "on_demand": {
            name: [o.type, o.expression.sql(), o.request_columns, o.inputs, o.file, o.line, o.text]
            for name, o in project.on_demand.items()
        },
        "env_read": project.env_read,
    }


class Reads:
    """A project read as `fsql get-online` reads it, counting the full parses."""

    def __init__(self, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.root = root
        self.vars: dict[str, Any] = {}
        self.parses = 0

        def counted(*args: Any, **kwargs: Any) -> Project:
            self.parses += 1
            return load_project(*args, **kwargs)

        monkeypatch.setattr(load_module, "load_project", counted)

    def read(self) -> Project:
        inputs = Inputs(self.root, None, None, dict(self.vars))
        return project_for_reads(inputs, self.root / "target")

    def parsed(self) -> Project:
        return load_project(self.root, dict(self.vars))


def _edit(path: Path, old: str, new: str) -> None:
    """`old` replaced by `new`, or back when the file holds `new`: every call changes it."""
    text = path.read_text()
    if old in text:
        path.write_text(text.replace(old, new, 1))
    else:
        assert new in text, (path, new)
        path.write_text(text.replace(new, old, 1))


def _toggle(values: dict[str, Any], key: str, one: Any, other: Any) -> None:
    values[key] = other if values.get(key) == one else one


def _toggle_view(root: Path) -> None:
    """A view added (model and YAML), or removed again."""
    model, yml = root / "models/user/ltv_copy.sql", root / "models/user/ltv_copy.yml"
    if model.exists():
        model.unlink()
        yml.unlink()
        return
    model.write_text(
        "select user_id, event_timestamp, user_lifetime_value as ltv_copy\n"
        "from {{ ref('user_features') }}\n"
    )
    view = {
        "name": "ltv_copy",
        "entities": ["user"],
        "timestamp": "event_timestamp",
        "online": True,
        "features": [{"name": "ltv_copy", "type": "float64"}],
    }
    yml.write_text(json.dumps({"feature_views": [view]}))  # JSON is YAML


# Each edit changes what a parse gives; `Reads` is the project being read.
EDITS: dict[str, Callable[[Reads, pytest.MonkeyPatch], None]] = {
    "feature description": lambda r, _: _edit(
        r.root / "models/user/user.yml",
        "Total amount the user has spent so far.",
        "Total amount spent so far, in euros.",
    ),
    "ttl": lambda r, _: _edit(r.root / "models/user/user.yml", "ttl: 3650d", "ttl: 3000d"),
    "service": lambda r, _: _edit(
        r.root / "models/services.yml", "Features for the churn", "Features of the churn"
    ),
    "on-demand expression": lambda r, _: _edit(
        r.root / "models/services.yml",
        "item_purchase_count_7d / 7.0",
        "item_purchase_count_7d / 7.5",
    ),
    "model": lambda r, _: _edit(
        r.root / "models/user/user_features.sql",
        "as user_lifetime_value,",
        "as user_lifetime_value, -- edited\n",
    ),
    "model reads an env var": lambda r, _: _edit(
        r.root / "models/user/user_features.sql",
        "select\n",
        f"select '{{{{ env_var('{ENV}', 'eur') }}}}' as currency,\n",
    ),
    "new view": lambda r, _: _toggle_view(r.root),
    "env var": lambda _, m: m.setenv(ENV, "usd" if os.environ.get(ENV) != "usd" else "gbp"),
    "macro": lambda r, _: _edit(
        r.root / "macros/time.sql", "Time-bucketing helpers", "Time bucketing helpers"
    ),
    "cli var": lambda r, _: _toggle(r.vars, "daily_job_delay_minutes", 7, 3),
    "profile": lambda r, _: _edit(r.root / "profiles.yml", "target: dev", "target: dev  # edited"),
    "fsql version": lambda _, m: m.setattr(
        unchanged, "__version__", "99.0" if unchanged.__version__ != "99.0" else "98.0"
    ),
    "snapshot damaged": lambda r, _: (r.root / "target" / SNAPSHOT_FILE).write_text("{nope"),
    "snapshot removed": lambda r, _: (r.root / "target" / SNAPSHOT_FILE).unlink(missing_ok=True),
}
# What changes nothing a parse reads: the snapshot stays in use.
NOTHING = {
    "a data file": lambda r, _: (r.root / "data" / "notes.txt").write_text("n"),
    "an unread env var": lambda _, m: m.setenv("FSQL_TEST_SNAPSHOT_UNREAD", "1"),
    "target/ written": lambda r, _: (r.root / "target" / "other.json").write_text("{}"),
}


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_example(tmp_path_factory.mktemp("snapshot") / "shop")


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(steps=st.lists(st.sampled_from(sorted(EDITS) + sorted(NOTHING)), max_size=5))
@example(steps=["model reads an env var", "env var", "an unread env var", "env var"])
@example(steps=["new view", "snapshot damaged", "new view", "cli var"])
def test_reads_see_the_parsed_project_after_any_sequence_of_edits(
    steps: list[str], shop: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    root = tmp_path_factory.mktemp("seq") / "shop"
    shutil.copytree(shop, root)
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv(ENV, raising=False)
        reads = Reads(root, mp)
        assert summary(reads.read()) == summary(reads.parsed())
        assert reads.parses == 1
        for step in steps:
            (EDITS.get(step) or NOTHING[step])(reads, mp)
            before = reads.parses
            got = reads.read()
            assert summary(got) == summary(reads.parsed()), step
            changed = step in EDITS and not (step == "env var" and not _reads_env(root))
            assert reads.parses == before + changed, step
            again = reads.parses
            assert summary(reads.read()) == summary(got)
            assert reads.parses == again, f"read again after {step}: parsed again"


def _reads_env(root: Path) -> bool:
    return ENV in (root / "models/user/user_features.sql").read_text()


def test_a_snapshot_view_compiles_nothing(example_project: Path) -> None:
    code, shown = fsql(example_project, "run", "--quiet")
    assert code == 0, shown
    FeatureStore(example_project, for_reads=True).close()  # parses, takes the snapshot
    assert (example_project / "target" / SNAPSHOT_FILE).is_file()
    with FeatureStore(example_project, for_reads=True) as store:
        row = {"user_id": 7}
        read = store.get_online_features(["user_features:user_lifetime_value"], [row])
        assert read.to_dict()["user_lifetime_value"] == [8222.14]
        with pytest.raises(RuntimeError, match="opened for online reads"):
            store.compiled.plans["user_features"].sql("create")
    with FeatureStore(example_project) as store:  # parsed: compiles as ever
        assert "user_lifetime_value" in store.compiled.plans["user_features"].sql("create")


def test_an_on_demand_feature_of_a_snapshot_is_the_parsed_one(example_project: Path) -> None:
    code, shown = fsql(example_project, "run", "--quiet")
    assert code == 0, shown
    with FeatureStore(example_project) as store:
        parsed = store.get_online_features(["cart_share_of_ltv"], [ON_DEMAND_ROW]).to_dict()
    FeatureStore(example_project, for_reads=True).close()  # parses, takes the snapshot
    with FeatureStore(example_project, for_reads=True) as store:
        odf = store.project.on_demand["cart_share_of_ltv"]
        assert "ExpressionText" in repr(odf.expression)  # from the snapshot, not parsed
        read = store.get_online_features(["cart_share_of_ltv"], [ON_DEMAND_ROW]).to_dict()
    assert read == parsed
    assert read["cart_share_of_ltv"][0] == pytest.approx(10.5 / 8222.14)


def test_the_snapshot_holds_no_profile_secret(
    example_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "s3cr3t-for-the-snapshot"
    monkeypatch.setenv("FSQL_TEST_SNAPSHOT_PASSWORD", secret)
    _edit(
        example_project / "profiles.yml",
        "online: {type: sqlite, path: target/online.db}",
        "online: {type: sqlite, path: target/online.db}\n"
        "      password: \"{{ env_var('FSQL_TEST_SNAPSHOT_PASSWORD') }}\"",
    )
    FeatureStore(example_project, for_reads=True).close()
    written = (example_project / "target" / SNAPSHOT_FILE).read_text()
    assert "user_lifetime_value" in written
    assert secret not in written


@pytest.mark.parametrize("damage", ["type", "cycle", "shape"])
def test_a_snapshot_this_fsql_did_not_write_is_parsed_over(
    shop: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, damage: str
) -> None:
    """Its digest matches (target/ is writable by anyone who can build), its content does
    not load: the read parses, as with no snapshot."""
    root = tmp_path / "shop"
    shutil.copytree(shop, root)
    reads = Reads(root, monkeypatch)
    reads.read()
    path = root / "target" / SNAPSHOT_FILE
    doc = json.loads(path.read_text())
    views = doc["project"]["views"]
    if damage == "type":
        views[0]["features"][0]["feature"][1] = "no-such-type"
    elif damage == "cycle":
        views[0]["refs"], views[1]["refs"] = [views[1]["name"]], [views[0]["name"]]
    else:
        doc["project"]["services"] = {"not": "a list"}
    path.write_text(json.dumps(doc))
    assert summary(reads.read()) == summary(reads.parsed())
    assert reads.parses == 2


def test_a_file_changed_while_the_project_is_parsed_is_not_snapshotted(
    shop: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The snapshot would describe the files as they were: the next read parses again."""
    root = tmp_path / "shop"
    shutil.copytree(shop, root)
    EDITS["model reads an env var"](Reads(root, monkeypatch), monkeypatch)  # env names
    yml = root / "models/user/user.yml"

    def parse_then_edit(*args: Any, **kwargs: Any) -> Project:
        project = load_project(*args, **kwargs)
        if "3650d" in yml.read_text():
            _edit(yml, "ttl: 3650d", "ttl: 3000d")  # lands after the parse read the file
        return project

    monkeypatch.setattr(load_module, "load_project", parse_then_edit)
    first = project_for_reads(Inputs(root, None, None, {}), root / "target")
    assert first.views["user_features"].ttl == timedelta(days=3650)
    assert first.env_read == (ENV,)
    again = project_for_reads(Inputs(root, None, None, {}), root / "target")
    assert again.views["user_features"].ttl == timedelta(days=3000)


def test_a_logged_service_read_from_a_snapshot_writes_its_log(example_project: Path) -> None:
    """The feature log's writer needs the compiled relations, not the views' trees."""
    services = example_project / "models/services.yml"
    _edit(
        services,
        "  - name: churn_model\n",
        "  - name: churn_model\n    logging: {sample_rate: 1.0}\n",
    )
    code, shown = fsql(example_project, "run", "--quiet")
    assert code == 0, shown
    row = {"user_id": 7, "item_id": 3}
    for _ in range(2):  # the first parses and takes the snapshot, the second loads it
        with FeatureStore(example_project, for_reads=True) as store:
            store.get_online_features(feature_service="churn_model", entity_rows=[row])
    assert "UnloadedTree" in repr(store.project.views["user_features"].query)
    with duckdb.connect(str(example_project / "target/fsql.duckdb"), read_only=True) as con:
        logged = con.execute("select count(*) from churn_model__log").fetchone()
    assert logged == (2,)
