"""Entity keys: one set of rules for their types, wherever keys come in.

Training sets (entity tables), online reads (the Python API, `get-online`, the HTTP
server) and pushes all check a key against the type of the view's key column the same
way and fail with the same message: a key of the wrong type is an error, never a silent
empty join or NULL. The rules (SPEC §2, §4):

- keys compare by type family (fsql.definitions.types.type_family): integer widths may
  differ, but an integer never matches a string, a float or a bool (`"1001"`, `1.0` and
  `True` are not the integer key 1001 or 1);
- numpy and pandas scalars count as the Python values they hold (`numpy.int64(7)` is 7);
- None (and NaN, NaT, pd.NA) is a NULL key: it matches nothing and reads as NULL
  features.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from fsql.definitions.types import type_family
from fsql.errors import ProjectError

if TYPE_CHECKING:  # column checks are given Arrow types; row checks need none
    import pyarrow as pa

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def key_families(schema: pa.Schema, keys: Sequence[str]) -> str:
    """The type family of each join key column in `schema`, comma-separated (stored
    beside online values so that reads can check keys)."""
    return ",".join(type_family(schema.field(k).type) for k in keys)


def mismatch(key: str, view: str, want: str, got: str, where: str | None = None) -> ProjectError:
    """The one error for a key of the wrong type, on every path."""
    article = "an" if want[0] in "aeiou" else "a"
    return ProjectError(
        f"join key '{key}' of view '{view}' is {article} {want} key; got {got}",
        file=where,
        hint=f"pass '{key}' as {article} {want}",
    )


def _is_null(value: Any) -> bool:
    if value is None:
        return True
    name = type(value).__name__
    if name in ("NAType", "NaTType"):
        return True
    return isinstance(value, float) and math.isnan(value)


def plain_value(value: Any) -> Any:
    """A numpy or pandas scalar as the Python value it holds; None for any NULL."""
    if _is_null(value):
        return None
    module = type(value).__module__
    if module.startswith(("numpy", "pandas")):
        if hasattr(value, "to_pydatetime"):  # pandas Timestamp
            value = value.to_pydatetime()
        elif type(value).__name__ == "datetime64":
            value = value.astype("datetime64[us]").item()
        elif hasattr(value, "item"):
            value = value.item()
        if _is_null(value):
            return None
    return value


def value_family(value: Any) -> str:
    """The type family of a plain Python key value (as `type_family` names Arrow types)."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "bytes"
    if isinstance(value, datetime):
        return "timestamp"
    if isinstance(value, date):
        return "date"
    return type(value).__name__


def _describe(value: Any, family: str) -> str:
    text = repr(value)
    if len(text) > 40:
        text = text[:37] + "..."
    return f"{family} {text}"


def check_key(value: Any, want: str | None, key: str, view: str) -> Any:
    """`value` as the store compares it: plain Python, naive timestamps as UTC; raises
    `mismatch` when its family is not `want` (None: the view's key type is not known
    yet, nothing to check against)."""
    value = plain_value(value)
    if value is None:
        return None
    family = value_family(value)
    if want is not None and family != want:
        raise mismatch(key, view, want, _describe(value, family))
    if family == "integer" and not INT64_MIN <= value <= INT64_MAX:
        raise ProjectError(
            f"join key '{key}' of view '{view}': {_describe(value, family)} is outside the "
            "64-bit integer range every engine and store keeps",
            hint=f"pass a '{key}' between {INT64_MIN} and {INT64_MAX}",
        )
    if isinstance(value, datetime) and value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value


def check_column(dtype: pa.DataType, want: pa.DataType, key: str, view: str, where: str) -> None:
    """An entity or push column of Arrow type `dtype` against the view's key type."""
    import pyarrow as pa

    if pa.types.is_null(dtype):
        return
    have, family = type_family(dtype), type_family(want)
    if have != family:
        article = "an" if have[0] in "aeiou" else "a"
        raise mismatch(key, view, family, f"{article} {have} column", where)
