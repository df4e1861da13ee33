"""Snowflake: native `ASOF JOIN ... MATCH_CONDITION`, or the portable window plan.

Point-in-time joins default to Snowflake's ASOF JOIN, which is left outer and takes
its inequality in MATCH_CONDITION (left table first); `pit_strategy: window` runs the
portable sort-and-fill plan instead. Snowflake cannot compare OBJECTs in an ASOF
condition, so ties on event time are reduced by created time before the join.
Timestamps are TIMESTAMP_TZ and always UTC: the session's TIMEZONE must be UTC, as
DuckDB's is, so that naive source timestamps read as UTC when they are cast.

Identifiers. Snowflake folds unquoted names to upper case and matches quoted names
exactly. fsql keeps one rule: every name is written unquoted, so `user_features` in
YAML, in a model and in fsql's own SQL all name USER_FEATURES, and a lower-case name
keeps working however it is spelled. From that rule:

- a name Snowflake reserves (ORDER, START, ROWS, ...) cannot go unquoted; it is
  quoted in upper case ("ORDER"), the object the unquoted name would have meant;
- models written in a case-insensitive dialect (DuckDB, the default) lose the quotes
  on plain names, since there `"Order"` and `order` are one column; models written in
  Snowflake's own dialect keep their quotes, as do the quoted parts of a source's
  `identifier:` (a Snowflake name, parsed as Snowflake SQL);
- tables fsql uploads (the entity table) need unquoted or upper-case column names,
  and result columns come back upper case: adapters match them case-insensitively.
"""

from __future__ import annotations

from sqlglot import exp

from fsql.definitions.types import FeatureType
from fsql.dialects.base import EngineDialect

# Snowflake's reserved and limited keywords (docs: "Reserved & limited keywords").
# Quoting a name that is not reserved in upper case is harmless, so the list errs long.
RESERVED = frozenset(
    """
    account all alter and any as asof between by case cast check column connect
    connection constraint create cross current current_date current_time
    current_timestamp current_user database delete distinct drop else exists false
    following for from full grant group gscluster having ilike in increment inner
    insert intersect into is issue join lateral left like localtime localtimestamp
    match_condition minus natural not null of on or order organization qualify regexp
    revoke right rlike row rows sample schema select set some start table tablesample
    then to trigger true try_cast union unique update using values view when whenever
    where with
    """.split()
)


def quote_reserved(tree: exp.Expression) -> exp.Expression:
    """Quote unquoted reserved names in upper case: `order` becomes `"ORDER"`."""
    for identifier in tree.find_all(exp.Identifier):
        if not identifier.quoted and identifier.name.lower() in RESERVED:
            identifier.set("this", identifier.name.upper())
            identifier.set("quoted", True)
    return tree


SNOWFLAKE = EngineDialect(
    name="snowflake",
    sqlglot_dialect="snowflake",
    pit_strategy="asof",
    pit_strategies=("asof", "window"),
    type_map={
        # Snowflake stores every integer as NUMBER(38, 0) and every float as a double.
        FeatureType.INT32: "INT",
        FeatureType.INT64: "BIGINT",
        FeatureType.FLOAT32: "FLOAT",
        FeatureType.FLOAT64: "DOUBLE",
        FeatureType.BOOL: "BOOLEAN",
        FeatureType.STRING: "VARCHAR",
        FeatureType.TIMESTAMP: "TIMESTAMP_TZ",
        FeatureType.DATE: "DATE",
        FeatureType.BYTES: "BINARY",
    },
    timestamp_type="TIMESTAMP_TZ",
    asof_struct_order=False,
    asof_match_condition=True,
    rewrites=(quote_reserved,),
)
