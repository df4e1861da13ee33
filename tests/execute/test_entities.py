"""Entity tables: time normalisation, required columns, key type checks, file formats."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from fsql.compile.pit import ENTITY_TS, ROW_ID, PitItem
from fsql.errors import ProjectError
from fsql.execute.entities import prepare_entities, read_table_file, utc_timestamps

T = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


class _View:
    """Only what prepare_entities reads of a view."""

    name = "v"
    join_keys = ("user_id",)


ITEM = PitItem(_View(), ("f",), ("f",))  # type: ignore[arg-type]
SCHEMA = pa.schema([("user_id", pa.int64()), ("f", pa.float64())])


@pytest.mark.parametrize(
    "column",
    [
        pa.chunked_array([pa.array([T.replace(tzinfo=None)], pa.timestamp("ns"))]),
        pa.chunked_array([pa.array([T], pa.timestamp("us", tz="UTC"))]),
        pa.chunked_array(
            [
                pa.array(
                    [T.astimezone(timezone(timedelta(hours=2)))], pa.timestamp("ms", tz="+02:00")
                )
            ]
        ),
        pa.chunked_array([pa.array(["2026-01-02 03:04:05"])]),
        pa.chunked_array([pa.array(["2026-01-02T05:04:05+02:00"])]),
    ],
    ids=["naive-ns", "utc", "plus2", "naive-string", "offset-string"],
)
def test_times_normalise_to_the_same_utc_instant(column: pa.ChunkedArray) -> None:
    out = utc_timestamps(column, "event_timestamp", "x")
    assert out.type == pa.timestamp("us", tz="UTC")
    assert out.to_pylist() == [T]


def test_dates_become_midnight_utc() -> None:
    out = utc_timestamps(pa.chunked_array([pa.array([date(2026, 1, 2)])]), "t", "x")
    assert out.to_pylist() == [datetime(2026, 1, 2, tzinfo=UTC)]


def test_non_time_columns_are_rejected() -> None:
    with pytest.raises(ProjectError, match="must be a timestamp"):
        utc_timestamps(pa.chunked_array([pa.array([1])]), "event_timestamp", "e.csv")
    with pytest.raises(ProjectError, match=r"row 1: .soon. is not an ISO-8601 time"):
        utc_timestamps(pa.chunked_array([pa.array(["soon"])]), "event_timestamp", "e.csv")


def test_prepare_keeps_only_keys_row_id_and_time() -> None:
    table = pa.table({"label": [1, 0], "user_id": [5, 6], "event_timestamp": [T, T]})
    slim = prepare_entities(table, [ITEM], {"v": SCHEMA})
    assert slim.column_names == ["user_id", ROW_ID, ENTITY_TS]
    assert slim.column(ROW_ID).to_pylist() == [0, 1]


def test_prepare_errors_name_the_column() -> None:
    with pytest.raises(ProjectError, match="no 'event_timestamp' column"):
        prepare_entities(pa.table({"user_id": [1]}), [ITEM], {"v": SCHEMA})
    with pytest.raises(ProjectError, match="no join key column 'user_id'"):
        prepare_entities(pa.table({"uid": [1], "event_timestamp": [T]}), [ITEM], {"v": SCHEMA})
    wrong = "join key 'user_id' of view 'v' is an integer key; got a string column"
    with pytest.raises(ProjectError, match=wrong):
        prepare_entities(
            pa.table({"user_id": ["1"], "event_timestamp": [T]}), [ITEM], {"v": SCHEMA}
        )
    with pytest.raises(ProjectError, match="would overwrite entity columns"):
        prepare_entities(
            pa.table({"user_id": [1], "f": [0.0], "event_timestamp": [T]}), [ITEM], {"v": SCHEMA}
        )


def test_integer_widths_and_all_null_keys_are_accepted() -> None:
    narrow = pa.table({"user_id": pa.array([1], pa.int32()), "event_timestamp": [T]})
    assert prepare_entities(narrow, [ITEM], {"v": SCHEMA}).num_rows == 1
    nulls = pa.table({"user_id": pa.array([None], pa.null()), "event_timestamp": [T]})
    assert prepare_entities(nulls, [ITEM], {"v": SCHEMA}).num_rows == 1


def test_read_table_file_formats(tmp_path: Path) -> None:
    pq.write_table(pa.table({"a": [1]}), tmp_path / "e.parquet")
    (tmp_path / "e.csv").write_text("a\n1\n")
    (tmp_path / "e.json").write_text("{}")
    assert read_table_file(tmp_path / "e.parquet").num_rows == 1
    assert read_table_file(tmp_path / "e.csv").num_rows == 1
    with pytest.raises(ProjectError, match="unsupported entity file format"):
        read_table_file(tmp_path / "e.json")
    with pytest.raises(ProjectError, match="not found"):
        read_table_file(tmp_path / "missing.csv")


def test_arrow_type_names_stay_out_of_messages() -> None:
    table = pa.table({"user_id": pa.array(["1"], pa.large_string()), "event_timestamp": [T]})
    with pytest.raises(ProjectError) as err:
        prepare_entities(table, [ITEM], {"v": SCHEMA})
    assert "got a string column" in str(err.value) and "large_string" not in str(err.value)
    with pytest.raises(ProjectError, match="must be a timestamp, not integer") as err:
        utc_timestamps(pa.chunked_array([pa.array([1], pa.int32())]), "event_timestamp", "e")
    assert "int32" not in str(err.value)


def test_timestamp_column_is_the_time_of_each_row() -> None:
    table = pa.table({"user_id": [5], "seen": ["2026-01-02 03:04:05"]})
    slim = prepare_entities(table, [ITEM], {"v": SCHEMA}, timestamp_column="seen")
    assert slim.column(ENTITY_TS).to_pylist() == [T]
    with pytest.raises(ProjectError, match="--timestamp-column"):
        prepare_entities(table, [ITEM], {"v": SCHEMA})


@pytest.mark.parametrize(
    ("columns", "hint"),
    [
        ({"e_ts": pa.array([T])}, "is it e_ts? name it with --timestamp-column e_ts"),
        ({"request_time": ["2026-01-02"]}, "is it request_time?"),
        ({"day": pa.array([T.date()]), "created_at": ["x"]}, "is it day or created_at?"),
        ({"score": [1.5], "status": ["ok"]}, "add the time each row is observed at"),
    ],
)
def test_a_missing_time_column_names_the_candidates(columns: dict, hint: str) -> None:
    table = pa.table({"user_id": [5], **columns})
    with pytest.raises(ProjectError) as err:
        prepare_entities(table, [ITEM], {"v": SCHEMA})
    assert err.value.hint is not None and err.value.hint.startswith(hint)
    assert "no 'event_timestamp' column" in err.value.message


def test_dataframe_columns_arrow_cannot_type_are_named() -> None:
    pd = pytest.importorskip("pandas")
    from fsql.execute.entities import to_arrow

    with pytest.raises(ProjectError, match=r"column 'user_id'.*64-bit"):
        to_arrow(pd.DataFrame({"user_id": [10**25], "event_timestamp": [T]}))
    with pytest.raises(ProjectError, match="column 'user_id' cannot be read as one type"):
        to_arrow(pd.DataFrame({"user_id": [1, "a"], "event_timestamp": [T, T]}))
