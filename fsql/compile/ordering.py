"""The version order of feature rows, as one comparable value.

SPEC §2 picks, among a key's rows, the greatest (event_ts, created_ts), a NULL
created timestamp losing to any value. Engines that compare STRUCTs field by field
can carry that order as `{t: event_ts, c: coalesce(created_ts, -infinity)}` and let
one operator (an ASOF inequality, `arg_max`) apply it, with no window pass.
"""

from __future__ import annotations

from sqlglot import exp

from fsql.dialects.base import EngineDialect


def order_struct(ts: exp.Expression, created: exp.Expression) -> exp.Struct:
    """`{t: ts, c: created}`: compared on t, then c."""
    return exp.Struct(
        expressions=[
            exp.PropertyEQ(this=exp.to_identifier("t"), expression=ts),
            exp.PropertyEQ(this=exp.to_identifier("c"), expression=created),
        ]
    )


def infinity(dialect: EngineDialect, negative: bool = False) -> exp.Expression:
    """The timestamp above (or below) every real one."""
    text = "-infinity" if negative else "infinity"
    return exp.cast(exp.Literal.string(text), dialect.timestamp())


def row_version(ts: exp.Expression, created: exp.Expression, dialect: EngineDialect) -> exp.Struct:
    """A feature row's version; a NULL created timestamp compares as -infinity."""
    coalesced = exp.Coalesce(this=created, expressions=[infinity(dialect, negative=True)])
    return order_struct(ts, coalesced)
