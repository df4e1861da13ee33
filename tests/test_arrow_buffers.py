"""Python values to Arrow through buffers: the same arrays as `pa.array`, and no pandas."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fsql.arrow_buffers import inferred_array, python_array

VALUES = {
    pa.int8(): st.integers(-(2**7), 2**7 - 1),
    pa.int32(): st.integers(-(2**31), 2**31 - 1),
    pa.int64(): st.integers(-(2**63), 2**63 - 1),
    pa.float32(): st.floats(width=32) | st.integers(-(2**25), 2**25),
    pa.float64(): st.floats() | st.integers(-(2**54), 2**54),
    pa.bool_(): st.booleans(),
    pa.string(): st.text(),
    pa.binary(): st.binary(),
}


@st.composite
def typed_lists(draw: st.DrawFn) -> tuple[pa.DataType, list[Any]]:
    dtype = draw(st.sampled_from(sorted(VALUES, key=str)))
    return dtype, draw(st.lists(st.none() | VALUES[dtype], max_size=20))


@settings(max_examples=300, deadline=None)
@given(typed_lists())
def test_the_same_array_as_pa_array(case: tuple[pa.DataType, list[Any]]) -> None:
    dtype, values = case
    try:
        want = pa.array(values, type=dtype)
    except pa.ArrowInvalid:  # an int a float type cannot hold exactly
        with pytest.raises(pa.ArrowInvalid):
            python_array(values, dtype)
        return
    got = python_array(values, dtype)
    got.validate(full=True)
    assert got.type == dtype
    # repr: NaN equals NaN, and 0.0 differs from -0.0
    assert [repr(v) for v in got.to_pylist()] == [repr(v) for v in want.to_pylist()]
    assert got.null_count == sum(v is None for v in values)


@pytest.mark.parametrize(
    ("values", "dtype"),
    [
        ([True, 2], pa.int64()),  # a bool is not taken for an integer by the buffer path
        ([1.0], pa.int64()),
        ([2**70], pa.int64()),
        ([300], pa.int8()),
        ([2**24 + 1], pa.float32()),  # not exactly a float32
        ([2**53 + 1], pa.float64()),
        ([1e300], pa.float32()),
        (["1"], pa.float64()),
        ([1], pa.string()),
    ],
)
def test_other_values_get_pa_arrays_answer(values: list[Any], dtype: pa.DataType) -> None:
    try:
        want: Any = pa.array(values, type=dtype)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, TypeError) as err:
        with pytest.raises(type(err)):
            python_array(values, dtype)
    else:
        assert python_array(values, dtype).equals(want)


def test_no_pandas_import() -> None:
    probe = (
        "import sys, pyarrow as pa\n"
        "from fsql.arrow_buffers import inferred_array, python_array\n"
        "for values, t in (([1, None], pa.int64()), ([1.5, 2], pa.float64()),\n"
        "                  ([True, None], pa.bool_()), (['a', None], pa.string()),\n"
        "                  ([b'x'], pa.binary()), ([], pa.int32())):\n"
        "    python_array(values, t)\n"
        "inferred_array([1, None]); inferred_array(['a'])\n"
        "print('pandas' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


@pytest.mark.parametrize(
    "values",
    [[1, 2, None], [None, "a"], [2**63, 1], [1, "a"], [True, False], [1.5, 2], [None], []],
)
def test_inferred_array_is_pa_arrays_inference(values: list[Any]) -> None:
    try:
        want = pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as err:
        with pytest.raises(type(err)):
            inferred_array(values)
    else:
        got = inferred_array(values)
        assert got.type == want.type and got.to_pylist() == want.to_pylist()
