"""Tests for `fsql.definitions.types`: FeatureType and type_family."""

from __future__ import annotations

import pyarrow as pa
import pytest

from fsql.definitions.types import FeatureType, type_family


@pytest.mark.parametrize("text", [t.value for t in FeatureType])
def test_parse_every_name(text: str) -> None:
    assert FeatureType.parse(text).value == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [("INT64", FeatureType.INT64), (" float32 ", FeatureType.FLOAT32), ("Bool", FeatureType.BOOL)],
)
def test_parse_is_lenient_about_case_and_spaces(text: str, expected: FeatureType) -> None:
    assert FeatureType.parse(text) is expected


def test_parse_accepts_a_feature_type() -> None:
    assert FeatureType.parse(FeatureType.DATE) is FeatureType.DATE


@pytest.mark.parametrize("value", ["integer", "int", "varchar", "", None, 64, "float"])
def test_parse_unknown(value: object) -> None:
    with pytest.raises(ValueError, match="unknown type") as info:
        FeatureType.parse(value)
    assert "int64" in str(info.value)  # lists the valid names


@pytest.mark.parametrize(
    ("ftype", "arrow"),
    [
        (FeatureType.INT32, pa.int32()),
        (FeatureType.INT64, pa.int64()),
        (FeatureType.FLOAT32, pa.float32()),
        (FeatureType.FLOAT64, pa.float64()),
        (FeatureType.BOOL, pa.bool_()),
        (FeatureType.STRING, pa.string()),
        (FeatureType.TIMESTAMP, pa.timestamp("us", tz="UTC")),
        (FeatureType.DATE, pa.date32()),
        (FeatureType.BYTES, pa.binary()),
    ],
)
def test_arrow(ftype: FeatureType, arrow: pa.DataType) -> None:
    assert ftype.arrow() == arrow


def test_every_type_has_an_arrow_type() -> None:
    for ftype in FeatureType:
        assert isinstance(ftype.arrow(), pa.DataType)


@pytest.mark.parametrize(
    ("dtype", "family"),
    [
        (pa.int8(), "integer"),
        (pa.int32(), "integer"),
        (pa.int64(), "integer"),
        (pa.uint64(), "integer"),
        (pa.float32(), "float"),
        (pa.float64(), "float"),
        (pa.decimal128(10, 2), "float"),
        (pa.string(), "string"),
        (pa.large_string(), "string"),
        (pa.bool_(), "bool"),
        (pa.timestamp("ns"), "timestamp"),
        (pa.timestamp("us", tz="UTC"), "timestamp"),
        (pa.date32(), "date"),
        (pa.date64(), "date"),
        (pa.binary(), "bytes"),
        (pa.large_binary(), "bytes"),
        (pa.dictionary(pa.int32(), pa.string()), "string"),
    ],
)
def test_type_family(dtype: pa.DataType, family: str) -> None:
    assert type_family(dtype) == family


def test_integer_widths_match_but_integer_never_matches_string() -> None:
    assert type_family(pa.int32()) == type_family(pa.int64())
    assert type_family(pa.int64()) != type_family(pa.string())


def test_unknown_family_falls_back_to_type_name() -> None:
    assert type_family(pa.null()) == "null"
