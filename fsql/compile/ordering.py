"""The version order of feature rows, as one comparable value.

SPEC §2 picks, among a key's rows, the greatest (event_ts, created_ts), a NULL
created timestamp losing to any value. Rows equal on both are versions of one row:
the one with the greatest version hash (a 64-bit hash of all the view's feature
values, `EngineDialect.version`) wins, so the choice never depends on row order, on
which features a training set asks for, or on the order writes reach a store.
Engines that compare STRUCTs field by field carry that order as `{t: event_ts, c:
coalesce(created_ts, -infinity), v: version}` and let one operator (an ASOF
inequality, `arg_max`) apply it, with no window pass; others rank by the same three.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlglot import exp

from fsql.dialects.base import EngineDialect


def order_struct(
    ts: exp.Expression, created: exp.Expression, version: exp.Expression
) -> exp.Struct:
    """`{t: ts, c: created, v: version}`: compared on t, then c, then v."""
    return exp.Struct(
        expressions=[
            exp.PropertyEQ(this=exp.to_identifier("t"), expression=ts),
            exp.PropertyEQ(this=exp.to_identifier("c"), expression=created),
            exp.PropertyEQ(this=exp.to_identifier("v"), expression=version),
        ]
    )


def infinity(dialect: EngineDialect, negative: bool = False) -> exp.Expression:
    """The timestamp above (or below) every real one."""
    text = "-infinity" if negative else "infinity"
    return exp.cast(exp.Literal.string(text), dialect.timestamp())


def version_hash(
    features: Sequence[str], dialect: EngineDialect, table: str | None = None
) -> exp.Expression:
    """The version hash over a view's feature columns (all of them, in declared order)."""
    return dialect.version([exp.column(f, table=table) for f in features])


def row_version(
    ts: exp.Expression,
    created: exp.Expression | None,
    version: exp.Expression,
    dialect: EngineDialect,
) -> exp.Struct:
    """A feature row's version; a NULL (or no) created timestamp compares as -infinity."""
    lowest = infinity(dialect, negative=True)
    coalesced = lowest if created is None else exp.Coalesce(this=created, expressions=[lowest])
    return order_struct(ts, coalesced, version)
