"""The engines the point-in-time conformance suite runs on, one `Engine` each.

The `engine` fixture of tests/semantics/conftest.py gives every test of the suite each
engine of `ENGINES` in turn. An engine writes a test project for its target and returns
the training set fsql computes there:

- through `FeatureStore`, as a user gets it, wherever an engine or a faithful stand-in
  runs: DuckDB with its ASOF plan and with `pit_strategy: window` (the portable plan
  BigQuery and Spark have, which Snowflake may be told to use), Snowflake on fakesnow
  (served to the real connector; `pit_strategy: window`, since fakesnow cannot run
  `ASOF ... MATCH_CONDITION`) and BigQuery on crucible-emulator (the real client;
  `parameters: inline`, since crucible refuses query parameters);
- through the layers `FeatureStore` wires (load, compile, build the view tables with
  DuckDB's SQL, `run_training_set`) for the two plans only a SQL round trip to DuckDB runs
  (tests/support/round_trips.py): Snowflake's ASOF plan and BigQuery's window plan as
  sqlglot reads BigQuery's text. `FeatureStore` takes its dialect from the profile, so
  it cannot pair a warehouse dialect with a DuckDB adapter.

Each engine says which plan it must run (`Plan`), so the suite can check that the plan
it proved is the one that ran, and how many examples the property test draws on it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, settings

from fsql.adapters.duckdb import DuckDBAdapter
from fsql.definitions.models import FeatureRef
from fsql.dialects import EngineDialect, get_dialect
from tests.support import project_factory
from tests.support.project_factory import ViewSpec
from tests.support.round_trips import BigQuerySqlOnDuckDB, SnowflakeSqlOnDuckDB

# Hypothesis settings of the property tests run on every engine: examples are slow where a
# server answers them, and the drawn data sets are small but many.
PROPERTY_SETTINGS = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@dataclass(frozen=True)
class Plan:
    """What computed a training set: the SQL dialect, its point-in-time strategy, and the
    class of the offline adapter that ran the SQL."""

    dialect: str
    pit_strategy: str
    adapter: str


@dataclass
class Ran:
    """A training set, the SQL that computed it and the plan that ran."""

    frame: pd.DataFrame
    sql: str
    plan: Plan


class Engine:
    """One engine of the conformance suite."""

    def __init__(self, name: str, plan: Plan, examples: int) -> None:
        self.name = name
        self.plan = plan  # the plan this engine must run
        self.examples = examples  # hypothesis examples of the property test here

    def make_project(
        self,
        root: Path,
        views: Sequence[ViewSpec],
        entities: Mapping[str, Sequence[str]],
        **kwargs: Any,
    ) -> Path:
        """`project_factory.make_project` for this engine's target."""
        return project_factory.make_project(root, views, entities, **kwargs)

    def training_set(
        self,
        root: Path,
        entity_df: pd.DataFrame,
        features: Sequence[str | FeatureRef],
        *,
        full_feature_names: bool = False,
    ) -> Ran:
        raise NotImplementedError

    def historical(
        self,
        root: Path,
        entity_df: pd.DataFrame,
        features: Sequence[str | FeatureRef],
        *,
        full_feature_names: bool = False,
    ) -> pd.DataFrame:
        """What `get_historical_features(...).to_df()` returns on this engine."""
        ran = self.training_set(root, entity_df, features, full_feature_names=full_feature_names)
        return ran.frame

    def close(self) -> None:
        """Drop what the engine made outside the test's directory."""

    def __repr__(self) -> str:
        return f"<engine {self.name}>"


class StoreEngine(Engine):
    """Through `FeatureStore`, on the target its project's profile names.

    `offline` makes the `offline:` block of each new project (a schema or dataset of its
    own, so that a table of one project, or of one hypothesis example, is never taken
    for another's); None keeps the factory's DuckDB file with `duckdb_options`.
    """

    def __init__(
        self,
        name: str,
        plan: Plan,
        examples: int,
        offline: Callable[[], dict[str, Any]] | None = None,
        duckdb_options: Mapping[str, Any] | None = None,
        close: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(name, plan, examples)
        self._offline = offline
        self._duckdb_options = dict(duckdb_options or {})
        self._close = close

    def offline_block(self) -> dict[str, Any] | None:
        """A new project's `offline:` block; None for the factory's DuckDB file."""
        return None if self._offline is None else self._offline()

    def make_project(
        self,
        root: Path,
        views: Sequence[ViewSpec],
        entities: Mapping[str, Sequence[str]],
        **kwargs: Any,
    ) -> Path:
        if "offline" not in kwargs:
            kwargs["offline"] = self.offline_block()
        kwargs.setdefault("duckdb_options", self._duckdb_options)
        return project_factory.make_project(root, views, entities, **kwargs)

    def training_set(
        self,
        root: Path,
        entity_df: pd.DataFrame,
        features: Sequence[str | FeatureRef],
        *,
        full_feature_names: bool = False,
    ) -> Ran:
        from fsql import FeatureStore

        with FeatureStore(project_dir=root) as store:
            job = store.get_historical_features(
                entity_df=entity_df, features=features, full_feature_names=full_feature_names
            )
            frame = job.to_df()
            assert isinstance(frame, pd.DataFrame)
            dialect = store.dialect
            plan = Plan(dialect.name, dialect.pit_strategy, type(store.offline).__name__)
            return Ran(frame, job.sql, plan)

    def close(self) -> None:
        if self._close is not None:
            self._close()


class RoundTripEngine(Engine):
    """`dialect`'s training SQL run by `adapter_class` on an in-memory DuckDB whose view
    tables were built with DuckDB's own SQL."""

    def __init__(
        self,
        name: str,
        dialect: EngineDialect,
        adapter_class: type[DuckDBAdapter],
        examples: int,
    ) -> None:
        plan = Plan(dialect.name, dialect.pit_strategy, adapter_class.__name__)
        super().__init__(name, plan, examples)
        self.dialect = dialect
        self.adapter_class = adapter_class

    def training_set(
        self,
        root: Path,
        entity_df: pd.DataFrame,
        features: Sequence[str | FeatureRef],
        *,
        full_feature_names: bool = False,
    ) -> Ran:
        from fsql.compile.plan import compile_project
        from fsql.execute.build import ViewBuilder
        from fsql.execute.entities import to_arrow
        from fsql.execute.training import run_training_set
        from fsql.project.load import load_project

        project = load_project(root)
        adapter = self.adapter_class(None, project.root)
        try:
            ViewBuilder(adapter, compile_project(project, get_dialect("duckdb"))).build(
                list(project.views)  # DAG order
            )
            compiled = compile_project(project, self.dialect)
            selection = compiled.select_features(features, full_feature_names)
            result = run_training_set(adapter, compiled, to_arrow(entity_df), selection)
            ran = Plan(self.dialect.name, self.dialect.pit_strategy, type(adapter).__name__)
        finally:
            adapter.close()
        return Ran(result.table.to_pandas(), result.sql, ran)


def _duckdb_asof(request: pytest.FixtureRequest) -> Engine:
    return StoreEngine("duckdb-asof", Plan("duckdb", "asof", "DuckDBAdapter"), examples=40)


def _duckdb_window(request: pytest.FixtureRequest) -> Engine:
    return StoreEngine(
        "duckdb-window",
        Plan("duckdb", "window", "DuckDBAdapter"),
        examples=25,
        duckdb_options={"pit_strategy": "window"},
    )


def _snowflake_asof_rewrite(request: pytest.FixtureRequest) -> Engine:
    dialect = get_dialect("snowflake", "asof")
    return RoundTripEngine("snowflake-asof-rewrite", dialect, SnowflakeSqlOnDuckDB, examples=15)


def _snowflake_fakesnow(request: pytest.FixtureRequest) -> Engine:
    from tests.support.fakesnow_server import profile_block

    server = request.getfixturevalue("fakesnow_server")
    return StoreEngine(
        "snowflake-fakesnow",
        Plan("snowflake", "window", "SnowflakeAdapter"),
        examples=40,
        offline=lambda: profile_block(server, pit_strategy="window"),
    )


def _bigquery_roundtrip(request: pytest.FixtureRequest) -> Engine:
    dialect = get_dialect("bigquery")
    return RoundTripEngine("bigquery-roundtrip", dialect, BigQuerySqlOnDuckDB, examples=15)


def _bigquery_emulator(request: pytest.FixtureRequest) -> Engine:
    from tests.support.bigquery_emulator import Datasets

    datasets = Datasets(request.getfixturevalue("bigquery_emulator"))
    return StoreEngine(
        "bigquery-emulator",
        Plan("bigquery", "window", "BigQueryAdapter"),
        # About 2s an example (every call a round trip to crucible); the same SQL gets 15
        # more through bigquery-roundtrip.
        examples=5,
        offline=lambda: datasets.block(parameters="inline"),
        close=datasets.close,
    )


# Param ids of the `engine` fixture: an id names its engine (tests.support.engines marks
# a test by the engine names in its id; `-m "not bigquery"` leaves out both BigQuery ones).
ENGINES: dict[str, Callable[[pytest.FixtureRequest], Engine]] = {
    "duckdb-asof": _duckdb_asof,
    "duckdb-window": _duckdb_window,
    "snowflake-asof-rewrite": _snowflake_asof_rewrite,
    "snowflake-fakesnow": _snowflake_fakesnow,
    "bigquery-roundtrip": _bigquery_roundtrip,
    "bigquery-emulator": _bigquery_emulator,
}
# The engines `FeatureStore` runs on (for tests of more than the training-set join).
STORE_ENGINES = ["duckdb-asof", "snowflake-fakesnow", "bigquery-emulator"]
