"""`entities: []` as the parser reads it: a view joined by time alone; no `entities:` at
all is still an error that says how to write one."""

from __future__ import annotations

from pathlib import Path

from fsql.definitions.models import GLOBAL_KEY
from fsql.project.load import load_project
from tests.support.project_files import SRC, make, one_error, view


def test_an_empty_entity_list_is_a_global_view(tmp_path: Path) -> None:
    sql = f"select event_timestamp, f\nfrom {SRC}\n"
    project = load_project(make(tmp_path, view("g", sql, entities=[])))
    g = project.views["g"]
    assert g.is_global and g.user_keys == () and g.join_keys == (GLOBAL_KEY,)
    assert g.entities == ()
    # Its table is the model with the constant key beside every row.
    assert GLOBAL_KEY in g.query.sql()


def test_no_entities_at_all_says_how_to_write_a_global_view(tmp_path: Path) -> None:
    root = make(tmp_path, view("v", entities=None))
    err = one_error(root, "needs entities", "models/v.yml")
    assert err.hint is not None and "entities: []" in err.hint
