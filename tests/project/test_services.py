"""Feature services as the parser reads them: `logging: {sample_rate}`, and entries that
join a view through other entity columns (`{view, as, join_keys, features}`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from fsql.project.load import load_project
from tests.support.project_files import make, one_error, view


def _service(logging: Any) -> dict[str, str]:
    doc: dict[str, Any] = {"name": "s", "features": ["v:f"]}
    if logging is not None:
        doc["logging"] = logging
    return {"models/services.yml": yaml.safe_dump({"feature_services": [doc]})}


@pytest.mark.parametrize(
    ("logging", "rate"),
    [(None, None), ({"sample_rate": 0.1}, 0.1), ({"sample_rate": 1}, 1.0), ({}, 1.0)],
)
def test_sample_rate(tmp_path: Path, logging: Any, rate: float | None) -> None:
    project = load_project(make(tmp_path, view("v"), _service(logging)))
    assert project.services["s"].log_sample_rate == rate


@pytest.mark.parametrize(
    ("logging", "text"),
    [
        ({"sample_rate": 0}, "sample_rate must be a number in (0, 1], not 0"),
        ({"sample_rate": 1.5}, "not 1.5"),
        ({"sample_rate": "half"}, "not 'half'"),
        ({"sample_rate": True}, "not True"),
        (0.1, "logging must be a mapping"),
        ({"sample": 0.1}, "unknown key 'sample'"),
    ],
)
def test_bad_logging_is_one_line(tmp_path: Path, logging: Any, text: str) -> None:
    err = one_error(make(tmp_path, view("v"), _service(logging)), text, "models/services.yml")
    assert "feature service 's': logging" in err.message


def _entries(*entries: Any) -> dict[str, str]:
    doc = {"name": "s", "features": list(entries)}
    return {"models/services.yml": yaml.safe_dump({"feature_services": [doc]})}


def test_a_mapped_entry_names_its_features_and_keys(tmp_path: Path) -> None:
    entry = {"view": "v", "as": "buyer", "join_keys": {"user_id": "buyer_id"}}
    subset = {"view": "v", "as": "seller", "join_keys": {"user_id": "seller_id"}, "features": ["f"]}
    project = load_project(make(tmp_path, view("v"), _entries(entry, subset, "v:f")))
    refs = project.services["s"].features
    assert [(r.view, r.feature, r.alias, r.key_map) for r in refs] == [
        ("v", None, "buyer", (("user_id", "buyer_id"),)),
        ("v", "f", "seller", (("user_id", "seller_id"),)),
        ("v", "f", None, ()),
    ]
    assert str(refs[0]) == "v as buyer on user_id=buyer_id"


@pytest.mark.parametrize(
    ("entry", "text"),
    [
        ({"view": "nope", "as": "a"}, "unknown feature view 'nope'"),
        ({"as": "a"}, "needs view:"),
        ({"view": "v", "join_keys": {"user_id": "x"}}, "needs as:"),
        ({"view": "v", "as": "v"}, "as: 'v' is a feature view's name"),
        ({"view": "v", "as": "__fsql_x"}, "needs as:"),
        ({"view": "v", "as": "a", "join_keys": {"item_id": "x"}}, "no join key 'item_id'"),
        ({"view": "v", "as": "a", "join_keys": {"user_id": "f"}}, "also a column of view 'v'"),
        ({"view": "v", "as": "a", "join_keys": {"user_id": 3}}, "must map to an entity column"),
        ({"view": "v", "as": "a", "join_keys": ["user_id"]}, "join_keys must map"),
        ({"view": "v", "as": "a", "features": ["g"]}, "has no feature 'g'"),
        ({"view": "v", "as": "a", "features": []}, "must be a list of feature names"),
        ({"view": "v", "as": "a", "on": 1}, "unknown key 'on'"),
    ],
)
def test_bad_mapped_entry_is_one_line(tmp_path: Path, entry: dict, text: str) -> None:
    err = one_error(make(tmp_path, view("v"), _entries(entry)), text, "models/services.yml")
    assert "feature service 's'" in err.message


def test_an_alias_is_used_once_per_service(tmp_path: Path) -> None:
    entry = {"view": "v", "as": "a"}
    root = make(tmp_path, view("v"), _entries(entry, entry))
    err = one_error(root, "used twice", "models/services.yml")
    assert "as: 'a' is used twice in the service" in err.message


def test_a_global_view_has_no_keys_to_map(tmp_path: Path) -> None:
    entry = {"view": "g", "as": "a", "join_keys": {"user_id": "x"}}
    root = make(tmp_path, view("g", entities=[]), _entries(entry))
    err = one_error(root, "has no entities", "models/services.yml")
    assert err.message.startswith("feature service 's': view 'g' has no entities")
