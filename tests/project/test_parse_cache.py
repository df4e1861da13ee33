"""The partial-parse cache of `fsql compile` (target/partial_parse.json) and its stamp:
every input that can change a view's output recompiles that view (and the views that
ref it), nothing else does, and what a compile from the cache writes is byte for byte
what a cold compile writes."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from fsql.compile.target import compile_to_target
from fsql.errors import ProjectError
from fsql.project import parse_cache
from fsql.project.unchanged import unchanged
from tests.support.cli_runs import fsql

ENV = "FSQL_TEST_REGION"
PROFILES = {
    "p": {
        "target": "dev",
        "outputs": {
            "dev": {"offline": {"type": "duckdb", "path": "target/x.duckdb"}},
            "window": {"offline": {"type": "duckdb", "pit_strategy": "window"}},
        },
    }
}
MODELS = {
    "a": "select user_id, event_timestamp, {{ scaled('f') }} as f from {{ source('raw', 'e') }}",
    "b": (
        "select user_id, event_timestamp, f, '{{ env_var('" + ENV + "', 'eu') }}' as region "
        "from {{ ref('a') }}"
    ),
    "c": "select user_id, event_timestamp, f * {{ var('factor') }} as f "
    "from {{ source('raw', 'e') }}",
}


def _view(name: str, **extra: object) -> dict:
    features = [{"name": "f", "type": "float64"}]
    if name == "b":
        features.append({"name": "region", "type": "string"})
    return {
        "name": name,
        "entities": ["user"],
        "timestamp": "event_timestamp",
        "features": features,
        **extra,
    }


def _project(root: Path) -> Path:
    (root / "models").mkdir(parents=True)
    (root / "macros").mkdir()
    (root / "fsql_project.yml").write_text(
        yaml.safe_dump({"name": "p", "profile": "p", "vars": {"factor": 2, "unused": 1}})
    )
    (root / "profiles.yml").write_text(yaml.safe_dump(PROFILES))
    (root / "macros" / "scale.sql").write_text("{% macro scaled(c) %}{{ c }} * 1.0{% endmacro %}")
    meta = {
        "entities": [{"name": "user", "join_keys": ["user_id"]}],
        "sources": [{"name": "raw", "tables": [{"name": "e", "path": "data/e.parquet"}]}],
    }
    (root / "models" / "base.yml").write_text(yaml.safe_dump(meta))
    for name, sql in MODELS.items():
        (root / "models" / f"{name}.sql").write_text(sql + "\n")
        doc = {"feature_views": [_view(name)]}
        (root / "models" / f"{name}.yml").write_text(yaml.safe_dump(doc))
    return root


def _outputs(root: Path) -> dict[str, bytes]:
    target = root / "target"
    files = {p.relative_to(target).as_posix(): p.read_bytes() for p in target.rglob("*.sql")}
    files["manifest.json"] = (target / "manifest.json").read_bytes()
    return files


def _cold(root: Path, target: str | None = None) -> dict[str, bytes]:
    """What a compile without any cache writes for the project as it is now (in place:
    file sources compile to absolute paths)."""
    shutil.rmtree(root / "target")
    compile_to_target(root, target)
    return _outputs(root)


def _yaml(name: str, **extra: object) -> Callable[[Path], None]:
    def change(root: Path) -> None:
        doc = {"feature_views": [_view(name, **extra)]}
        (root / "models" / f"{name}.yml").write_text(yaml.safe_dump(doc))

    return change


def _append(rel: str, text: str) -> Callable[[Path], None]:
    def change(root: Path) -> None:
        path = root / rel
        path.write_text(path.read_text() + text)

    return change


def _vars(**values: object) -> Callable[[Path], None]:
    def change(root: Path) -> None:
        doc = {"name": "p", "profile": "p", "vars": {"factor": 2, "unused": 1, **values}}
        (root / "fsql_project.yml").write_text(yaml.safe_dump(doc))

    return change


def _another_entity(root: Path) -> None:
    meta = yaml.safe_load((root / "models" / "base.yml").read_text())
    meta["entities"].append({"name": "item", "join_keys": ["item_id"]})
    (root / "models" / "base.yml").write_text(yaml.safe_dump(meta))


CHANGES: dict[str, tuple[Callable[[Path], None], set[str]]] = {
    "model of c": (_append("models/c.sql", "-- note\n"), {"c"}),
    "YAML of c": (_yaml("c", description="scaled"), {"c"}),
    "YAML of a (b refs a)": (_yaml("a", ttl="1d"), {"a", "b"}),
    "model of a": (_append("models/a.sql", "where f > 0\n"), {"a", "b"}),
    "a macro": (
        _append("macros/scale.sql", "\n{% macro other() %}1{% endmacro %}"),
        {"a", "b", "c"},
    ),
    "a var c reads": (_vars(factor=3), {"c"}),
    "a var nobody reads": (_vars(unused=5), set()),
    "an entity no view uses": (_another_entity, set()),
    "the env_var default in b": (
        lambda root: (root / "models" / "b.sql").write_text(
            MODELS["b"].replace("'eu'", "'us'") + "\n"
        ),
        {"b"},
    ),
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_each_input_recompiles_exactly_what_it_changes(
    tmp_path: Path, change: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV, raising=False)
    root = _project(tmp_path / "p")
    assert set(compile_to_target(root).compiled) == {"a", "b", "c"}
    assert unchanged(root, None, None, None)[0] == 3
    assert compile_to_target(root).compiled == ()
    edit, expected = CHANGES[change]
    edit(root)
    assert unchanged(root, None, None, None)[0] is None  # a file changed: the compile runs
    assert set(compile_to_target(root).compiled) == expected
    assert unchanged(root, None, None, None)[0] == 3
    assert _outputs(root) == _cold(root)


def test_environment_target_and_version_are_inputs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV, raising=False)
    root = _project(tmp_path / "p")
    compile_to_target(root)
    monkeypatch.setenv(ENV, "apac")  # read by b's env_var()
    assert unchanged(root, None, None, None)[0] is None
    assert set(compile_to_target(root).compiled) == {"b"}
    assert b"'apac'" in (root / "target/compiled/duckdb/b/model.sql").read_bytes()
    assert _outputs(root) == _cold(root)
    monkeypatch.setenv("FSQL_TEST_UNREAD", "x")  # no model reads it
    assert unchanged(root, None, None, None)[0] == 3
    # Another target whose compiled SQL differs (the window plan): everything.
    assert set(compile_to_target(root, "window").compiled) == {"a", "b", "c"}
    assert _outputs(root) == _cold(root, "window")
    assert compile_to_target(root, "window").compiled == ()
    monkeypatch.setattr(parse_cache, "__version__", "0.0.0-other")
    assert set(compile_to_target(root, "window").compiled) == {"a", "b", "c"}


def test_damaged_cache_or_outputs_are_rebuilt(tmp_path: Path) -> None:
    root = _project(tmp_path / "p")
    compile_to_target(root)
    (root / "target" / parse_cache.CACHE_FILE).write_text("{not json")
    assert set(compile_to_target(root).compiled) == {"a", "b", "c"}
    shutil.rmtree(root / "target" / "compiled" / "duckdb" / "c")
    assert unchanged(root, None, None, None)[0] is None
    assert compile_to_target(root).compiled == ()  # from the cache, written whole
    assert _outputs(root) == _cold(root)
    (root / "models" / "c.sql").unlink()
    (root / "models" / "c.yml").unlink()
    assert compile_to_target(root).compiled == ()
    assert not (root / "target" / "compiled" / "duckdb" / "c").exists()
    assert _outputs(root) == _cold(root)


def test_the_command_says_what_it_reused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV, raising=False)
    root = _project(tmp_path / "p")
    code, out = fsql(root, "compile")
    assert code == 0 and "compiled 3 views" in out and "unchanged" not in out
    code, out = fsql(root, "compile")
    assert code == 0 and "nothing changed since the last compile: target/ holds 3 views" in out
    _append("models/c.sql", "-- note\n")(root)
    code, out = fsql(root, "compile")
    assert code == 0 and "(2 unchanged, from target/partial_parse.json)" in out
    assert _outputs(root) == _cold(root)


def test_workers_write_what_one_process_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cold compiles of large projects parse in worker processes (fsql.compile.parallel);
    here every project is large enough."""
    monkeypatch.setattr("fsql.compile.parallel.MIN_VIEWS", 1)
    monkeypatch.setattr("fsql.compile.parallel.PARENT_CLAIMS", False)  # workers parse all
    monkeypatch.delenv(ENV, raising=False)
    root = _project(tmp_path / "p")
    star = "select * from {{ ref('a') }}\n"  # its columns come from a: left to the parent
    (root / "models" / "d.sql").write_text(star)
    (root / "models" / "d.yml").write_text(yaml.safe_dump({"feature_views": [_view("d")]}))
    done = compile_to_target(root, processes=2)
    assert set(done.compiled) == {"a", "b", "c", "d"}
    parallel = _outputs(root)
    shutil.rmtree(root / "target")
    compile_to_target(root, processes=1)
    assert _outputs(root) == parallel
    assert compile_to_target(root, processes=2).compiled == ("d",)  # a star: never cached


def _dying_worker(job: Any) -> dict[str, Any]:
    """A worker that claims two views and dies before returning anything."""
    from fsql.compile.parallel import claimed

    views = claimed(job.views)
    next(views, None)
    next(views, None)
    os._exit(3)


def test_a_worker_that_dies_leaves_its_views_to_the_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("fsql.compile.parallel.MIN_VIEWS", 1)
    monkeypatch.setattr("fsql.compile.parallel.PARENT_CLAIMS", False)
    monkeypatch.setattr("fsql.compile.parallel.worker", _dying_worker)
    monkeypatch.delenv(ENV, raising=False)
    root = _project(tmp_path / "p")
    done = compile_to_target(root, processes=3)
    assert set(done.compiled) == {"a", "b", "c"}
    assert _outputs(root) == _cold(root)


def test_workers_keep_profile_secrets_out_of_models(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("fsql.compile.parallel.MIN_VIEWS", 1)
    monkeypatch.setattr("fsql.compile.parallel.PARENT_CLAIMS", False)  # workers parse all
    monkeypatch.setenv("FSQL_TEST_PASSWORD", "hunter2-secret")
    root = _project(tmp_path / "p")
    profiles = yaml.safe_load((root / "profiles.yml").read_text())
    offline = profiles["p"]["outputs"]["dev"]["offline"]
    offline["password"] = "{{ env_var('FSQL_TEST_PASSWORD') }}"
    (root / "profiles.yml").write_text(yaml.safe_dump(profiles))
    leak = MODELS["c"].replace("{{ var('factor') }}", "'{{ env_var('FSQL_TEST_PASSWORD') }}'")
    (root / "models" / "c.sql").write_text(leak + "\n")
    with pytest.raises(ProjectError, match="secret"):
        compile_to_target(root, processes=2)
    assert not (root / "target" / "compiled").exists()
