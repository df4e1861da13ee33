"""The point-in-time conformance suite on Snowflake, through fakesnow.

Every test of test_point_in_time.py and test_pruning.py, and the property test of
test_property.py, runs again here with a Snowflake target (`pit_strategy: window`) served
by fakesnow to the real snowflake-connector-python: raw rows are uploaded into a schema
of the test's own, the views are built there by `FeatureStore`, the entity table is
uploaded as a temporary table and the training set comes back as Arrow, exactly as
against Snowflake. fakesnow cannot run `ASOF ... MATCH_CONDITION`; the `asof` strategy's
SQL is proven by test_snowflake_asof_rewrite.py instead.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.semantics import test_point_in_time as suite
from tests.semantics import test_property as prop
from tests.semantics import test_pruning as pruning
from tests.support import project_factory
from tests.support.fakesnow_server import profile_block

# Before pandas 3 the suite's `astype("str")` turns a None key into the string 'None'
# before fsql sees it (see test_window_plan.py); the case fails alike on every engine.
SKIPPED = {"test_composite_keys"} if int(pd.__version__.split(".")[0]) < 3 else set()


def _rerun(namespace: dict[str, Any]) -> None:
    for module in (suite, pruning):
        for name in dir(module):
            if name.startswith("test_") and name not in SKIPPED:
                namespace[name] = getattr(module, name)
    namespace["test_matches_oracle"] = prop.test_matches_oracle
    namespace["non_utc_local_time"] = suite.non_utc_local_time


_rerun(globals())


def _on_snowflake(server: dict[str, Any]) -> Callable[..., Path]:
    """`make_project` with a Snowflake target: a fresh schema for every project, so a
    view built for one hypothesis example is never taken for the next one's."""

    def make(root: Path, views: Any, entities: Any, **kwargs: Any) -> Path:
        block = profile_block(server, pit_strategy="window")
        return project_factory.make_project(root, views, entities, offline=block, **kwargs)

    return make


@pytest.fixture(autouse=True)
def _snowflake_target(monkeypatch: pytest.MonkeyPatch, fakesnow_server: dict[str, Any]) -> None:
    make = _on_snowflake(fakesnow_server)
    for module in (suite, prop, pruning):
        monkeypatch.setattr(module, "make_project", make, raising=False)


def test_the_suite_really_runs_on_snowflake(
    tmp_path: Path, fakesnow_server: dict[str, Any]
) -> None:
    """The tests above prove the Snowflake path only if it is the path they take."""
    from fsql import FeatureStore

    root = suite.make_project(tmp_path, [suite.simple_view([])], suite.USER)
    store = FeatureStore(project_dir=root)
    assert store.dialect.name == "snowflake"
    assert store.dialect.pit_strategy == "window"
    assert type(store.offline).__name__ == "SnowflakeAdapter"
