"""Tests for `fsql.graph.selector.select_views`: dbt's --select/--exclude grammar."""

from __future__ import annotations

import pytest

from fsql.errors import ProjectError, ProjectErrors
from fsql.graph import Dag, select_views
from fsql.graph.selector import parse_selector

# raw -> clean -> (daily, weekly) -> report ; other is unrelated.
DEPS: dict[str, list[str]] = {
    "raw": [],
    "clean": ["raw"],
    "daily": ["clean"],
    "weekly": ["clean"],
    "report": ["daily", "weekly"],
    "other": [],
}
TAGS: dict[str, list[str]] = {
    "daily": ["agg", "nightly"],
    "weekly": ["agg"],
    "other": ["nightly"],
}


@pytest.fixture
def dag() -> Dag:
    return Dag(DEPS)


def sel(dag: Dag, select: tuple[str, ...] = (), exclude: tuple[str, ...] = ()) -> tuple[str, ...]:
    return select_views(dag, TAGS, select, exclude)


def test_fixture_order(dag: Dag) -> None:
    assert dag.order == ("other", "raw", "clean", "daily", "weekly", "report")


class TestForms:
    def test_empty_select_means_all(self, dag: Dag) -> None:
        assert sel(dag) == dag.order

    def test_name(self, dag: Dag) -> None:
        assert sel(dag, ("daily",)) == ("daily",)

    def test_tag(self, dag: Dag) -> None:
        assert sel(dag, ("tag:nightly",)) == ("other", "daily")

    def test_ancestors(self, dag: Dag) -> None:
        assert sel(dag, ("+daily",)) == ("raw", "clean", "daily")

    def test_descendants(self, dag: Dag) -> None:
        assert sel(dag, ("clean+",)) == ("clean", "daily", "weekly", "report")

    def test_both(self, dag: Dag) -> None:
        assert sel(dag, ("+daily+",)) == ("raw", "clean", "daily", "report")

    def test_tag_ancestors(self, dag: Dag) -> None:
        assert sel(dag, ("+tag:agg",)) == ("raw", "clean", "daily", "weekly")

    def test_tag_descendants(self, dag: Dag) -> None:
        assert sel(dag, ("tag:nightly+",)) == ("other", "daily", "report")

    def test_tag_both(self, dag: Dag) -> None:
        assert sel(dag, ("+tag:agg+",)) == ("raw", "clean", "daily", "weekly", "report")

    def test_leaf_and_root_operators(self, dag: Dag) -> None:
        assert sel(dag, ("report+",)) == ("report",)
        assert sel(dag, ("+raw",)) == ("raw",)


class TestUnionAndExclude:
    def test_space_separated(self, dag: Dag) -> None:
        assert sel(dag, ("weekly other",)) == ("other", "weekly")

    def test_comma_separated(self, dag: Dag) -> None:
        assert sel(dag, ("weekly,other",)) == ("other", "weekly")

    def test_mixed_separators_and_stray_commas(self, dag: Dag) -> None:
        assert sel(dag, (" weekly, ,other ,, raw ",)) == ("other", "raw", "weekly")

    def test_several_items(self, dag: Dag) -> None:
        assert sel(dag, ("report", "+daily")) == ("raw", "clean", "daily", "report")

    def test_overlapping_selectors(self, dag: Dag) -> None:
        assert sel(dag, ("+daily", "clean+", "clean")) == (
            "raw",
            "clean",
            "daily",
            "weekly",
            "report",
        )

    def test_exclude_from_all(self, dag: Dag) -> None:
        assert sel(dag, exclude=("tag:agg",)) == ("other", "raw", "clean", "report")

    def test_exclude_with_operator(self, dag: Dag) -> None:
        assert sel(dag, ("+report",), ("clean+",)) == ("raw",)

    def test_exclude_union(self, dag: Dag) -> None:
        assert sel(dag, exclude=("raw daily", "other,weekly")) == ("clean", "report")

    def test_exclude_everything(self, dag: Dag) -> None:
        assert sel(dag, ("tag:agg",), ("tag:agg",)) == ()

    def test_result_in_topological_order_not_select_order(self, dag: Dag) -> None:
        assert sel(dag, ("report", "weekly", "raw", "other")) == (
            "other",
            "raw",
            "weekly",
            "report",
        )

    def test_bare_string_treated_as_one_item(self, dag: Dag) -> None:
        assert select_views(dag, TAGS, "daily") == ("daily",)  # type: ignore[arg-type]

    def test_tags_of_unknown_views_ignored(self, dag: Dag) -> None:
        tags = {"ghost": ["agg"], "weekly": "agg"}  # a bare-string tag is one tag
        assert select_views(dag, tags, ("tag:agg",)) == ("weekly",)


class TestErrors:
    def test_unknown_name_with_suggestion(self, dag: Dag) -> None:
        with pytest.raises(ProjectError) as info:
            sel(dag, ("dialy",))
        assert info.value.message == "--select: no view named 'dialy'"
        assert info.value.hint is not None and "'daily'" in info.value.hint
        assert info.value.exit_code == 2

    def test_unknown_name_without_suggestion(self, dag: Dag) -> None:
        with pytest.raises(ProjectError) as info:
            sel(dag, ("+zzzzzz+",))
        assert info.value.message == "--select: no view named 'zzzzzz'"
        assert info.value.hint is None

    def test_unknown_tag(self, dag: Dag) -> None:
        with pytest.raises(ProjectError) as info:
            sel(dag, ("tag:nightlly",))
        assert info.value.message == "--select: no view has tag 'nightlly'"
        assert info.value.hint is not None and "tag:nightly" in info.value.hint

    def test_unknown_in_exclude(self, dag: Dag) -> None:
        with pytest.raises(ProjectError, match="--exclude: no view named 'reprot'"):
            sel(dag, exclude=("reprot",))
        with pytest.raises(ProjectError, match="--exclude: no view has tag 'nope'"):
            sel(dag, ("daily",), ("tag:nope",))

    def test_all_unknowns_reported_together(self, dag: Dag) -> None:
        with pytest.raises(ProjectErrors) as info:
            sel(dag, ("nope1, daily",), ("tag:nope2",))
        assert [e.message for e in info.value.errors] == [
            "--select: no view named 'nope1'",
            "--exclude: no view has tag 'nope2'",
        ]

    @pytest.mark.parametrize(
        "bad",
        ["++a", "a++", "+", "++", "a+b", "tag:", "+tag:", "tag:+", "tag:a:b", ":a", "path:x"],
    )
    def test_malformed_selectors(self, dag: Dag, bad: str) -> None:
        with pytest.raises(ProjectError, match=r"^--select: (invalid|unknown)"):
            sel(dag, (bad,))
        with pytest.raises(ProjectError, match=r"^--exclude: "):
            sel(dag, exclude=(bad,))

    @pytest.mark.parametrize("empty", ["", "  ", ",", " , "])
    def test_empty_item_is_an_error(self, dag: Dag, empty: str) -> None:
        with pytest.raises(ProjectError, match="--select: empty selector"):
            sel(dag, (empty,))


class TestParse:
    @pytest.mark.parametrize(
        ("text", "method", "value", "up", "down"),
        [
            ("a", None, "a", False, False),
            ("+a", None, "a", True, False),
            ("a+", None, "a", False, True),
            ("+a+", None, "a", True, True),
            ("tag:x", "tag", "x", False, False),
            ("+tag:x+", "tag", "x", True, True),
        ],
    )
    def test_parse(self, text: str, method: str | None, value: str, up: bool, down: bool) -> None:
        s = parse_selector(text)
        assert (s.method, s.value, s.ancestors, s.descendants) == (method, value, up, down)


def test_large_graph_tag_selection_is_linear() -> None:
    n = 10_000
    deps = {f"v{i:05d}": ([f"v{i - 1:05d}"] if i else []) for i in range(n)}
    tags = {view: ["all"] for view in deps}
    dag = Dag(deps)
    assert len(select_views(dag, tags, ("+tag:all+",))) == n
    assert select_views(dag, tags, (f"v{n - 1:05d}+",)) == (f"v{n - 1:05d}",)
