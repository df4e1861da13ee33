"""Tests for `fsql.project.load.load_project`: tiny projects built in tmp_path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from fsql.config import secrets
from fsql.errors import ProjectError, ProjectErrors
from fsql.project.load import load_project
from tests.support.project_files import DEFAULT_SQL, SRC, errors_of, make, one_error, view


@pytest.fixture(autouse=True)
def fresh_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(secrets, "_secrets", set())


# -- a valid project --------------------------------------------------------------------------


def test_minimal_project(tmp_path: Path) -> None:
    project = load_project(make(tmp_path, view("v", ttl="7d", schedule="1h", online=True)))
    v = project.views["v"]
    assert project.name == "t" and project.dialect == "duckdb"
    assert v.join_keys == ("user_id",)
    assert v.feature_names == ("f",)
    assert v.sources == (("raw", "events"),)
    assert v.refs == ()
    assert v.sql_path == "models/v.sql" and v.yml_path == "models/v.yml"
    assert v.ttl is not None and v.ttl.days == 7
    assert v.online is True
    assert set(project.entities) == {"user", "item", "user_item"}
    assert project.sources[("raw", "orders")].identifier == "analytics.orders"
    assert project.sources[("raw", "events")].path == Path("data/events.parquet")


def test_views_in_dag_order(tmp_path: Path) -> None:
    def derived(parent: str) -> str:
        return f"select user_id, event_timestamp, f from {{{{ ref('{parent}') }}}}"

    root = make(
        tmp_path,
        view("z_base"),
        view("m_mid", derived("z_base")),
        view("a_top", derived("m_mid")),
        view("b_alone"),
    )
    project = load_project(root)
    order = list(project.views)
    assert order.index("z_base") < order.index("m_mid") < order.index("a_top")
    assert sorted(order) == ["a_top", "b_alone", "m_mid", "z_base"]
    assert project.views["a_top"].refs == ("m_mid",)


@pytest.mark.parametrize(
    ("entities", "keys"),
    [
        (["user_item"], ("user_id", "item_id")),
        (["user", "item"], ("user_id", "item_id")),
        (["item", "user_item"], ("item_id", "user_id")),  # a key shared twice appears once
    ],
)
def test_join_keys_from_entities(tmp_path: Path, entities: list[str], keys: tuple) -> None:
    sql = f"select user_id, item_id, event_timestamp, f from {SRC}"
    project = load_project(make(tmp_path, view("v", sql, entities=entities)))
    assert project.views["v"].join_keys == keys


def hash_of(tmp_path: Path, sql: str, **meta: Any) -> str:
    root = make(tmp_path, view("v", sql, **meta))
    return load_project(root).views["v"].content_hash


def test_content_hash_ignores_whitespace_and_comments(tmp_path: Path) -> None:
    plain = hash_of(tmp_path, f"select user_id, event_timestamp, f from {SRC}")
    assert len(plain) == 64
    noisy = (
        "-- leading comment\nSELECT   user_id,\n\t event_timestamp, /* note */ f\n"
        f"{{# a jinja comment #}}\nFROM\n   {SRC}   \n\n"
    )
    assert hash_of(tmp_path, noisy) == plain


def test_content_hash_changes_with_meaningful_sql(tmp_path: Path) -> None:
    plain = hash_of(tmp_path, f"select user_id, event_timestamp, f from {SRC}")
    filtered = hash_of(tmp_path, f"select user_id, event_timestamp, f from {SRC} where f > 0")
    assert filtered != plain


def test_content_hash_changes_with_metadata(tmp_path: Path) -> None:
    plain = hash_of(tmp_path, DEFAULT_SQL)
    assert hash_of(tmp_path, DEFAULT_SQL, ttl="7d") != plain


def test_content_hash_covers_incremental_branch(tmp_path: Path) -> None:
    base = f"select user_id, event_timestamp, f from {SRC}"
    inc_a = base + " {% if is_incremental() %}where f > 0{% endif %}"
    inc_b = base + " {% if is_incremental() %}where f > 1{% endif %}"
    assert hash_of(tmp_path, inc_a) != hash_of(tmp_path, inc_b)


def test_output_columns_known_for_explicit_select(tmp_path: Path) -> None:
    sql = f"select e.user_id, e.event_timestamp, e.x + 1 as f from {SRC} as e"
    project = load_project(make(tmp_path, view("v", sql)))
    assert project.views["v"].output_columns == ("user_id", "event_timestamp", "f")


@pytest.mark.parametrize("select", ["*", "e.*", "*, 1 as extra"])
def test_output_columns_unknown_for_star(tmp_path: Path, select: str) -> None:
    project = load_project(make(tmp_path, view("v", f"select {select} from {SRC} as e")))
    assert project.views["v"].output_columns is None


def test_this_is_not_a_dag_edge(tmp_path: Path) -> None:
    sql = (
        f"select user_id, event_timestamp, f from {SRC}\n"
        "{% if is_incremental() %}\n"
        "where event_timestamp > (select max(event_timestamp) from {{ this }})\n"
        "{% endif %}\n"
    )
    project = load_project(make(tmp_path, view("v", sql, materialized="incremental")))
    v = project.views["v"]
    assert v.refs == ()
    assert v.materialized == "incremental"
    assert v.incremental_query is not v.query
    assert "__fsql_ref__v" in v.incremental_query.sql()


def test_vars_reach_models(tmp_path: Path) -> None:
    sql = f"select user_id, event_timestamp, f from {SRC} where f > {{{{ var('min_f', 0) }}}}"
    root = make(tmp_path, view("v", sql))
    assert "f > 0" in load_project(root).views["v"].rendered_sql
    assert "f > 5" in load_project(root, {"min_f": 5}).views["v"].rendered_sql


# -- errors -----------------------------------------------------------------------------------


def test_unknown_ref(tmp_path: Path) -> None:
    sql = "select user_id, event_timestamp, f from {{ ref('nope') }}"
    err = one_error(make(tmp_path, view("v", sql)), "ref('nope')", "models/v.sql")
    assert "no feature view" in err.message


def test_unknown_source(tmp_path: Path) -> None:
    sql = "select user_id, event_timestamp, f from {{ source('raw', 'evnts') }}"
    err = one_error(make(tmp_path, view("v", sql)), "source('raw', 'evnts')", "models/v.sql")
    assert "raw.events" in err.render()  # did-you-mean hint


def test_unknown_entity(tmp_path: Path) -> None:
    root = make(tmp_path, view("v", entities=["usr"]))
    err = one_error(root, "unknown entity 'usr'", "models/v.yml")
    assert err.location.line == 2
    assert "user" in (err.hint or "")


@pytest.mark.parametrize(
    ("ref", "text"),
    [("v:nope", "has no feature 'nope'"), ("w:f", "unknown feature view 'w'"), ("v:", "v:")],
)
def test_bad_feature_in_service(tmp_path: Path, ref: str, text: str) -> None:
    services = {"feature_services": [{"name": "svc", "features": ["v:f", ref]}]}
    root = make(tmp_path, view("v"), {"models/services.yml": yaml.safe_dump(services)})
    err = one_error(root, text, "models/services.yml")
    assert "feature service 'svc'" in err.message


def test_sql_syntax_error_has_line(tmp_path: Path) -> None:
    sql = f"select user_id, event_timestamp, f\nfrom {SRC}\nwhere (f = 1\n"
    err = one_error(make(tmp_path, view("v", sql)), "SQL syntax error", "models/v.sql")
    assert err.location.line == 3
    assert err.render().startswith("models/v.sql:3:")


def test_jinja_syntax_error_has_line(tmp_path: Path) -> None:
    sql = f"select user_id, event_timestamp, f\nfrom {SRC}\n{{% if %}}\n"
    err = one_error(make(tmp_path, view("v", sql)), "Jinja syntax error", "models/v.sql")
    assert err.location.line == 3


def test_undefined_jinja_name(tmp_path: Path) -> None:
    sql = f"select user_id, event_timestamp, f\nfrom {SRC}\nwhere f > {{{{ limit }}}}\n"
    err = one_error(make(tmp_path, view("v", sql)), "undefined", "models/v.sql")
    assert err.location.line == 3


def test_cycle(tmp_path: Path) -> None:
    def refs(other: str) -> str:
        return f"select user_id, event_timestamp, f from {{{{ ref('{other}') }}}}"

    root = make(tmp_path, view("a", refs("b")), view("b", refs("a")))
    err = one_error(root, "cycle", "models/a.sql")
    assert "a -> b -> a" in err.message


def test_self_ref(tmp_path: Path) -> None:
    sql = "select user_id, event_timestamp, f from {{ ref('v') }}"
    err = one_error(make(tmp_path, view("v", sql)), "refs itself", "models/v.sql")
    assert "this" in (err.hint or "")


def test_duplicate_view(tmp_path: Path) -> None:
    again = {"models/again.yml": view("v")["models/v.yml"]}
    err = one_error(make(tmp_path, view("v"), again), "duplicate feature view 'v'", "models/v.yml")
    assert "models/again.yml" in err.message


def test_duplicate_entity(tmp_path: Path) -> None:
    more = {"models/more.yml": "entities:\n  - name: user\n    join_keys: [uid]\n"}
    err = one_error(make(tmp_path, view("v"), more), "duplicate entity 'user'", "models/more.yml")
    assert err.location.line == 2
    assert "models/base.yml" in err.message


def test_duplicate_source_table(tmp_path: Path) -> None:
    more = {
        "models/more.yml": "sources:\n  - name: raw\n    tables:\n"
        "      - name: events\n        path: other.parquet\n"
    }
    err = one_error(
        make(tmp_path, view("v"), more), "duplicate source table raw.events", "models/more.yml"
    )
    assert err.location.line == 4


def test_missing_output_column(tmp_path: Path) -> None:
    sql = f"select user_id, event_timestamp from {SRC}"
    err = one_error(make(tmp_path, view("v", sql)), "does not output column 'f'", "models/v.sql")
    assert "models/v.yml" in (err.hint or "")


def test_missing_key_and_created_columns(tmp_path: Path) -> None:
    sql = f"select event_timestamp, f from {SRC}"
    root = make(tmp_path, view("v", sql, created_timestamp="created_at"))
    messages = [e.message for e in errors_of(root)]
    assert any("'user_id'" in m for m in messages)
    assert any("'created_at'" in m for m in messages)


@pytest.mark.parametrize("key", ["ttl", "schedule", "lookback"])
@pytest.mark.parametrize("value", ["7", "seven days", 7, "0s"])
def test_bad_duration(tmp_path: Path, key: str, value: Any) -> None:
    err = one_error(make(tmp_path, view("v", **{key: value})), f"{key}:", "models/v.yml")
    assert "feature view 'v'" in err.message


def test_huge_duration_is_a_project_error(tmp_path: Path) -> None:
    err = one_error(make(tmp_path, view("v", ttl="99999999999w")), "ttl:", "models/v.yml")
    assert err.location.line is None or err.location.line >= 1


def test_view_without_sql(tmp_path: Path) -> None:
    err = one_error(make(tmp_path, view("v", sql=None)), "has no SQL file", "models/v.yml")
    assert "models/v.sql" in (err.hint or "")


def test_sql_without_metadata(tmp_path: Path) -> None:
    root = make(tmp_path, view("v"), {"models/orphan.sql": DEFAULT_SQL})
    err = one_error(root, "model 'orphan' has no feature_views entry", "models/orphan.sql")
    assert err.location.line is None or err.location.line >= 1


def test_two_sql_files_with_the_same_stem(tmp_path: Path) -> None:
    files = {
        "models/v.yml": view("v")["models/v.yml"],
        "models/a/v.sql": DEFAULT_SQL,
        "models/b/v.sql": DEFAULT_SQL,
    }
    err = one_error(make(tmp_path, files), "two models named 'v'", "models/b/v.sql")
    assert "models/a/v.sql" in err.message


@pytest.mark.parametrize(
    "sql",
    [
        f"select user_id, event_timestamp, f from {SRC};\nselect 1",
        f"create table x as select user_id, event_timestamp, f from {SRC}",
        "insert into t values (1)",
    ],
)
def test_model_must_be_one_select(tmp_path: Path, sql: str) -> None:
    err = one_error(make(tmp_path, view("v", sql)), "exactly one SELECT", "models/v.sql")
    assert err.location.line is None or err.location.line >= 1


def test_trailing_semicolon_is_fine(tmp_path: Path) -> None:
    project = load_project(make(tmp_path, view("v", DEFAULT_SQL + ";\n")))
    assert project.views  # loads, with its views


@pytest.mark.parametrize(
    "features",
    [
        [{"name": "f", "type": "int64"}, {"name": "f", "type": "float64"}],
        [{"name": "f", "type": "int64"}, {"name": "user_id", "type": "int64"}],
    ],
)
def test_feature_declared_twice_or_is_a_key(tmp_path: Path, features: list) -> None:
    root = make(tmp_path, view("v", features=features))
    err = one_error(root, "is declared twice or is a key", "models/v.yml")
    assert err.location.line is None or err.location.line >= 1


def test_bad_feature_type(tmp_path: Path) -> None:
    root = make(tmp_path, view("v", features=[{"name": "f", "type": "integer"}]))
    err = one_error(root, "unknown type 'integer'", "models/v.yml")
    assert err.location.line is None or err.location.line >= 1


def test_unknown_key_in_view(tmp_path: Path) -> None:
    err = one_error(make(tmp_path, view("v", ttl_days=7)), "unknown key 'ttl_days'", "models/v.yml")
    assert "ttl" in (err.hint or "")


def test_unknown_top_level_section(tmp_path: Path) -> None:
    more = {"models/more.yml": "feature_view:\n  - name: x\n"}
    err = one_error(
        make(tmp_path, view("v"), more), "unknown section 'feature_view'", "models/more.yml"
    )
    assert err.location.line is None or err.location.line >= 1


def test_invalid_yaml_is_reported_first(tmp_path: Path) -> None:
    more = {"models/more.yml": "entities: [\n"}
    err = one_error(make(tmp_path, view("v"), more), "invalid YAML", "models/more.yml")
    assert err.location.line is not None


def odf(**entry: Any) -> dict[str, str]:
    doc = {
        "name": "ratio",
        "type": "float64",
        "expression": "amount / nullif(f, 0)",
        "request_columns": [{"name": "amount", "type": "float64"}],
        "inputs": ["v:f"],
        **entry,
    }
    return {"models/odf.yml": yaml.safe_dump({"on_demand_features": [doc]}, sort_keys=False)}


def test_on_demand_feature(tmp_path: Path) -> None:
    project = load_project(make(tmp_path, view("v"), odf()))
    ratio = project.on_demand["ratio"]
    assert [c.name for c in ratio.request_columns] == ["amount"]
    assert [str(r) for r in ratio.inputs] == ["v:f"]


@pytest.mark.parametrize(
    ("entry", "text"),
    [
        ({"expression": "amount /"}, "on-demand feature 'ratio'"),
        ({"expression": ""}, "on-demand feature 'ratio'"),
        ({"type": "decimal"}, "unknown type"),
        ({"inputs": ["v:nope"]}, "has no feature 'nope'"),
        ({"request_columns": [{"name": "amount"}]}, "request_columns entries need name"),
    ],
)
def test_bad_on_demand_feature(tmp_path: Path, entry: dict, text: str) -> None:
    err = one_error(make(tmp_path, view("v"), odf(**entry)), text, "models/odf.yml")
    assert err.location.line is None or err.location.line >= 1


def test_on_demand_expression_token_error(tmp_path: Path) -> None:
    root = make(tmp_path, view("v"), odf(expression="amount || 'abc"))
    err = one_error(root, "on-demand feature 'ratio'", "models/odf.yml")
    assert err.location.line is None or err.location.line >= 1


def test_duplicate_on_demand_feature(tmp_path: Path) -> None:
    more = {"models/odf2.yml": odf(expression="f * 2")["models/odf.yml"]}
    err = one_error(make(tmp_path, view("v"), odf(), more), "ratio", "models/odf2.yml")
    assert err.location.line is None or err.location.line >= 1


def test_unknown_ref_in_incremental_branch(tmp_path: Path) -> None:
    sql = (
        f"select user_id, event_timestamp, f from {SRC}\n"
        "{% if is_incremental() %}where user_id in (select user_id from {{ ref('nope') }})"
        "{% endif %}"
    )
    err = one_error(make(tmp_path, view("v", sql)), "ref('nope')", "models/v.sql")
    assert err.location.line is None or err.location.line >= 1


def test_ref_in_incremental_branch_is_a_dag_edge(tmp_path: Path) -> None:
    sql = (
        f"select user_id, event_timestamp, f from {SRC}\n"
        "{% if is_incremental() %}where user_id in (select user_id from {{ ref('a') }})"
        "{% endif %}"
    )
    project = load_project(make(tmp_path, view("a"), view("z", sql)))
    assert project.views["z"].refs == ("a",)


def test_several_errors_are_collected(tmp_path: Path) -> None:
    root = make(
        tmp_path,
        view("a", entities=["nobody"]),
        view("b", "select user_id, event_timestamp, f from {{ source('raw', 'nope') }}"),
        view("c", sql=None),
        {"models/orphan.sql": DEFAULT_SQL},
    )
    with pytest.raises(ProjectErrors) as info:
        load_project(root)
    errors = info.value.errors
    files = {e.location.file for e in errors}
    assert {"models/a.yml", "models/b.sql", "models/c.yml", "models/orphan.sql"} <= files
    rendered = info.value.render().splitlines()
    assert len(rendered) == len(errors) >= 4
    assert info.value.exit_code == 2


def test_missing_project_file(tmp_path: Path) -> None:
    with pytest.raises(ProjectError, match=r"fsql_project\.yml"):
        load_project(tmp_path)
