"""Tests for `fsql.config.yaml_lines`: YAML that remembers line numbers."""

from __future__ import annotations

from pathlib import Path

import pytest

from fsql.config.yaml_lines import LineDict, line_of, load_yaml_file, load_yaml_text
from fsql.errors import ProjectError

DOC = """\
# a comment
entities:
  - name: user
    join_keys: [user_id]

  - name: item
    join_keys: [item_id]
"""


def test_mappings_remember_their_line() -> None:
    data = load_yaml_text(DOC, "m.yml")
    assert isinstance(data, LineDict)
    assert line_of(data) == 2
    user, item = data["entities"]
    assert isinstance(user, LineDict)
    assert line_of(user) == 3
    assert line_of(item) == 6
    assert user == {"name": "user", "join_keys": ["user_id"]}


def test_line_of_plain_values_is_none() -> None:
    assert line_of([1, 2]) is None
    assert line_of("x") is None
    assert line_of({}) is None


def test_flow_mapping_line() -> None:
    data = load_yaml_text("a: 1\nb: {c: 2}\n", "f.yml")
    assert line_of(data["b"]) == 2


def test_merge_keys_still_work() -> None:
    data = load_yaml_text("base: &b {x: 1}\nmore:\n  <<: *b\n  y: 2\n", "f.yml")
    assert data["more"] == {"x": 1, "y": 2}


def test_duplicate_key_reports_the_second_line() -> None:
    with pytest.raises(ProjectError, match="duplicate key 'name'") as info:
        load_yaml_text("a:\n  name: x\n  other: 1\n  name: y\n", "dup.yml")
    err = info.value
    assert err.location.file == "dup.yml"
    assert err.location.line == 4
    assert err.render().startswith("dup.yml:4: ")


def test_syntax_error_has_line_and_column() -> None:
    with pytest.raises(ProjectError, match="invalid YAML") as info:
        load_yaml_text("a: 1\nb: [1, 2\nc: 3\n", "bad.yml")
    err = info.value
    assert err.location.file == "bad.yml"
    assert err.location.line is not None and err.location.line >= 2
    assert err.location.column is not None
    assert err.render().startswith(f"bad.yml:{err.location.line}:{err.location.column}: ")


def test_syntax_error_exact_position() -> None:
    # A tab is not allowed for indentation: the scanner stops at line 2, column 1.
    with pytest.raises(ProjectError) as info:
        load_yaml_text("a:\n\tb: 1\n", "tab.yml")
    assert (info.value.location.line, info.value.location.column) == (2, 1)


def test_empty_document_is_none() -> None:
    assert load_yaml_text("", "e.yml") is None


def test_file_display_name_and_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "x.yml"
    path.write_text("a: {b: 1}\n", encoding="utf-8")
    assert load_yaml_file(path, "models/x.yml") == {"a": {"b": 1}}
    with pytest.raises(ProjectError, match="cannot read") as info:
        load_yaml_file(tmp_path / "missing.yml", "models/missing.yml")
    assert info.value.location.file == "models/missing.yml"


def test_unhashable_key_is_a_project_error() -> None:
    with pytest.raises(ProjectError):
        load_yaml_text("? [a, b]\n: 1\n", "k.yml")
