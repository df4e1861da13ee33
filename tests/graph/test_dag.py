"""Tests for `fsql.graph.dag.Dag`: ordering, validation, cycles and traversal."""

from __future__ import annotations

import random
import time

import pytest

from fsql.errors import ProjectError, ProjectErrors
from fsql.graph import Dag


def diamond() -> Dag:
    # a <- b, a <- c, (b, c) <- d: d refs b and c, both ref a.
    return Dag({"a": [], "b": ["a"], "c": ["a"], "d": ["c", "b"]})


def assert_topological(dag: Dag, deps: dict[str, list[str]]) -> None:
    pos = {v: i for i, v in enumerate(dag.order)}
    assert sorted(pos) == sorted(deps)
    for view, refs in deps.items():
        for ref in refs:
            assert pos[ref] < pos[view], (ref, view)


class TestOrder:
    def test_empty(self) -> None:
        dag = Dag({})
        assert dag.order == ()
        assert len(dag) == 0

    def test_independent_views_sorted_by_name(self) -> None:
        assert Dag({"c": [], "a": [], "b": []}).order == ("a", "b", "c")

    def test_ties_broken_by_name_not_insertion(self) -> None:
        # z and b both become ready after a; b must come first despite insertion order.
        deps = {"z": ["a"], "a": [], "b": ["a"], "y": []}
        assert Dag(deps).order == ("a", "b", "y", "z")

    def test_name_ties_do_not_break_dependencies(self) -> None:
        # 'a' sorts first but refs 'z', so z must precede it.
        assert Dag({"a": ["z"], "z": [], "m": []}).order == ("m", "z", "a")

    def test_diamond(self) -> None:
        dag = diamond()
        assert dag.order == ("a", "b", "c", "d")
        assert dag.parents("d") == ("b", "c")
        assert dag.children("a") == ("b", "c")
        assert dag.ancestors("d") == {"a", "b", "c"}
        assert dag.descendants("a") == {"b", "c", "d"}
        assert dag.ancestors("a") == set()
        assert dag.descendants("d") == set()

    def test_order_independent_of_input_order(self) -> None:
        deps = {f"v{i:03d}": [f"v{j:03d}" for j in range(i) if (i * j) % 7 == 1] for i in range(60)}
        items = list(deps.items())
        random.Random(1).shuffle(items)
        shuffled = {v: list(reversed(r)) for v, r in items}
        assert Dag(deps).order == Dag(shuffled).order
        assert_topological(Dag(shuffled), deps)

    def test_random_graphs_are_topological(self) -> None:
        rng = random.Random(42)
        for _ in range(20):
            names = [f"n{i}" for i in range(40)]
            rng.shuffle(names)  # name order differs from the hidden topological order
            deps = {
                name: [names[j] for j in range(i) if rng.random() < 0.1]
                for i, name in enumerate(names)
            }
            assert_topological(Dag(deps), deps)

    def test_duplicate_refs_collapse(self) -> None:
        dag = Dag({"a": [], "b": ["a", "a"]})
        assert dag.parents("b") == ("a",)
        assert dag.children("a") == ("b",)

    def test_iteration_and_membership(self) -> None:
        dag = diamond()
        assert list(dag) == list(dag.order)
        assert "a" in dag and "x" not in dag
        assert dag.position("d") == 3


class TestErrors:
    def test_missing_dependency(self) -> None:
        with pytest.raises(ProjectError) as info:
            Dag({"a": [], "b": ["ax"]}, files={"b": "views/b.sql"})
        err = info.value
        assert "'b'" in err.message and "'ax'" in err.message
        assert err.location.file == "views/b.sql"
        assert err.hint is not None and "'a'" in err.hint
        assert err.exit_code == 2

    def test_missing_dependency_without_files(self) -> None:
        with pytest.raises(ProjectError) as info:
            Dag({"b": ["nothing_like_it"]})
        assert info.value.location.file is None
        assert "nothing_like_it" in str(info.value)

    def test_all_missing_dependencies_reported(self) -> None:
        with pytest.raises(ProjectErrors) as info:
            Dag({"a": ["x"], "b": ["y"]})
        assert [("x" in e.message, "y" in e.message) for e in info.value.errors] == [
            (True, False),
            (False, True),
        ]

    def test_string_deps_rejected(self) -> None:
        with pytest.raises(TypeError):
            Dag({"a": "bc", "b": [], "c": []})  # type: ignore[dict-item]

    def test_cycle_message_prints_path(self) -> None:
        files = {"a": "a.sql", "b": "b.sql", "c": "c.sql"}
        with pytest.raises(ProjectError) as info:
            Dag({"b": ["c"], "c": ["a"], "a": ["b"], "root": [], "d": ["a"]}, files=files)
        err = info.value
        assert err.message == "ref() cycle: a -> b -> c -> a"
        assert err.location.file == "a.sql"
        assert err.hint == "remove one of these ref() calls"
        assert "a.sql: ref() cycle: a -> b -> c -> a" in str(err)

    def test_cycle_reported_from_smallest_name(self) -> None:
        with pytest.raises(ProjectError, match=r"ref\(\) cycle: m -> x -> m"):
            Dag({"x": ["m"], "m": ["x"], "a": ["x"]})

    def test_self_ref_cycle(self) -> None:
        with pytest.raises(ProjectError) as info:
            Dag({"a": ["a"], "b": []}, files={"a": "views/a.sql"})
        assert info.value.message == "ref() cycle: a -> a"
        assert info.value.location.file == "views/a.sql"

    def test_cycle_downstream_of_valid_views(self) -> None:
        with pytest.raises(ProjectError, match=r"cycle: b -> c -> b"):
            Dag({"a": [], "b": ["a", "c"], "c": ["b"]})

    def test_unknown_view_in_accessors(self) -> None:
        dag = diamond()
        for method in (dag.parents, dag.children, dag.ancestors, dag.descendants):
            with pytest.raises(ProjectError, match="no view named 'e'"):
                method("e")

    def test_immutable(self) -> None:
        dag = diamond()
        with pytest.raises(AttributeError):
            dag.order = ()  # type: ignore[misc]
        with pytest.raises(AttributeError):
            dag.x = 1  # type: ignore[attr-defined]
        dag.ancestors("d").add("zzz")
        assert dag.ancestors("d") == {"a", "b", "c"}


class TestScale:
    def test_long_chain_no_recursion_limit(self) -> None:
        n = 10_000
        deps = {f"v{i:05d}": ([f"v{i - 1:05d}"] if i else []) for i in range(n)}
        dag = Dag(deps)
        assert dag.order[0] == "v00000" and dag.order[-1] == f"v{n - 1:05d}"
        assert len(dag.ancestors(f"v{n - 1:05d}")) == n - 1
        assert len(dag.descendants("v00000")) == n - 1

    def test_long_cycle_no_recursion_limit(self) -> None:
        n = 10_000
        deps = {f"v{i:05d}": [f"v{(i + 1) % n:05d}"] for i in range(n)}
        with pytest.raises(ProjectError) as info:
            Dag(deps)
        assert info.value.message.startswith("ref() cycle: v00000 -> v00001 -> ")
        assert info.value.message.endswith(f"v{n - 1:05d} -> v00000")

    def test_thousand_views_fast(self) -> None:
        rng = random.Random(7)
        names = [f"view_{i:04d}" for i in range(1000)]
        deps = {name: rng.sample(names[:i], min(i, 3)) for i, name in enumerate(names)}
        start = time.perf_counter()
        dag = Dag(deps)
        elapsed = time.perf_counter() - start
        assert_topological(dag, deps)
        assert elapsed < 0.5  # typically a few milliseconds; loose bound for slow CI
