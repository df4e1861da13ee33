"""The version hash of a feature row as DuckDB computes it, for brute-force references.

Rows with equal keys, event and created time are versions of one row; fsql keeps the one
with the greatest version hash (SPEC §2, fsql.compile.ordering). A reference that wants
to predict the winner needs the same number: this asks DuckDB for it, with each value
cast to its declared SQL type (the hash depends on the type family, not on Python).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import duckdb

from fsql.definitions.types import FeatureType
from fsql.dialects import get_dialect

_DUCKDB = get_dialect("duckdb")


@functools.cache
def _connection() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    return con


@functools.cache
def _query(types: tuple[FeatureType, ...]) -> str:
    from sqlglot import exp

    values = [
        exp.cast(exp.Placeholder(this=f"p{i}"), _DUCKDB.data_type(t)) for i, t in enumerate(types)
    ]
    return exp.select(_DUCKDB.version(values)).sql(dialect="duckdb")


def duckdb_version(values: Sequence[Any], types: Sequence[FeatureType | str]) -> int:
    """The version hash DuckDB gives a row whose features are `values` of `types`."""
    kinds = tuple(FeatureType(t) for t in types)
    params = {f"p{i}": v for i, v in enumerate(values)}
    row = _connection().execute(_query(kinds), params).fetchone()
    assert row is not None
    return int(row[0])
