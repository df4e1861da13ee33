"""Correct over time: random sequences of changes and commands, checked after every step.

A hypothesis state machine keeps a source (a parquet file) and the rows pushed so far,
and interleaves changes to them (appends, in-place corrections, deletions, equal-time
versions, NULL created times, rewrites of unchanged data, pushes, redefinitions of the
view) with commands as users run them, each in a fresh `FeatureStore` as a new process
would: `run`, `materialize START END` and `materialize-incremental END` with END now,
in the future or in the past, and training sets.

After every step that materializes up to now (SPEC §2, "Online store"), the online values
read now equal the brute-force point-in-time answer at now over the current data (the
view's rows under its current definition, plus the pushed rows) and equal a training set
at now. A backfill (END in the past) may not bring the store back to an older answer:
no key's stored version goes back, no watermark moves back. A redefined view is reported
`redefined` until materialized. Runs on SQLite and on the real Redis.
"""

from __future__ import annotations

import math
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    precondition,
    rule,
    run_state_machine_as_test,
)

from fsql import FeatureStore
from tests.support.oracle import (
    OracleView,
    assert_columns_equal,
    latest_oracle,
    online_oracle,
    pit_oracle,
)
from tests.support.project_factory import ViewSpec, make_project, write_raw
from tests.support.versions import duckdb_version

H = timedelta(hours=1)
D = timedelta(days=1)
TTL = 3 * D
USERS = [1, 2, 3, 4]
READ_KEYS = [*USERS, 99]  # 99 never has a row
FEATURES = [("value", "float64"), ("tag", "string")]
REFS = [("stats", "value"), ("stats", "tag")]
ENTITIES = {"user": ["user_id"]}
MODEL = (
    "select user_id, event_timestamp, created_ts, value * {k} as value, tag\n"
    "from {{{{ source('raw', 'stats_raw') }}}}\n"
)

Row = dict[str, Any]
PUSH_SCHEMA = pa.schema(
    [
        ("user_id", pa.int64()),
        ("event_timestamp", pa.timestamp("us", tz="UTC")),
        ("created_ts", pa.timestamp("us", tz="UTC")),
        ("value", pa.float64()),
        ("tag", pa.string()),
    ]
)
values = st.one_of(
    st.none(), st.just(math.nan), st.floats(-100, 100, allow_nan=False).map(lambda v: round(v, 2))
)
tags = st.one_of(st.none(), st.sampled_from(["a", "b", "c"]))


def _version(row: Row) -> int:
    return duckdb_version([row["value"], row["tag"]], [t for _, t in FEATURES])


class OverTime(RuleBasedStateMachine):
    """One project, one online view; changes and commands in any order."""

    online: dict[str, Any] | None = None  # set per store by the test below
    base: Path = Path(".")

    def __init__(self) -> None:
        super().__init__()
        self.now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        self.rows: list[Row] = []
        self.pushed: list[Row] = []
        self.k = 1
        self.materialized_def: int | None = None  # the k online values were made with
        self.clock = 0  # created times of new rows move forward, one minute a step
        self.dirty = True  # the data changed since the store last converged
        self.root = self.base / f"p{os.getpid()}_{id(self)}"
        self.spec = ViewSpec(
            "stats",
            ["user"],
            FEATURES,
            [],
            ttl="3d",
            online=True,
            created_col="created_ts",
            sql=MODEL.format(k=self.k),
            key_types={"user_id": "int64"},
            extra_yaml={"lookback": "1h"},
        )

    # -- the data

    def _row(self, user: int, hours_ago: int, created: bool, value: Any, tag: Any) -> Row:
        event = self.now - hours_ago * H
        self.clock += 1
        return {
            "user_id": user,
            "event_timestamp": event,
            "created_ts": event + self.clock * timedelta(minutes=1) if created else None,
            "value": value,
            "tag": tag,
        }

    def _write_source(self) -> None:
        self.dirty = True  # the store lags until the next materialization
        spec = ViewSpec(**{**self.spec.__dict__, "rows": self.rows, "sql": None})
        write_raw(self.root / "data" / "stats_raw.parquet", spec, ["user_id"])

    def _view_rows(self) -> list[Row]:
        """The view's rows now: the source under the current definition, then pushes."""
        scaled = [
            {**r, "value": None if r["value"] is None else r["value"] * self.k} for r in self.rows
        ]
        return scaled + self.pushed

    def _oracle(self) -> OracleView:
        return OracleView(
            "stats",
            ("user_id",),
            self._view_rows(),
            ttl=TTL,
            created_col="created_ts",
            features=("value", "tag"),
            version=_version,
        )

    def _store(self) -> FeatureStore:
        return FeatureStore(project_dir=self.root)

    # -- checks

    def _online(self, store: FeatureStore) -> tuple[dict[str, list[Any]], datetime]:
        rows = [{"user_id": u} for u in READ_KEYS]
        got = store.get_online_features(features=["stats:value", "stats:tag"], entity_rows=rows)
        return got.to_dict(), datetime.now(UTC)

    def _check_converged(self, store: FeatureStore) -> None:
        self.dirty = False
        got, at = self._online(store)
        expected = online_oracle([{"user_id": u} for u in READ_KEYS], [self._oracle()], REFS, at)
        assert_columns_equal(got, expected)
        [fresh] = store.freshness()
        assert fresh.status in ("fresh", "unscheduled"), fresh

    # -- setup

    @initialize(
        rows=st.lists(
            st.tuples(st.sampled_from(USERS), st.integers(1, 120), st.booleans(), values, tags),
            min_size=1,
            max_size=8,
        )
    )
    def start(self, rows: list[tuple[int, int, bool, Any, Any]]) -> None:
        self.rows = [self._row(*r) for r in rows]
        spec = ViewSpec(**{**self.spec.__dict__, "rows": self.rows})
        make_project(self.root, [spec], ENTITIES, online_store=self.online)
        self._write_source()

    # -- changes

    @rule(
        user=st.sampled_from(USERS),
        hours_ago=st.integers(1, 120),
        created=st.booleans(),
        value=values,
        tag=tags,
    )
    def append(self, user: int, hours_ago: int, created: bool, value: Any, tag: Any) -> None:
        self.rows.append(self._row(user, hours_ago, created, value, tag))
        self._write_source()

    @precondition(lambda self: self.rows)
    @rule(data=st.data(), value=values)
    def correct_in_place(self, data: st.DataObject, value: Any) -> None:
        i = data.draw(st.integers(0, len(self.rows) - 1))
        self.rows[i] = {**self.rows[i], "value": value}
        self._write_source()

    @precondition(lambda self: self.rows)
    @rule(data=st.data())
    def delete(self, data: st.DataObject) -> None:
        del self.rows[data.draw(st.integers(0, len(self.rows) - 1))]
        self._write_source()

    @precondition(lambda self: self.rows)
    @rule(data=st.data(), value=values, tag=tags)
    def equal_time_version(self, data: st.DataObject, value: Any, tag: Any) -> None:
        i = data.draw(st.integers(0, len(self.rows) - 1))
        self.rows.append({**self.rows[i], "value": value, "tag": tag})
        self._write_source()

    @rule()
    def rewrite_unchanged(self) -> None:
        self._write_source()  # new modification time, same rows

    def _push(self, row: Row) -> None:
        if self.materialized_def != self.k:  # online values of another definition
            return
        with self._store() as store:
            store.push("stats", pa.Table.from_pylist([row], schema=PUSH_SCHEMA))
            self.pushed.append(row)
            if not self.dirty:  # a push alone keeps a converged store converged
                self._check_converged(store)

    @precondition(lambda self: self.materialized_def is not None)
    @rule(user=st.sampled_from(USERS), hours_ago=st.integers(1, 120), value=values, tag=tags)
    def push(self, user: int, hours_ago: int, value: Any, tag: Any) -> None:
        self._push(self._row(user, hours_ago, True, value, tag))

    @precondition(lambda self: self.materialized_def is not None and self.rows)
    @rule(data=st.data(), value=values, tag=tags)
    def push_equal_time_version(self, data: st.DataObject, value: Any, tag: Any) -> None:
        """A pushed row with the keys, event and created time of a row already there:
        online and offline must pick the same one of the two versions."""
        # The rows served now: a version of one of them is the push that must be decided
        # by the version rule, online as offline.
        winners = [r for r in latest_oracle(self._oracle(), datetime.now(UTC)).values() if r]
        candidates = [r for r in winners if r["created_ts"] is not None]
        if candidates:
            row = candidates[data.draw(st.integers(0, len(candidates) - 1))]
            self._push({**row, "value": value, "tag": tag})

    @rule()
    def redefine(self) -> None:
        self.dirty = True
        self.k = 2 if self.k == 1 else 1
        (self.root / "models" / "stats.sql").write_text(MODEL.format(k=self.k))
        if self.materialized_def is not None:
            with self._store() as store:
                [row] = store.freshness()
                assert (row.status == "redefined") == (self.k != self.materialized_def), row

    # -- commands that bring the store up to now

    @rule()
    def run(self) -> None:
        with self._store() as store:
            store.run()
            self.materialized_def = self.k
            self._check_converged(store)

    @rule(end=st.sampled_from(["now", "future"]))
    def materialize_window(self, end: str) -> None:
        until = datetime.now(UTC) + (2 * H if end == "future" else timedelta(0))
        with self._store() as store:
            store.materialize(until - 10 * D, until)
            self.materialized_def = self.k
            self._check_converged(store)

    @rule(end=st.sampled_from(["now", "future"]))
    def materialize_incremental(self, end: str) -> None:
        until = datetime.now(UTC) + (2 * H if end == "future" else timedelta(0))
        with self._store() as store:
            store.materialize_incremental(until)
            self.materialized_def = self.k
            self._check_converged(store)
            state = store.online.get_state("stats")
            assert state is not None and state.watermark is not None
            assert state.watermark <= datetime.now(UTC)  # never past the run's start

    # -- backfills: END in the past

    @precondition(lambda self: self.materialized_def == self.k)
    @rule(hours_ago=st.integers(1, 48), incremental=st.booleans())
    def backfill(self, hours_ago: int, incremental: bool) -> None:
        """END in the past: nothing newer is replaced by something older, no watermark
        moves back. A store that was converged (no change since) stays converged."""
        until = self.now - hours_ago * H
        converged = not self.dirty
        with self._store() as store:
            before = store.online.get_state("stats")
            if incremental:
                store.materialize_incremental(until)
            else:
                store.materialize(until - 10 * D, until)
            after = store.online.get_state("stats")
            assert before is not None and after is not None
            assert before.watermark is not None and after.watermark is not None
            assert after.watermark >= before.watermark
            if converged:
                self._check_converged(store)

    # -- training sets

    @rule()
    def training_set(self) -> None:
        at = datetime.now(UTC)
        entities = [{"user_id": u, "event_timestamp": at} for u in READ_KEYS]
        with self._store() as store:
            got = store.get_historical_features(
                entity_df=pa.Table.from_pylist(entities),
                features=["stats:value", "stats:tag"],
            ).to_arrow()
        expected = pit_oracle(entities, [self._oracle()], REFS)
        assert_columns_equal(
            {c: got.column(c).to_pylist() for c in ("user_id", "value", "tag")},
            {c: [r[c] for r in expected] for c in ("user_id", "value", "tag")},
        )


def test_online_and_training_follow_every_change(
    tmp_path: Path, online_store_config: dict[str, Any] | None
) -> None:
    OverTime.online = online_store_config
    OverTime.base = tmp_path
    run_state_machine_as_test(
        OverTime,
        settings=settings(
            max_examples=int(os.environ.get("FSQL_OVER_TIME_EXAMPLES", "25")),
            stateful_step_count=12,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
