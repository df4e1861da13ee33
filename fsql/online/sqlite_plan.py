"""The per-view plan of the SQLite online store: names, SQL and decoders, made once.

Everything `fsql.online.sqlite` derives from one `OnlineTable` in one namespace (a
table): the statements (generated once per view layout, namespace and read batch size,
so a read does no SQL generation after its first call) and the conversions of stored
values back to Python values.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fsql.errors import ProjectError
from fsql.online.base import CREATED_TS, EVENT_TS, VERSION, OnlineTable
from fsql.online.sqlite_sql import batch_select_sql, view_sql
from fsql.online.sqlite_values import FLOAT_TYPES, NAN, decoder

# Parameters per read statement; batch sizes are rounded up to these buckets (the
# last key repeated) so a view needs only a handful of distinct statements.
_MAX_PARAMS = 500
_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 500)


@dataclass
class Plan:
    """Everything derived from one `OnlineTable`, computed once: names, SQL, decoders."""

    table: OnlineTable
    name: str
    layout: str
    keys: tuple[str, ...]
    ttl_us: int | None
    create_sql: str
    drop_sql: str
    upsert_sql: str
    point_sql: str
    decoders: tuple[tuple[int, Callable[[Any], Any]], ...]
    floats: tuple[int, ...]  # positions of float features (NaN is stored as text)
    rows_per_chunk: int
    buckets: tuple[int, ...]
    in_sql: dict[int, str] = field(default_factory=dict)

    @classmethod
    def build(cls, table: OnlineTable, name: str) -> Plan:
        keys = tuple(table.join_keys)
        if not keys:
            raise ProjectError(f"online view {table.view!r} has no join keys")
        features = tuple(table.feature_names)
        seen: dict[str, str] = {}
        for column in (*keys, EVENT_TS, CREATED_TS, VERSION, *features):
            folded = column.lower()  # SQLite column names are case-insensitive
            if folded in seen:
                raise ProjectError(
                    f"online view {table.view!r}: columns {seen[folded]!r} and {column!r} "
                    "collide in SQLite (names compare case-insensitively)",
                    hint="rename one of them",
                )
            seen[folded] = column
        statements = view_sql(name, keys, table.features)
        rows_per_chunk = max(1, _MAX_PARAMS // len(keys))
        return cls(
            table=table,
            name=name,
            layout=table.layout,
            keys=keys,
            ttl_us=table.ttl_us,
            create_sql=statements.create,
            drop_sql=statements.drop,
            upsert_sql=statements.upsert,
            point_sql=statements.point,
            decoders=tuple(
                (i, fn) for i, (_, t) in enumerate(table.features) if (fn := decoder(t))
            ),
            floats=tuple(i for i, (_, t) in enumerate(table.features) if t in FLOAT_TYPES),
            rows_per_chunk=rows_per_chunk,
            buckets=tuple(sorted({min(b, rows_per_chunk) for b in _BUCKETS})),
        )

    def batch_sql(self, n: int) -> str:
        """The statement reading `n` keys at once (n is one of `buckets`)."""
        sql = self.in_sql.get(n)
        if sql is None:
            columns = [*self.keys, EVENT_TS, *self.table.feature_names]
            sql = batch_select_sql(self.name, self.keys, columns, n)
            self.in_sql[n] = sql
        return sql

    def bucket(self, n: int) -> int:
        for b in self.buckets:
            if b >= n:
                return b
        return self.buckets[-1]

    def decode(self, values: tuple[Any, ...]) -> tuple[Any, ...]:
        """Stored feature values -> Python values (bool, UTC datetime, date, NaN)."""
        if not self.decoders and not self.floats:
            return values
        out = list(values)
        for i, fn in self.decoders:
            v = out[i]
            if v is not None:
                out[i] = fn(v)
        for i in self.floats:
            if type(out[i]) is str:  # NaN: SQLite would store a float NaN as NULL
                out[i] = NAN
        return tuple(out)
