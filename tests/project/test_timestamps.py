"""A view's time columns and `visible_at`, as the parser reads them."""

from __future__ import annotations

from pathlib import Path

from fsql.project.load import load_project
from tests.support.project_files import SRC, make, one_error, view

SQL = f"select user_id, event_timestamp, created_at, f from {SRC}\n"


def test_visible_at_defaults_to_event_time_and_takes_created_time(tmp_path: Path) -> None:
    plain = load_project(make(tmp_path / "a", view("v", SQL, created_timestamp="created_at")))
    assert plain.views["v"].visible_at == "event_timestamp"
    assert "visible_at" not in plain.views["v"].metadata()  # hashes of older views unmoved
    arrived = view("v", SQL, created_timestamp="created_at", visible_at="created_timestamp")
    late = load_project(make(tmp_path / "b", arrived)).views["v"]
    assert late.visible_at == "created_timestamp"
    assert late.metadata()["visible_at"] == "created_timestamp"
    assert late.content_hash != plain.views["v"].content_hash  # a new definition


def test_visible_at_mistakes(tmp_path: Path) -> None:
    wrong = view("v", SQL, created_timestamp="created_at", visible_at="arrival")
    err = one_error(
        make(tmp_path / "a", wrong), "visible_at must be event_timestamp or", "models/v.yml"
    )
    assert "'arrival'" in err.message
    missing = view("v", SQL, visible_at="created_timestamp")
    err = one_error(
        make(tmp_path / "b", missing), "needs created_timestamp: <column>", "models/v.yml"
    )
    assert err.hint and "arrived" in err.hint
