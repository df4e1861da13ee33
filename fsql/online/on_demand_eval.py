"""Serving-time evaluation of on-demand features, in-process with DuckDB.

The training set computes an on-demand feature as `CAST(<bound expression> AS <type>)`
over the point-in-time result; here the same bound tree (fsql.compile.on_demand) runs
over an Arrow table of the request values and the input features fetched from the
online store. One in-memory DuckDB connection per evaluator (one per FeatureStore),
each call on its own cursor of it; the SQL text is generated once per set of on-demand features.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from fsql.compile.on_demand import ONLINE_TABLE, OnDemandItem, on_demand_online_query
from fsql.definitions.types import FeatureType
from fsql.errors import ProjectError, RunError

if TYPE_CHECKING:  # imported with DuckDB, by the first evaluation
    import pyarrow as pa


def _arrow_column(values: list[Any], ftype: FeatureType) -> pa.Array:
    """`values` as the declared type when they convert as they are (the SQL casts to it
    anyway); otherwise as Arrow infers them, and the SQL cast decides."""
    import pyarrow as pa

    from fsql.arrow_buffers import python_array

    try:
        return python_array(values, ftype.arrow())
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError):
        try:
            return pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError) as err:
            raise ProjectError(
                f"values of type {ftype.value} cannot be read: {err}",
                hint="pass values of the declared type",
            ) from None


class OnDemandEvaluator:
    """Evaluates on-demand features for a batch of rows; safe to share between threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._connection: Any = None
        self._sql: dict[tuple[OnDemandItem, ...], str] = {}

    def _sql_for(self, items: tuple[OnDemandItem, ...]) -> str:
        text = self._sql.get(items)
        if text is None:
            from fsql.dialects.base import get_dialect

            duckdb = get_dialect("duckdb")
            text = self._sql[items] = duckdb.sql(on_demand_online_query(items, duckdb))
        return text

    def evaluate(
        self,
        items: Sequence[OnDemandItem],
        entity_rows: Sequence[Mapping[str, Any]],
        inputs: Mapping[str, list[Any]],
    ) -> dict[str, list[Any]]:
        """Each item's values, one per entity row. `inputs` holds the fetched input
        features by output column; request values come from the entity rows, and a row
        without one is an error naming the feature and the column."""
        import pyarrow as pa

        key = tuple(items)
        columns: dict[str, pa.Array] = {}
        for item in key:
            for bound in item.requests:
                if bound.column in columns:
                    continue
                missing = next(
                    (i for i, row in enumerate(entity_rows) if bound.name not in row), None
                )
                if missing is not None:
                    raise ProjectError(
                        f"entity row {missing} has no request column '{bound.name}' needed by "
                        f"on-demand feature '{item.name}'",
                        hint=f"pass '{bound.name}' in every entity row",
                    )
                values = [row[bound.name] for row in entity_rows]
                columns[bound.column] = _arrow_column(values, bound.type)
            for bound in item.inputs:
                if bound.column not in columns:
                    columns[bound.column] = _arrow_column(list(inputs[bound.column]), bound.type)
        if not columns:  # an expression of constants only: one row per entity row all the same
            columns["__fsql_rows"] = pa.nulls(len(entity_rows))
        table = pa.table(columns)
        sql = self._sql_for(key)
        with self._lock:  # only connecting is shared; each call runs on its own cursor
            if self._connection is None:
                import duckdb

                self._connection = duckdb.connect(":memory:")
            cursor = self._connection.cursor()
        try:
            cursor.register(ONLINE_TABLE, table)
            result = cursor.sql(sql).to_arrow_table()
        except Exception as err:  # duckdb's error classes vary by version
            raise RunError(
                f"on-demand features failed: {str(err).splitlines()[0]}",
                hint="check the expressions of the on-demand features",
            ) from err
        finally:
            cursor.close()
        return {
            item.output_name: result.column(index).to_pylist() for index, item in enumerate(key)
        }
