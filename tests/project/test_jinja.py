"""Tests for `fsql.project.jinja.ModelRenderer`: the Jinja context models render in."""

from __future__ import annotations

import pytest

from fsql.config import secrets
from fsql.errors import ProjectError
from fsql.project.jinja import (
    ModelRenderer,
    RenderRecord,
    ref_placeholder,
    source_placeholder,
)


@pytest.fixture(autouse=True)
def fresh_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(secrets, "_secrets", set())


def render(
    text: str,
    vars_: dict | None = None,
    macros: dict[str, str] | None = None,
    incremental: bool = False,
    view: str = "v",
) -> tuple[str, RenderRecord]:
    renderer = ModelRenderer(vars_ or {}, macros or {})
    return renderer.render(text, "models/v.sql", view, incremental)


def render_error(text: str, **kwargs: object) -> ProjectError:
    with pytest.raises(ProjectError) as info:
        render(text, **kwargs)  # type: ignore[arg-type]
    assert info.value.location.file == "models/v.sql"
    return info.value


class TestRefAndSource:
    def test_placeholders(self) -> None:
        out, record = render("select * from {{ ref('a') }} join {{ source('raw', 't') }}")
        assert out == f"select * from {ref_placeholder('a')} join {source_placeholder('raw', 't')}"
        assert out == "select * from __fsql_ref__a join __fsql_src__raw__t"
        assert record.refs == ["a"]
        assert record.sources == [("raw", "t")]

    def test_records_each_input_once_in_order(self) -> None:
        text = "{{ ref('b') }} {{ ref('a') }} {{ ref('b') }} {{ source('s', 'x') }}" * 2
        _, record = render(text)
        assert record.refs == ["b", "a"]
        assert record.sources == [("s", "x")]

    def test_this_is_not_a_ref(self) -> None:
        out, record = render("select * from {{ this }}", view="me")
        assert out == "select * from __fsql_ref__me"
        assert record.refs == []
        assert record.this == "__fsql_ref__me"

    def test_records_do_not_leak_between_renders(self) -> None:
        renderer = ModelRenderer({}, {})
        renderer.render("{{ ref('a') }}", "models/x.sql", "x", False)
        _, record = renderer.render("select 1", "models/y.sql", "y", False)
        assert record.refs == [] and record.sources == []

    @pytest.mark.parametrize("text", ["{{ ref('a b') }}", "{{ ref('1x') }}", "{{ ref(3) }}"])
    def test_bad_ref_name(self, text: str) -> None:
        assert "view names are letters" in render_error(text).message

    def test_bad_source_name(self) -> None:
        assert "names are letters" in render_error("{{ source('raw', 'a.b') }}").message


class TestVar:
    def test_from_vars(self) -> None:
        assert render("{{ var('days') }}", vars_={"days": 30})[0] == "30"

    def test_vars_beat_default(self) -> None:
        assert render("{{ var('days', 7) }}", vars_={"days": 30})[0] == "30"

    def test_default(self) -> None:
        assert render("{{ var('days', 7) }}")[0] == "7"

    def test_none_value_is_a_value(self) -> None:
        assert render("{{ var('x') is none }}", vars_={"x": None})[0] == "True"

    def test_missing(self) -> None:
        err = render_error("select\n{{ var('days') }}")
        assert "var('days') is not defined" in err.message
        assert "--vars" in err.render()


class TestEnvVar:
    def test_set(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("FSQL_TEST_REGION", "eu")
        assert render("{{ env_var('FSQL_TEST_REGION', 'us') }}")[0] == "eu"

    def test_default(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.delenv("FSQL_TEST_REGION", raising=False)
        assert render("{{ env_var('FSQL_TEST_REGION', 'us') }}")[0] == "us"
        assert render("{{ env_var('FSQL_TEST_REGION', 5) }}")[0] == "5"

    def test_missing(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.delenv("FSQL_TEST_REGION", raising=False)
        err = render_error("{{ env_var('FSQL_TEST_REGION') }}")
        assert "is not set and has no default" in err.message

    def test_secret_prefix_refused(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("FSQL_SECRET_TOKEN", "tok-123456")
        err = render_error("{{ env_var('FSQL_SECRET_TOKEN') }}")
        assert "is a secret" in err.message
        assert "tok-123456" not in err.render()

    def test_secret_prefix_refused_even_with_default(self) -> None:
        err = render_error("{{ env_var('FSQL_SECRET_TOKEN', 'x') }}")
        assert "is a secret" in err.message

    def test_registered_secret_value_refused(self, monkeypatch: pytest.MonkeyPatch) -> None:
        secrets.register_secret("hunter2-password")
        monkeypatch.setenv("FSQL_TEST_PW", "hunter2-password")
        err = render_error("{{ env_var('FSQL_TEST_PW') }}")
        assert "used as a secret" in err.message
        assert "hunter2-password" not in err.render()

    def test_registered_secret_as_default_refused(self, monkeypatch: pytest.MonkeyPatch) -> None:
        secrets.register_secret("hunter2-password")
        monkeypatch.delenv("FSQL_TEST_PW", raising=False)
        err = render_error("{{ env_var('FSQL_TEST_PW', 'hunter2-password') }}")
        assert "used as a secret" in err.message


class TestIsIncremental:
    TEXT = "select 1{% if is_incremental() %} where ts > 0{% endif %}"

    def test_full(self) -> None:
        out, record = render(self.TEXT, incremental=False)
        assert out == "select 1"
        assert record.incremental is False

    def test_incremental(self) -> None:
        out, record = render(self.TEXT, incremental=True)
        assert out == "select 1 where ts > 0"
        assert record.incremental is True


class TestMacros:
    def test_macro_is_callable(self) -> None:
        macros = {"macros/m.sql": "{% macro days(n) %}interval {{ n }} day{% endmacro %}"}
        assert render("select {{ days(3) }}", macros=macros)[0] == "select interval 3 day"

    def test_macro_can_use_ref_var_and_is_incremental(self) -> None:
        macros = {
            "macros/m.sql": (
                "{% macro upstream() %}{{ ref('base') }}"
                "{% if is_incremental() %} /*inc*/{% endif %}{% endmacro %}\n"
                "{% macro window() %}{{ var('w', 7) }}{% endmacro %}"
            )
        }
        out, record = render("{{ upstream() }} {{ window() }}", macros=macros, incremental=True)
        assert out == "__fsql_ref__base /*inc*/ 7"
        assert record.refs == ["base"]  # recorded against the model that called the macro

    def test_macro_sees_macros_of_an_earlier_file(self) -> None:
        macros = {
            "macros/a.sql": "{% macro inner() %}x{% endmacro %}",
            "macros/b.sql": "{% macro outer() %}[{{ inner() }}]{% endmacro %}",
        }
        assert render("{{ outer() }}", macros=macros)[0] == "[x]"

    def test_macro_sees_macros_of_a_later_file(self) -> None:
        macros = {
            "macros/a.sql": "{% macro outer() %}[{{ inner() }}]{% endmacro %}",
            "macros/b.sql": "{% macro inner() %}x{% endmacro %}",
        }
        assert render("{{ outer() }}", macros=macros)[0] == "[x]"

    def test_macro_syntax_error_names_the_macro_file(self) -> None:
        macros = {"macros/bad.sql": "{% macro m() %}\n{{ oops(\n{% endmacro %}"}
        with pytest.raises(ProjectError, match="macro syntax error") as info:
            ModelRenderer({}, macros)
        assert info.value.location.file == "macros/bad.sql"
        assert info.value.location.line is not None


class TestErrors:
    def test_syntax_error_has_line(self) -> None:
        err = render_error("select 1\nfrom t\n{% if x %}\nwhere 1\n")
        assert "Jinja syntax error" in err.message
        assert err.location.line is not None
        assert err.render().startswith(f"models/v.sql:{err.location.line}: ")

    def test_syntax_error_line_is_exact(self) -> None:
        err = render_error("select 1\nfrom t\nwhere {{ a + }}\n")
        assert err.location.line == 3

    def test_undefined_name_is_an_error(self) -> None:
        err = render_error("select a\nfrom t\nwhere x = {{ not_a_var }}\n")
        assert "not_a_var" in err.message
        assert err.location.line == 3

    def test_undefined_in_condition_is_an_error(self) -> None:
        err = render_error("select 1 {% if not_a_flag %}where 1{% endif %}")
        assert "not_a_flag" in err.message

    def test_undefined_attribute_is_an_error(self) -> None:
        err = render_error("{{ var('cfg').missing }}", vars_={"cfg": {}})
        assert "missing" in err.message
