"""What only `fsql.online.sqlite.SQLiteOnlineStore` does: its file and its tables.

The online-store semantics (newest-wins, TTL, keys, types, state, lifecycle, racing
writers) are the contract's, run on SQLite and Redis alike:
tests/online/test_store_contract.py. Here: the database file (made with its folder, in WAL
mode), one table per view namespace (dropped on teardown, distinct for names that differ
only in case), and an in-memory database.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from fsql.definitions.types import FeatureType as T
from fsql.online.base import OnlineTable, ViewState
from fsql.online.sqlite import SQLiteOnlineStore, table_name
from tests.support.online_stores import NOW, USERS, batch, score, user


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteOnlineStore]:
    s = SQLiteOnlineStore(tmp_path / "sub" / "online.db")  # the folder is made too
    s.prepare(USERS)
    yield s
    s.close()


def test_case_differing_views_do_not_share_a_table(tmp_path: Path) -> None:
    assert table_name("users", "00ff") != table_name("Users", "00ff")
    s = SQLiteOnlineStore(tmp_path / "o.db")
    for view in ("users", "Users"):
        s.prepare(OnlineTable(view, ("id",), (("x", T.INT64),)))
    tables = {r[0] for r in s._conn.execute("SELECT name FROM sqlite_master")}
    assert len([t for t in tables if t.lower().startswith("fsql_view__users__")]) == 2
    s.close()


def test_teardown(store: SQLiteOnlineStore) -> None:
    store.upsert(USERS, batch(USERS, [user(1, NOW, 0, 1.0)]))
    store.set_state(ViewState("users", None, None, "h"))
    store.teardown(USERS)
    assert store.get_state("users") is None
    assert store.read(USERS, [(1,)], NOW) == [None]
    tables = {r[0] for r in store._conn.execute("SELECT name FROM sqlite_master")}
    assert not [t for t in tables if t.startswith("fsql_view__users__")]
    store.prepare(USERS)
    assert store.read(USERS, [(1,)], NOW) == [None]


def test_the_file_stays_in_wal_mode(store: SQLiteOnlineStore) -> None:
    store.close()
    s = SQLiteOnlineStore(store.path)
    assert s._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    s.close()


def test_in_memory() -> None:
    s = SQLiteOnlineStore(":memory:")
    s.prepare(USERS)
    s.upsert(USERS, batch(USERS, [user(1, NOW, 0, 1.0)]))
    assert score(s, 1) == 1.0
    s.close()
    with pytest.raises(sqlite3.ProgrammingError):
        s.read(USERS, [(1,)], NOW)
