"""Direct rendering of simple templates (fsql.project.jinja_direct) against Jinja itself:
for any template, a renderer that runs it directly gives the same text, the same record
of refs, sources, vars and environment variables, or the same error, as one that has
Jinja compile every template."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fsql.config import secrets
from fsql.errors import ProjectError
from fsql.project.jinja import ModelRenderer
from fsql.project.jinja_direct import program_of

MACROS = {
    "macros/m.sql": (
        "{% macro day_end(col, days=1) %}date_trunc('day', {{ col }}) + {{ days }}"
        "{% endmacro %}\n"
        "{% macro upstream() %}{{ ref('z') }}{% if is_incremental() %} where 1 = 1"
        "{% endif %}{% endmacro %}\n"
        "{% macro fails() %}{{ var('nowhere') }}{% endmacro %}\n"
    )
}
VARS = {"days": 30, "name": "x'y", "ratio": 0.5, "flag": False, "items": [1, 2]}
ENV = "FSQL_TEST_DIRECT_ENV"

# Pieces a template is made of. Calls with literal arguments, `this`, and if/elif/else on
# them are run directly (DIRECT; FAILING: they raise, in both); the others (filters,
# operators, loops, set, keyword arguments, nested calls: COMPILED) make the whole
# template go to Jinja.
TEXT = st.text(alphabet="ab {}%#-\n\r\t'\"()", max_size=12).filter(
    lambda t: not any(mark in t for mark in ("{{", "{%", "{#", "#}", "%}", "}}"))
)
DIRECT = st.sampled_from(
    [
        "{{ ref('a') }}",
        "{{- ref('b') }}",
        "{{ ref('a') -}}",
        "{{ source('raw', 'orders') }}",
        "{{ this }}",
        "{{ var('days') }}",
        "{{ var('name') }}",
        "{{ var('ratio') }}",
        "{{ var('items') }}",
        "{{ var('missing', 7) }}",
        "{{ var('missing', 2.5) }}",
        f"{{{{ env_var('{ENV}') }}}}",
        f"{{{{ env_var('{ENV}_UNSET', 'fallback') }}}}",
        "{{ day_end('ts') }}",
        "{{ day_end('ts', 7) }}",
        "{{ upstream() }}",
        "{{ is_incremental() }}",
        "{# a comment #}",
        "{#- a comment -#}",
        "{% raw %}{{ not jinja }}{% endraw %}",
    ]
)
FAILING = st.sampled_from(
    [
        "{{ var('missing') }}",
        f"{{{{ env_var('{ENV}_UNSET') }}}}",
        "{{ fails() }}",
        "{{ nowhere() }}",
        "{{ nowhere }}",
        "{{ ref('bad name') }}",
        "{{ ref(3) }}",
    ]
)
COMPILED = st.sampled_from(
    [
        "{{ ref('a', ) }}",
        "{{ 'text' }}",
        "{{ var('days') + 1 }}",
        "{{ var('name') | upper }}",
        "{{ var('missing', default=3) }}",
        "{{ day_end(col='ts') }}",
        "{{ ref(var('name')) }}",
        "{{ this.upper() }}",
        "{{ range(2) }}",
        "{{ none }}",
        "{{ 1 / 0 }}",
        "{% set x = 'set' %}{{ x }}",
        "{% for i in [1, 2] %}{{ i }}{% endfor %}",
        "{% if %}",
        "{{ ref('a') ",
        "{% endif %}",
    ]
)
DIRECT_TESTS = st.sampled_from(
    ["is_incremental()", "not is_incremental()", "var('flag')", "var('days')", "this"]
)
FAILING_TESTS = st.sampled_from(["not var('missing', 0)", "nowhere()", "nowhere"])
COMPILED_TESTS = st.sampled_from(["is_incremental() and var('flag')", "var('days') > 3"])


@st.composite
def templates(draw: st.DrawFn, compiled: bool, depth: int = 0) -> str:
    """Templates of these pieces; only what a program holds unless `compiled`."""
    outputs = st.one_of(DIRECT, FAILING, *([COMPILED] if compiled else []))
    tests = st.one_of(DIRECT_TESTS, FAILING_TESTS, *([COMPILED_TESTS] if compiled else []))
    inner = templates(compiled, depth + 1)
    parts = []
    for _ in range(draw(st.integers(min_value=0, max_value=4))):
        kind = draw(st.sampled_from(["text", "output", "if"] if depth < 2 else ["text", "output"]))
        if kind == "text":
            parts.append(draw(TEXT))
        elif kind == "output":
            parts.append(draw(st.one_of(DIRECT, outputs)))
        else:
            dash = draw(st.sampled_from(["", "-"]))
            parts.append(f"{{%{dash} if {draw(tests)} {dash}%}}{draw(inner)}")
            for _ in range(draw(st.integers(min_value=0, max_value=2))):
                parts.append(f"{{% elif {draw(st.one_of(DIRECT_TESTS, tests))} %}}{draw(inner)}")
            if draw(st.booleans()):
                parts.append(f"{{% else %}}{draw(inner)}")
            parts.append("{% endif %}")
    return "".join(parts)


@pytest.fixture(autouse=True)
def fresh_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(secrets, "_secrets", set())
    monkeypatch.setenv(ENV, "from-env")


def _outcome(renderer: ModelRenderer, text: str, incremental: bool) -> tuple[object, ...]:
    try:
        out, record = renderer.render(text, "models/v.sql", "v", incremental)
    except ProjectError as err:
        return ("error", err.render())
    return ("ok", out, record)


@settings(max_examples=300, deadline=None)
@given(text=templates(compiled=False), incremental=st.booleans())
def test_direct_rendering_is_jinjas(text: str, incremental: bool) -> None:
    for direct, jinja in _both_outcomes(text, incremental):
        assert direct == jinja


@settings(max_examples=150, deadline=None)
@given(text=templates(compiled=True), incremental=st.booleans())
def test_templates_that_mix_in_anything_else_render_as_jinjas(text: str, incremental: bool) -> None:
    for direct, jinja in _both_outcomes(text, incremental):
        assert direct == jinja


def _both_outcomes(text: str, incremental: bool) -> list[tuple[object, object]]:
    """(direct, Jinja) outcomes of rendering `text`, twice each: a program (and a
    compiled template) is kept for the second rendering."""
    direct = ModelRenderer(dict(VARS), MACROS)
    jinja = ModelRenderer(dict(VARS), MACROS, direct=False)
    return [
        (_outcome(direct, text, incremental), _outcome(jinja, text, incremental)) for _ in range(2)
    ]


@pytest.mark.parametrize(
    "text",
    [
        "select * from {{ ref('a') }} join {{ source('raw', 't') }} using (k)",
        "{{ day_end('ts') }}, {{ var('days') }}, {{ this }}",
        "select 1 {% if is_incremental() %}where ts > (select max(ts) from {{ this }})"
        "{% else %}{% endif %}\n",
        "{%- if not is_incremental() -%} a {%- elif var('flag') %}b{% endif %}",
        "{# note #}{% raw %}{{ x }}{% endraw %}plain\r\n",
        "",
    ],
)
def test_what_models_use_is_run_without_compiling(text: str) -> None:
    """The direct path is taken for what models write (else the speed-up is gone
    silently): nothing is compiled, and the output is Jinja's."""
    direct = ModelRenderer(dict(VARS), MACROS)
    jinja = ModelRenderer(dict(VARS), MACROS, direct=False)
    assert program_of(direct.env, text) is not None
    for incremental in (False, True):
        assert _outcome(direct, text, incremental) == _outcome(jinja, text, incremental)
    assert direct._templates == {}


@pytest.mark.parametrize(
    "text",
    [
        "{{ var('days') | int }}",
        "{{ var('x', default=1) }}",
        "{% for i in range(2) %}{% endfor %}",
        "{% set a = 1 %}",
        "{{ ref('a').upper() }}",
        "{% if is_incremental() %}",
        "{{ ref('a' 'b') }}",
        "{{ ref(-1) }}",
    ],
)
def test_anything_else_is_compiled(text: str) -> None:
    assert program_of(ModelRenderer({}, {}).env, text) is None


def test_a_direct_error_reads_as_jinjas() -> None:
    """An error raised in a direct run is reported from Jinja's rendering."""
    text = "select 1\n-- two\n{{ var('undefined_here') }}"
    with pytest.raises(ProjectError) as direct:
        ModelRenderer({}, {}).render(text, "models/v.sql", "v", False)
    with pytest.raises(ProjectError) as jinja:
        ModelRenderer({}, {}, direct=False).render(text, "models/v.sql", "v", False)
    assert direct.value.render() == jinja.value.render()
    assert "var('undefined_here') is not defined" in direct.value.message
