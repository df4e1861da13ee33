"""The feature type vocabulary of the project format and its Arrow equivalents.

Engine-specific type names live in `fsql.dialects`; this module only knows the
names users write in YAML and how they map to Arrow, the interchange format.
"""

from __future__ import annotations

from enum import StrEnum

import pyarrow as pa


class FeatureType(StrEnum):
    INT32 = "int32"
    INT64 = "int64"
    FLOAT32 = "float32"
    FLOAT64 = "float64"
    BOOL = "bool"
    STRING = "string"
    TIMESTAMP = "timestamp"
    DATE = "date"
    BYTES = "bytes"

    @classmethod
    def parse(cls, value: object) -> FeatureType:
        """The type a YAML value names; ValueError (short enough for one line) if none."""
        if isinstance(value, str):
            try:
                return cls(value.strip().lower())
            except ValueError:
                pass
        names = ", ".join(t.value for t in cls)
        shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
        raise ValueError(f"unknown type {shown}; use one of {names}")

    def arrow(self) -> pa.DataType:
        return _ARROW[self]


_ARROW: dict[FeatureType, pa.DataType] = {
    FeatureType.INT32: pa.int32(),
    FeatureType.INT64: pa.int64(),
    FeatureType.FLOAT32: pa.float32(),
    FeatureType.FLOAT64: pa.float64(),
    FeatureType.BOOL: pa.bool_(),
    FeatureType.STRING: pa.string(),
    FeatureType.TIMESTAMP: pa.timestamp("us", tz="UTC"),
    FeatureType.DATE: pa.date32(),
    FeatureType.BYTES: pa.binary(),
}


def feature_type_of(dtype: pa.DataType) -> FeatureType | None:
    """The feature type whose values an Arrow column of `dtype` holds (None: no such
    type): integers keep their width, decimals are float64, text of any layout string."""
    if pa.types.is_dictionary(dtype):
        return feature_type_of(dtype.value_type)
    family = type_family(dtype)
    if family == "integer":
        return FeatureType.INT32 if dtype.bit_width <= 32 else FeatureType.INT64
    if family == "float":
        return FeatureType.FLOAT32 if pa.types.is_float32(dtype) else FeatureType.FLOAT64
    fixed = {
        "string": FeatureType.STRING,
        "bool": FeatureType.BOOL,
        "timestamp": FeatureType.TIMESTAMP,
        "date": FeatureType.DATE,
        "bytes": FeatureType.BYTES,
    }
    return fixed.get(family)


def type_family(dtype: pa.DataType) -> str:
    """A coarse family used to check that join keys of two tables can be compared.

    Integer widths may differ (an int32 id matches an int64 id by value), but an
    integer never silently matches a string: that is the empty-join bug we refuse.
    """
    if pa.types.is_integer(dtype):
        return "integer"
    if pa.types.is_floating(dtype) or pa.types.is_decimal(dtype):
        return "float"
    if (
        pa.types.is_string(dtype)
        or pa.types.is_large_string(dtype)
        or pa.types.is_string_view(dtype)
    ):
        return "string"
    if pa.types.is_boolean(dtype):
        return "bool"
    if pa.types.is_timestamp(dtype):
        return "timestamp"
    if pa.types.is_date(dtype):
        return "date"
    if pa.types.is_binary(dtype) or pa.types.is_large_binary(dtype):
        return "bytes"
    if pa.types.is_dictionary(dtype):
        return type_family(dtype.value_type)
    return str(dtype)
