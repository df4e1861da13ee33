"""What a training set asks of each view, and the columns of the entity table it joins.

The entity table is registered with a row id (`__fsql_row`) and its event time normalised
to UTC (`__fsql_ts`); every plan (fsql.compile.pit, fsql.compile.windows) reads it under
these names and returns one row per row id.
"""

from __future__ import annotations

from dataclasses import dataclass

from fsql.definitions.models import FeatureView

ENTITY_TABLE = "__fsql_entities"
ROW_ID = "__fsql_row"
ENTITY_TS = "__fsql_ts"
ENTITY_ALIAS = "e"


@dataclass(frozen=True)
class PitItem:
    """One view of a training set: which features, and the column name of each.

    `push_log` says the view's push log table exists; only a connection can tell, so
    the training-set runner sets it (the compiler never looks).

    A view joined through other entity columns (a service entry with `join_keys`) is
    given as a copy whose join keys are those entity columns; `stored_keys` then names
    its own key columns, in the same order, and every plan reads its rows with them
    renamed (`fsql.compile.views.item_rows_as`), so the plans never see the mapping.
    """

    view: FeatureView
    features: tuple[str, ...]
    output_names: tuple[str, ...]
    push_log: bool = False
    stored_keys: tuple[str, ...] = ()

    @property
    def key_pairs(self) -> tuple[tuple[str, str], ...]:
        """(entity column, the view's own key column) for each join key."""
        stored = self.stored_keys or self.view.join_keys
        return tuple(zip(self.view.join_keys, stored, strict=True))
