"""The engine every semantics test runs on: one fixture, one param per engine.

A test taking `engine` runs once on each engine of tests/support/engine_runners.py
(DuckDB ASOF, DuckDB window plan, Snowflake's ASOF plan rewritten for DuckDB, Snowflake
on fakesnow, BigQuery's SQL round-tripped to DuckDB, BigQuery on crucible-emulator). A
module that needs fewer narrows it with
`pytest.mark.parametrize("engine", [...], indirect=True)`. An engine whose server is
missing skips, or fails where the run requires it (tests/support/engines.py).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.engine_runners import ENGINES, Engine


@pytest.fixture(params=list(ENGINES))
def engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    made = ENGINES[request.param](request)
    try:
        yield made
    finally:
        made.close()
