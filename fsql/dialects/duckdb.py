"""DuckDB: native `ASOF LEFT JOIN`, the fastest correct plan measured on this engine."""

from __future__ import annotations

from collections.abc import Sequence

from sqlglot import exp

from fsql.definitions.types import FeatureType
from fsql.dialects.base import EngineDialect


def _version_hash(values: Sequence[exp.Expression]) -> exp.Expression:
    """`CAST(hash(v1, ...) >> 1 AS BIGINT)`: DuckDB's hash is an unsigned 64-bit value
    (NULL-safe, equal for equal values of different integer widths); shifted into the
    signed range every online store compares natively."""
    shifted = exp.BitwiseRightShift(
        this=exp.Anonymous(this="hash", expressions=list(values)),
        expression=exp.Literal.number(1),
    )
    return exp.cast(shifted, exp.DataType.build("BIGINT"))


DUCKDB = EngineDialect(
    name="duckdb",
    sqlglot_dialect="duckdb",
    pit_strategy="asof",
    # `window` is DuckDB's copy of the portable plan: it proves that plan on the engine
    # the conformance suite runs on, before BigQuery or Spark depend on it.
    pit_strategies=("asof", "window"),
    type_map={
        FeatureType.INT32: "INTEGER",
        FeatureType.INT64: "BIGINT",
        FeatureType.FLOAT32: "FLOAT",
        FeatureType.FLOAT64: "DOUBLE",
        FeatureType.BOOL: "BOOLEAN",
        FeatureType.STRING: "VARCHAR",
        FeatureType.TIMESTAMP: "TIMESTAMPTZ",
        FeatureType.DATE: "DATE",
        FeatureType.BYTES: "BLOB",
    },
    timestamp_type="TIMESTAMPTZ",
    # Measured at 2M feature rows x 200k entity rows: ASOF on (ts, created) 0.67 s,
    # ROW_NUMBER tie reduction then ASOF 2.0 s, plain ASOF without ties 0.63 s.
    asof_struct_order=True,
    version_hash=_version_hash,
)
