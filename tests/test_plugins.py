"""Engines, dialects and online stores are found by name through entry points, fsql's
own as well as a third-party package's."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from importlib.metadata import distribution, entry_points
from pathlib import Path

import pytest

from fsql import plugins
from fsql.errors import ProjectError
from fsql.online.open import open_online


def test_builtins_are_the_entry_points_fsql_declares() -> None:
    declared = {
        group: {ep.name: ep.value for ep in distribution("fsql").entry_points if ep.group == group}
        for group in plugins.BUILTIN
    }
    assert declared == plugins.BUILTIN


@pytest.mark.parametrize("group", sorted(plugins.BUILTIN))
def test_every_builtin_loads(group: str) -> None:
    for name in plugins.BUILTIN[group]:
        assert plugins.load(group, name) is not None


@pytest.fixture
def third_party(tmp_path: Path) -> Iterator[str]:
    """An installed package (a dist-info on sys.path) adding an online store `memo`."""
    (tmp_path / "fsql_memo.py").write_text(
        textwrap.dedent("""
        from fsql.online.sqlite import SQLiteOnlineStore

        class MemoStore(SQLiteOnlineStore):
            @classmethod
            def from_config(cls, config, project_root, project):
                return cls(":memory:")
    """)
    )
    info = tmp_path / "fsql_memo-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fsql-memo\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[fsql.online_stores]\nmemo = fsql_memo:MemoStore\n")
    sys.path.insert(0, str(tmp_path))
    plugins._installed.cache_clear()
    try:
        yield "memo"
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("fsql_memo", None)
        plugins._installed.cache_clear()


def test_a_third_party_store_is_opened_by_its_name(third_party: str, tmp_path: Path) -> None:
    assert third_party in {ep.name for ep in entry_points(group=plugins.ONLINE_STORES)}
    store = open_online({"type": third_party}, tmp_path, "shop")
    assert type(store).__name__ == "MemoStore"
    assert plugins.names(plugins.ONLINE_STORES) == ["sqlite", "redis", "memo"]
    store.close()


def test_an_unknown_name_lists_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(ProjectError, match="online store 'mongo' is not available") as err:
        open_online({"type": "mongo"}, tmp_path, "shop")
    assert "sqlite or redis" in str(err.value)
    from fsql.adapters.base import open_offline

    with pytest.raises(ProjectError, match="offline engine 'spark' is not available"):
        open_offline({"type": "spark"}, tmp_path)
