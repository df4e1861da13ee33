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
    """

    view: FeatureView
    features: tuple[str, ...]
    output_names: tuple[str, ...]
    push_log: bool = False
