"""The feature type vocabulary of the project format and its Arrow equivalents.

Engine-specific type names live in `fsql.dialects`; this module only knows the
names users write in YAML and how they map to Arrow, the interchange format.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, ClassVar

# pyarrow is imported by the functions that use it: a process that only reads online
# values (`fsql get-online`) names types without building Arrow columns.
if TYPE_CHECKING:
    import pyarrow as pa

_SCALAR_NAMES = (
    "int32",
    "int64",
    "float32",
    "float64",
    "bool",
    "string",
    "timestamp",
    "date",
    "bytes",
)
# What an array's elements or a map's values may be: values JSON and msgpack hold as
# they are, so both online stores and every engine keep them exactly.
ELEMENT_NAMES = ("int32", "int64", "float32", "float64", "bool", "string")
_COMPOSITE = re.compile(r"^(array|map)\s*<\s*(?:(string)\s*,\s*)?([a-z0-9]+)\s*>$")


class _TypeMeta(type):
    def __iter__(cls) -> Iterator[FeatureType]:
        """The scalar types (composite ones are built from them: `array<float64>`)."""
        return iter(cls.SCALARS)  # type: ignore[attr-defined]


class FeatureType(str, metaclass=_TypeMeta):
    """A feature type as users write it: a scalar (`int64`), `array<T>`,
    `map<string,T>` (T a number, bool or string) or `json`.

    A `str` whose text is the canonical spelling, interned (`FeatureType("int64") is
    FeatureType.INT64`), so types compare, hash and print as their names.
    """

    __slots__ = ()
    _interned: ClassVar[dict[str, FeatureType]] = {}
    SCALARS: ClassVar[tuple[FeatureType, ...]]
    INT32: ClassVar[FeatureType]
    INT64: ClassVar[FeatureType]
    FLOAT32: ClassVar[FeatureType]
    FLOAT64: ClassVar[FeatureType]
    BOOL: ClassVar[FeatureType]
    STRING: ClassVar[FeatureType]
    TIMESTAMP: ClassVar[FeatureType]
    DATE: ClassVar[FeatureType]
    BYTES: ClassVar[FeatureType]
    JSON: ClassVar[FeatureType]

    def __new__(cls, text: str) -> FeatureType:
        name = _canonical(text)
        found = cls._interned.get(name)
        if found is None:
            found = super().__new__(cls, name)
            cls._interned[name] = found
        return found

    @classmethod
    def parse(cls, value: object) -> FeatureType:
        """The type a YAML value names; ValueError (short enough for one line) if none."""
        if isinstance(value, str):
            try:
                return cls(value)
            except ValueError:
                pass
        names = ", ".join(_SCALAR_NAMES)
        shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
        raise ValueError(
            f"unknown type {shown}; use one of {names}, json, array<T> or map<string,T> "
            f"(T: {', '.join(ELEMENT_NAMES)})"
        )

    @property
    def value(self) -> str:
        return str.__str__(self)

    @property
    def kind(self) -> str:
        """`scalar`, `array`, `map` or `json`."""
        if self.value == "json":
            return "json"
        head = self.value.split("<", 1)[0]
        return head if head in ("array", "map") else "scalar"

    @property
    def composite(self) -> bool:
        """Nested or JSON values: never a key, never aggregated, JSON text in CSV."""
        return self.kind != "scalar"

    @property
    def element(self) -> FeatureType | None:
        """An array's element type or a map's value type."""
        if self.kind not in ("array", "map"):
            return None
        return FeatureType(self.value.rsplit(",", 1)[-1].split("<", 1)[-1].rstrip(">"))

    def arrow(self) -> pa.DataType:
        import pyarrow as pa

        kind = self.kind
        element = self.element
        if kind == "array" and element is not None:
            return pa.list_(element.arrow())
        if kind == "map" and element is not None:
            return pa.map_(pa.string(), element.arrow())
        return _arrow_scalars()[self.value]

    def __repr__(self) -> str:
        return f"FeatureType({self.value!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (FeatureType, (self.value,))


def _canonical(text: str) -> str:
    """The canonical spelling of a type name, or ValueError."""
    name = text.strip().lower()
    if name in _SCALAR_NAMES or name == "json":
        return name
    found = _COMPOSITE.match(name)
    if found is None:
        raise ValueError(f"unknown type {text!r}")
    kind, key, element = found.groups()
    if (kind == "map") != (key is not None) or element not in ELEMENT_NAMES:
        raise ValueError(f"unknown type {text!r}")
    return f"array<{element}>" if kind == "array" else f"map<string,{element}>"


@functools.cache
def _arrow_scalars() -> dict[str, pa.DataType]:
    import pyarrow as pa

    return {
        "int32": pa.int32(),
        "int64": pa.int64(),
        "float32": pa.float32(),
        "float64": pa.float64(),
        "bool": pa.bool_(),
        "string": pa.string(),
        "timestamp": pa.timestamp("us", tz="UTC"),
        "date": pa.date32(),
        "bytes": pa.binary(),
        "json": pa.string(),  # JSON text, canonical (`json_text`)
    }

FeatureType.SCALARS = tuple(FeatureType(n) for n in _SCALAR_NAMES)
(
    FeatureType.INT32,
    FeatureType.INT64,
    FeatureType.FLOAT32,
    FeatureType.FLOAT64,
    FeatureType.BOOL,
    FeatureType.STRING,
    FeatureType.TIMESTAMP,
    FeatureType.DATE,
    FeatureType.BYTES,
) = FeatureType.SCALARS
FeatureType.JSON = FeatureType("json")


def json_text(value: Any) -> str | None:
    """A JSON value's canonical text (compact, keys sorted), from text or a Python value,
    so that engines that re-serialize JSON differently still give equal values."""
    if value is None:
        return None
    parsed = json.loads(value) if isinstance(value, str | bytes) else value
    return json.dumps(parsed, separators=(",", ":"), sort_keys=True, allow_nan=True)


def feature_type_of(dtype: pa.DataType) -> FeatureType | None:
    """The feature type whose values an Arrow column of `dtype` holds (None: no such
    type): integers keep their width, decimals are float64, text of any layout string."""
    import pyarrow as pa

    if pa.types.is_dictionary(dtype):
        return feature_type_of(dtype.value_type)
    if pa.types.is_list(dtype) or pa.types.is_large_list(dtype) or pa.types.is_map(dtype):
        inner = dtype.item_type if pa.types.is_map(dtype) else dtype.value_type
        element = feature_type_of(inner)
        if element is None or element.value not in ELEMENT_NAMES:
            return None
        if pa.types.is_map(dtype):
            return (
                FeatureType(f"map<string,{element.value}>")
                if type_family(dtype.key_type) == "string"
                else None
            )
        return FeatureType(f"array<{element.value}>")
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
    import pyarrow as pa

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
