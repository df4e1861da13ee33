"""Benchmark of `fsql compile` against `dbt parse` + `dbt compile` (not a test).

Generates, deterministically from a seed, one project of N feature views twice:

- bench/data/compile/fsql/: an fsql project (10 CSV sources, 4 entities plus user x item
  views, N views in folders per entity and kind, one metadata YAML per folder with entities,
  features, ttl, schedule, tags; 5 macros; feature services), and tiny CSVs so it also runs;
- bench/data/compile/dbt/: the equivalent dbt-duckdb project: the same SQL bodies as models
  (`{{ ref() }}`, `{{ source() }}`, `{{ this }}`, `is_incremental()`, `var()`), the same
  macros, schema YAML with every column described (type and description; the fsql metadata
  under `meta`), and a profiles.yml for a local DuckDB file with 2 threads.

Views come in four kinds: `daily` (a source aggregated per key and day; incremental),
`rolling` (a source aggregated per day, then 7-day / 30-day window functions), `derived`
(1-3 earlier views of the same entity joined on a spine of their event times, gaps filled
with `last_value(... ignore nulls)`, then ratios, deltas and ranks) and `enriched` (a
source's events joined with an earlier view of another key, point in time, by `ASOF LEFT
JOIN` or `row_number()` + `QUALIFY`, then aggregated per day).

Then it times each command in its own cold process (wall time, peak RSS from `wait4`),
`--runs` times after one unmeasured warm-up, and prints the medians as a Markdown table.
Before each cold run the previous output (fsql's target/, dbt's target/ and logs/) is
moved aside into bench/data/compile/.set-aside, which is removed when the benchmark
ends, rather than deleted: this machine's disk is ext4 without a journal, which, for
each inode it allocates, looks up and skips every inode of the block group freed in the
last minute (five while its table block is dirty; perf shows `recently_deleted` under
`ext4_create`). Writing 4,100 files right after deleting 4,100 then costs about 4 s of
kernel time instead of 0.5 s, a cost of the disk, not of either tool, and one a cold
compile in a fresh checkout (CI) never pays. `--delete-output` deletes it instead, as
`rm -rf target` before a compile would. A benchmark started within minutes of another's
end sees some of the inodes that one freed.

- `fsql compile` (CLI: import, parse, render, validate, compile, write target/);
- `dbt parse --no-partial-parse` (cold parse, target/ deleted first);
- `dbt compile --no-partial-parse` (cold: parse + compile in one process);
- `dbt compile` warm (partial parse from a previous `dbt parse`, nothing changed).

dbt runs from its own venv, bench/.venvs/dbt, created here when missing. dbt-core 1.12
depends on `dbt-core-experimental-parser`, whose build downloads a wheel from GitHub, which
this machine cannot reach; when the plain install fails for that reason the script retries
with `dbt-core<1.12` and says so. If dbt cannot be installed at all, it reports fsql alone.

    python bench/compile_bench.py [--views 1000] [--runs 3] [--seed 7] [--no-dbt]
                                  [--delete-output]
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import REPO, table

BENCH = REPO / "bench"
OUT = BENCH / "data" / "compile"
DBT_VENV = BENCH / ".venvs" / "dbt"
PROJECT = "compile_bench"
LONG_WINDOW_VAR = "rolling_long_days"
MIN_AMOUNT_VAR = "min_measure"
SQL_TYPES = {"int64": "bigint", "float64": "double", "string": "varchar"}


# -- the sources and entities --------------------------------------------------------------


@dataclass(frozen=True)
class SourceSpec:
    name: str
    keys: tuple[str, ...]
    measures: tuple[tuple[str, str], ...]  # (column, int64 | float64)
    category: str
    description: str


SOURCES: tuple[SourceSpec, ...] = (
    SourceSpec(
        "orders",
        ("user_id", "item_id", "merchant_id"),
        (("amount", "float64"), ("quantity", "int64"), ("discount", "float64")),
        "status",
        "One row per order line.",
    ),
    SourceSpec(
        "payments",
        ("user_id", "merchant_id"),
        (("amount", "float64"), ("installments", "int64")),
        "method",
        "Payment attempts, successful or not.",
    ),
    SourceSpec(
        "sessions",
        ("user_id", "device_id"),
        (("duration_s", "float64"), ("pages", "int64")),
        "channel",
        "Web and app sessions.",
    ),
    SourceSpec(
        "clicks",
        ("user_id", "item_id"),
        (("position", "int64"), ("dwell_ms", "float64")),
        "surface",
        "Clicks on items in search results and recommendations.",
    ),
    SourceSpec(
        "reviews",
        ("user_id", "item_id"),
        (("rating", "int64"), ("helpful_votes", "int64")),
        "language",
        "Product reviews.",
    ),
    SourceSpec(
        "refunds",
        ("user_id", "merchant_id"),
        (("amount", "float64"), ("days_after", "int64")),
        "reason",
        "Refunds granted after an order.",
    ),
    SourceSpec(
        "inventory",
        ("item_id", "merchant_id"),
        (("stock", "int64"), ("price", "float64")),
        "warehouse",
        "Stock and price snapshots per item and merchant.",
    ),
    SourceSpec(
        "logins",
        ("user_id", "device_id"),
        (("latency_ms", "float64"), ("attempts", "int64")),
        "outcome",
        "Login attempts.",
    ),
    SourceSpec(
        "searches",
        ("user_id",),
        (("query_len", "int64"), ("results", "int64")),
        "vertical",
        "Search queries.",
    ),
    SourceSpec(
        "shipments",
        ("merchant_id", "item_id"),
        (("delay_h", "float64"), ("parcels", "int64")),
        "carrier",
        "Shipments sent by merchants.",
    ),
)

# entity -> its join key; a view's entity group is one entity, or (user, item)
ENTITY_KEYS = {
    "user": "user_id",
    "item": "item_id",
    "merchant": "merchant_id",
    "device": "device_id",
}
CATEGORY_VALUES = ("a", "b", "c", "d", "e", "f")


def entity_groups(source: SourceSpec) -> list[tuple[str, ...]]:
    """The entity groups a view over this source can be keyed by."""
    by_key = {k: e for e, k in ENTITY_KEYS.items()}
    groups: list[tuple[str, ...]] = [(by_key[k],) for k in source.keys]
    if "user_id" in source.keys and "item_id" in source.keys:
        groups.append(("user", "item"))
    return groups


def keys_of(group: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(ENTITY_KEYS[e] for e in group)


# -- views ----------------------------------------------------------------------------------


@dataclass
class Feature:
    name: str
    type: str
    description: str


@dataclass
class View:
    index: int
    name: str
    kind: str
    group: tuple[str, ...]
    sql: str
    features: list[Feature]
    description: str
    created: bool = False
    ttl: str | None = None
    online: bool = False
    schedule: str = "1d"
    materialized: str = "table"
    lookback: str | None = None
    tags: list[str] = field(default_factory=list)

    @property
    def keys(self) -> tuple[str, ...]:
        return keys_of(self.group)

    @property
    def folder(self) -> str:
        return f"{'_'.join(self.group)}/{self.kind}"

    def numeric(self) -> list[Feature]:
        return [f for f in self.features if f.type != "string"]


def _indent(lines: Sequence[str], spaces: int = 8, sep: str = ",") -> str:
    pad = " " * spaces
    return (sep + "\n").join(pad + line for line in lines)


def _over(keys: Sequence[str], frame: str) -> str:
    return f"over (partition by {', '.join(keys)} order by event_timestamp {frame})"


class Generator:
    """Builds the views one by one; later views ref() earlier ones of the same entity."""

    def __init__(self, n_views: int, seed: int) -> None:
        self.n = n_views
        self.rng = random.Random(seed)
        self.views: list[View] = []
        self.by_group: dict[tuple[str, ...], list[View]] = {}

    def build(self) -> list[View]:
        for i in range(self.n):
            source = SOURCES[i % len(SOURCES)] if i < len(SOURCES) else self.rng.choice(SOURCES)
            roll = self.rng.random()
            if i < 2 * len(SOURCES) or roll < 0.20:
                view = self._daily(i, source) if roll < 0.10 else self._rolling(i, source)
            elif roll < 0.40:
                view = self._rolling(i, source)
            elif roll < 0.80:
                view = self._derived(i) or self._rolling(i, source)
            else:
                view = self._enriched(i, source) or self._rolling(i, source)
            self._metadata(view)
            self.views.append(view)
            self.by_group.setdefault(view.group, []).append(view)
        return self.views

    # Each kind returns a View with its SQL and features; metadata is chosen afterwards.

    def _name(self, i: int, group: tuple[str, ...], topic: str, kind: str) -> str:
        return f"{'_'.join(group)}_{topic}_{kind}_{i:04d}"

    def _base_cte(
        self, source: SourceSpec, keys: Sequence[str], cols: Sequence[tuple[str, str]]
    ) -> list[str]:
        macro = self.rng.random() < 0.6
        stamp = (
            "{{ day_end('event_ts') }}"
            if macro
            else ("date_trunc('day', cast(event_ts as timestamp)) + interval 1 day")
        )
        select = [f"cast({k} as bigint) as {k}" for k in keys]
        select.append(f"{stamp} as day_end")
        select += [f"cast({c} as {SQL_TYPES[t]}) as {c}" for c, t in cols]
        select.append(f"cast({source.category} as varchar) as {source.category}")
        where = "event_ts is not null"
        if self.rng.random() < 0.3:
            where += f"\n      and {cols[0][0]} >= {{{{ var('{MIN_AMOUNT_VAR}', 0) }}}}"
        return [
            "base as (",
            "    select",
            _indent(select),
            f"    from {{{{ source('raw', '{source.name}') }}}}",
            f"    where {where}",
        ]

    def _daily(self, i: int, source: SourceSpec) -> View:
        group = self.rng.choice(entity_groups(source))
        keys = keys_of(group)
        cols = list(source.measures)
        base = self._base_cte(source, keys, cols)
        base += [
            "    {% if is_incremental() %}",
            "      and event_ts >= (select max(event_timestamp) from {{ this }}) - interval 2 day",
            "    {% endif %}",
            ")",
        ]
        tag = f"v{i:04d}"
        features = [Feature(f"{tag}_events_1d", "int64", f"{source.name} rows that day")]
        aggs = ["count(*) as events"]
        outs = [f"cast(events as bigint) as {tag}_events_1d"]
        for col, typ in cols:
            func = self.rng.choice(("sum", "avg", "max", "min"))
            aggs.append(f"{func}({col}) as {col}_{func}")
            ftype = "float64" if func == "avg" or typ == "float64" else "int64"
            expr = f"round({col}_{func}, 4)" if ftype == "float64" else f"{col}_{func}"
            outs.append(f"cast({expr} as {SQL_TYPES[ftype]}) as {tag}_{col}_{func}_1d")
            features.append(Feature(f"{tag}_{col}_{func}_1d", ftype, f"{func} of {col} that day"))
        aggs.append(f"count(distinct {source.category}) as {source.category}_distinct")
        outs.append(f"{source.category}_distinct as {tag}_{source.category}_distinct_1d")
        features.append(
            Feature(f"{tag}_{source.category}_distinct_1d", "int64", f"distinct {source.category}")
        )
        aggs.append(f"count(*) filter (where {cols[0][0]} > 0) as positive_events")
        outs.append(f"positive_events as {tag}_positive_events_1d")
        features.append(
            Feature(f"{tag}_positive_events_1d", "int64", f"rows with a positive {cols[0][0]}")
        )
        sql = "\n".join(
            [
                f"-- Daily {source.name} per {' and '.join(group)}, stamped at the end of the day.",
                "with " + base[0],
                *base[1:-1],
                "),",
                "",
                "daily as (",
                "    select",
                _indent([*keys, "day_end as event_timestamp", *aggs]),
                "    from base",
                f"    group by {', '.join([*keys, 'day_end'])}",
                ")",
                "",
                "select",
                _indent([*keys, "event_timestamp", *outs], 4),
                "from daily",
                "",
            ]
        )
        view = View(
            i,
            self._name(i, group, source.name, "daily"),
            "daily",
            group,
            sql,
            features,
            f"Daily aggregates of {source.name} per {' and '.join(group)}.",
        )
        view.materialized = "incremental"
        view.lookback = "2d"
        return view

    def _rolling(self, i: int, source: SourceSpec) -> View:
        group = self.rng.choice(entity_groups(source))
        keys = keys_of(group)
        cols = self.rng.sample(list(source.measures), k=min(2, len(source.measures)))
        base = [*self._base_cte(source, keys, cols), ")"]
        tag = f"v{i:04d}"
        daily = [
            *keys,
            "day_end as event_timestamp",
            "count(*) as events",
            *[f"sum({c}) as {c}_sum" for c, _ in cols],
            f"arg_max({source.category}, {cols[0][0]}) as top_{source.category}",
        ]
        short = self.rng.choice((3, 7, 14))
        outs: list[str] = []
        features: list[Feature] = []
        key_list = ", ".join(keys)
        window = _over(keys, self._range(short))
        outs.append(f"cast(sum(events) {window} as bigint) as {tag}_events_{short}d")
        features.append(Feature(f"{tag}_events_{short}d", "int64", f"rows in {short} days"))
        for col, _ in cols:
            if self.rng.random() < 0.5:
                expr = f"{{{{ rolling_sum('{col}_sum', '{key_list}', {short}) }}}}"
            else:
                expr = f"sum({col}_sum) {_over(keys, self._range(short))}"
            outs.append(f"round({expr}, 4) as {tag}_{col}_sum_{short}d")
            features.append(Feature(f"{tag}_{col}_sum_{short}d", "float64", f"{col} in {short}d"))
        long_window = f"{{{{ var('{LONG_WINDOW_VAR}', 30) }}}}"
        col = cols[-1][0]
        outs.append(
            f"avg({col}_sum) over (\n            partition by {key_list}\n"
            "            order by event_timestamp\n"
            f"            range between interval ({long_window} - 1) day preceding"
            f" and current row\n        ) as {tag}_{col}_daily_avg_long"
        )
        features.append(
            Feature(f"{tag}_{col}_daily_avg_long", "float64", f"mean daily {col}, long window")
        )
        outs.append(
            f"cast(count(*) {_over(keys, 'rows between unbounded preceding and current row')}"
            f" as bigint) as {tag}_active_days"
        )
        features.append(Feature(f"{tag}_active_days", "int64", "days with any row so far"))
        outs.append(
            f"{{{{ days_since_previous('event_timestamp', '{key_list}') }}}}"
            f" as {tag}_days_since_prev"
        )
        features.append(Feature(f"{tag}_days_since_prev", "int64", "days since the previous row"))
        outs.append(f"top_{source.category} as {tag}_top_{source.category}")
        features.append(
            Feature(f"{tag}_top_{source.category}", "string", f"{source.category} of the top row")
        )
        sql = "\n".join(
            [
                f"-- Rolling {source.name} windows per {' and '.join(group)}.",
                "with " + base[0],
                *base[1:-1],
                "),",
                "",
                "daily as (",
                "    select",
                _indent(daily),
                "    from base",
                f"    group by {', '.join([*keys, 'day_end'])}",
                ")",
                "",
                "select",
                _indent([*keys, "event_timestamp", *outs], 4),
                "from daily",
                "",
            ]
        )
        return View(
            i,
            self._name(i, group, source.name, "rolling"),
            "rolling",
            group,
            sql,
            features,
            f"Rolling {short}-day and long-window statistics of {source.name}.",
        )

    def _range(self, days: int) -> str:
        return f"range between interval {days - 1} day preceding and current row"

    def _derived(self, i: int) -> View | None:
        groups = [g for g, vs in self.by_group.items() if vs]
        if not groups:
            return None
        group = self.rng.choice(groups)
        candidates = self.by_group[group]
        keys = keys_of(group)
        refs = self.rng.sample(candidates, k=min(len(candidates), self.rng.randint(1, 3)))
        tag = f"v{i:04d}"
        ctes: list[str] = []
        picked: list[tuple[str, Feature]] = []  # (cte alias, feature)
        for n, ref in enumerate(refs, start=1):
            nums = ref.numeric()
            chosen = self.rng.sample(nums, k=min(len(nums), self.rng.randint(1, 3)))
            picked += [(f"r{n}", f) for f in chosen]
            ctes += [
                f"r{n} as (",
                "    select",
                _indent([*keys, "event_timestamp", *[f.name for f in chosen]]),
                f"    from {{{{ ref('{ref.name}') }}}}",
                "),",
                "",
            ]
        spine = "\n    union\n".join(
            f"    select {', '.join(keys)}, event_timestamp from r{n}"
            for n in range(1, len(refs) + 1)
        )
        ctes += ["spine as (", spine, "),", ""]
        joins = []
        for n in range(1, len(refs) + 1):
            cond = " and ".join(f"r{n}.{k} = spine.{k}" for k in [*keys, "event_timestamp"])
            joins.append(f"    left join r{n} on {cond}")
        ctes += [
            "joined as (",
            "    select",
            _indent(
                [*[f"spine.{k}" for k in keys], "spine.event_timestamp"]
                + [f"{alias}.{f.name}" for alias, f in picked]
            ),
            "    from spine",
            *joins,
            "),",
            "",
        ]
        fill_frame = "rows between unbounded preceding and current row"
        ctes += [
            "-- Carry each input forward to the spine's later times: a point-in-time view.",
            "filled as (",
            "    select",
            _indent(
                [*keys, "event_timestamp"]
                + [
                    f"last_value({f.name} ignore nulls) {_over(keys, fill_frame)} as {f.name}"
                    for _, f in picked
                ]
            ),
            "    from joined",
            ")",
            "",
        ]
        outs: list[str] = []
        features: list[Feature] = []
        names = [f.name for _, f in picked]
        for j, name in enumerate(names):
            choice = self.rng.random()
            if choice < 0.3 and len(names) > 1:
                other = names[(j + 1) % len(names)]
                outs.append(f"{{{{ safe_divide('{name}', '{other}') }}}} as {tag}_ratio_{j}")
                features.append(Feature(f"{tag}_ratio_{j}", "float64", f"{name} / {other}"))
            elif choice < 0.6:
                outs.append(
                    f"cast({name} as double) - lag({name}) over (partition by {', '.join(keys)}"
                    f" order by event_timestamp) as {tag}_delta_{j}"
                )
                features.append(Feature(f"{tag}_delta_{j}", "float64", f"change of {name}"))
            elif choice < 0.8:
                outs.append(
                    f"percent_rank() over (partition by event_timestamp order by {name})"
                    f" as {tag}_pct_rank_{j}"
                )
                features.append(
                    Feature(f"{tag}_pct_rank_{j}", "float64", f"rank of {name} among keys")
                )
            else:
                outs.append(f"cast(coalesce({name}, 0) as double) as {tag}_filled_{j}")
                features.append(Feature(f"{tag}_filled_{j}", "float64", f"{name}, 0 when unknown"))
        if len(names) > 1:
            total = " + ".join(f"coalesce(cast({n} as double), 0)" for n in names)
            outs.append(f"round({total}, 4) as {tag}_score")
            features.append(Feature(f"{tag}_score", "float64", "sum of the inputs"))
        outs.append(
            f"case when {names[0]} is null then 'missing' when {names[0]} > 0 then 'positive'"
            f" else 'other' end as {tag}_bucket"
        )
        features.append(Feature(f"{tag}_bucket", "string", f"bucket of {names[0]}"))
        sql = "\n".join(
            [
                f"-- Combines {', '.join(r.name for r in refs)} on one timeline.",
                "with " + ctes[0],
                *ctes[1:],
                "select",
                _indent([*keys, "event_timestamp", *outs], 4),
                "from filled",
                "",
            ]
        )
        return View(
            i,
            self._name(i, group, "mix", "derived"),
            "derived",
            group,
            sql,
            features,
            f"Derived from {len(refs)} upstream view(s) of {' and '.join(group)}.",
        )

    def _enriched(self, i: int, source: SourceSpec) -> View | None:
        # An earlier single-entity view keyed by one of the source's keys, and an output key.
        options = [
            v
            for k in source.keys
            for v in self.by_group.get((next(e for e, c in ENTITY_KEYS.items() if c == k),), [])
            if v.numeric()
        ]
        if not options:
            return None
        ref = self.rng.choice(options)
        (ref_key,) = ref.keys
        out_key = self.rng.choice([k for k in source.keys if k != ref_key] or [ref_key])
        group = (next(e for e, c in ENTITY_KEYS.items() if c == out_key),)
        col = source.measures[0][0]
        feature = self.rng.choice(ref.numeric())
        tag = f"v{i:04d}"
        key_cols = sorted({ref_key, out_key})
        events = [
            *[f"cast({k} as bigint) as {k}" for k in key_cols],
            "cast(event_ts as timestamp) as event_ts",
            f"cast({col} as double) as {col}",
        ]
        head = [
            f"-- {source.name} events enriched with {ref.name} as of each event, per {out_key}.",
            "with events as (",
            "    select",
            _indent(events),
            f"    from {{{{ source('raw', '{source.name}') }}}}",
            "    where event_ts is not null",
            "),",
            "",
            "upstream as (",
            f"    select {ref_key}, event_timestamp, {feature.name}",
            f"    from {{{{ ref('{ref.name}') }}}}",
            "),",
            "",
        ]
        if self.rng.random() < 0.5:
            matched = [
                "matched as (",
                f"    select events.*, upstream.{feature.name}",
                "    from events",
                "    asof left join upstream",
                f"        on upstream.{ref_key} = events.{ref_key}",
                "        and upstream.event_timestamp <= events.event_ts",
                "),",
            ]
        else:
            matched = [
                "matched as (",
                f"    select events.*, upstream.{feature.name}",
                "    from events",
                "    left join upstream",
                f"        on upstream.{ref_key} = events.{ref_key}",
                "        and upstream.event_timestamp <= events.event_ts",
                "    qualify row_number() over (",
                f"        partition by {', '.join(f'events.{k}' for k in key_cols)},"
                " events.event_ts",
                "        order by upstream.event_timestamp desc",
                "    ) = 1",
                "),",
            ]
        daily = [
            "",
            "daily as (",
            "    select",
            _indent(
                [
                    out_key,
                    "{{ day_end('event_ts') }} as event_timestamp",
                    "count(*) as events",
                    f"avg({feature.name}) as upstream_avg",
                    f"sum({col} * coalesce({feature.name}, 0)) as weighted_{col}",
                    f"count(*) filter (where {feature.name} is null) as unmatched",
                ]
            ),
            "    from matched",
            f"    group by {out_key}, {{{{ day_end('event_ts') }}}}",
            ")",
            "",
        ]
        outs = [
            f"cast(events as bigint) as {tag}_events_1d",
            f"round(upstream_avg, 4) as {tag}_upstream_avg_1d",
            f"round(weighted_{col}, 4) as {tag}_weighted_{col}_1d",
            f"cast(unmatched as bigint) as {tag}_unmatched_1d",
            f"round(sum(weighted_{col}) {_over([out_key], self._range(7))}, 4)"
            f" as {tag}_weighted_{col}_7d",
        ]
        features = [
            Feature(f"{tag}_events_1d", "int64", f"{source.name} rows that day"),
            Feature(f"{tag}_upstream_avg_1d", "float64", f"mean {feature.name} at event time"),
            Feature(f"{tag}_weighted_{col}_1d", "float64", f"{col} weighted by {feature.name}"),
            Feature(f"{tag}_unmatched_1d", "int64", "events with no upstream value"),
            Feature(f"{tag}_weighted_{col}_7d", "float64", "7-day sum of the weighted value"),
        ]
        sql = "\n".join(
            [
                *head,
                *matched,
                *daily,
                "select",
                _indent([out_key, "event_timestamp", *outs], 4),
                "from daily",
                "",
            ]
        )
        return View(
            i,
            self._name(i, group, source.name, "enriched"),
            "enriched",
            group,
            sql,
            features,
            f"{source.name} enriched with {ref.name}, per {out_key} and day.",
        )

    def _metadata(self, view: View) -> None:
        rng = self.rng
        view.ttl = rng.choice((None, "1d", "7d", "30d", "90d", "36h"))
        view.online = rng.random() < 0.4
        view.schedule = rng.choice(("1d", "6h", "1h"))
        view.tags = [view.group[0], view.kind, f"team_{rng.randint(1, 8)}"]
        if view.kind != "daily" and rng.random() < 0.3:
            view.created = True
            # A created timestamp goes right after the timestamp in the select list.
            view.sql = view.sql.replace(
                "\n    event_timestamp,\n",
                "\n    event_timestamp,\n    event_timestamp + interval 10 minute"
                " as created_timestamp,\n",
                1,
            )


# -- writing the projects ---------------------------------------------------------------------

MACROS = {
    "time.sql": """\
{#- The end of the UTC day that `col` falls in: daily buckets are known only then. -#}
{%- macro day_end(col) -%}
(date_trunc('day', CAST({{ col }} AS TIMESTAMP)) + INTERVAL 1 DAY)
{%- endmacro -%}

{#- Whole days since the previous row of the same key (NULL for the first). -#}
{%- macro days_since_previous(ts, keys) -%}
date_diff('day', lag({{ ts }}) over (partition by {{ keys }} order by {{ ts }}), {{ ts }})
{%- endmacro -%}
""",
    "math.sql": """\
{#- a / b, NULL when b is 0 or NULL. -#}
{%- macro safe_divide(a, b) -%}
(CAST({{ a }} AS DOUBLE) / NULLIF(CAST({{ b }} AS DOUBLE), 0))
{%- endmacro -%}

{#- Clamp x into [lo, hi]. -#}
{%- macro clamp(x, lo, hi) -%}
least(greatest({{ x }}, {{ lo }}), {{ hi }})
{%- endmacro -%}
""",
    "windows.sql": """\
{#- Sum of `col` over the last `days` days (day-end buckets), per key. -#}
{%- macro rolling_sum(col, keys, days) -%}
sum({{ col }}) over (
            partition by {{ keys }}
            order by event_timestamp
            range between interval {{ days - 1 }} day preceding and current row
        )
{%- endmacro -%}
""",
}


def _yaml_str(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def write_data(root: Path, seed: int, rows: int = 200) -> None:
    """Tiny CSVs for every source, so both projects can also be run, not only compiled."""
    rng = random.Random(seed)
    start = datetime(2026, 1, 1)
    for source in SOURCES:
        path = root / "data" / f"{source.name}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(
                [
                    "event_id",
                    *source.keys,
                    "event_ts",
                    *[c for c, _ in source.measures],
                    source.category,
                ]
            )
            for n in range(rows):
                ts = start + timedelta(seconds=rng.randrange(60 * 86_400))
                values = [
                    rng.randint(0, 50) if t == "int64" else round(rng.uniform(0, 100), 2)
                    for _, t in source.measures
                ]
                writer.writerow(
                    [
                        n,
                        *[rng.randint(1, 20) for _ in source.keys],
                        ts.strftime("%Y-%m-%d %H:%M:%S"),
                        *values,
                        rng.choice(CATEGORY_VALUES),
                    ]
                )


def _feature_view_yaml(view: View) -> list[str]:
    lines = [
        f"  - name: {view.name}",
        f"    description: {_yaml_str(view.description)}",
        f"    entities: [{', '.join(view.group)}]",
        "    timestamp: event_timestamp",
    ]
    if view.created:
        lines.append("    created_timestamp: created_timestamp")
    if view.ttl:
        lines.append(f"    ttl: {view.ttl}")
    lines += [
        f"    online: {'true' if view.online else 'false'}",
        f"    schedule: {view.schedule}",
        f"    materialized: {view.materialized}",
    ]
    if view.lookback:
        lines.append(f"    lookback: {view.lookback}")
    lines += [f"    tags: [{', '.join(view.tags)}]", "    features:"]
    for f in view.features:
        lines += [
            f"      - name: {f.name}",
            f"        type: {f.type}",
            f"        description: {_yaml_str(f.description)}",
        ]
    return lines


def write_fsql(root: Path, views: list[View], seed: int) -> None:
    _write(
        root / "fsql_project.yml",
        f"name: {PROJECT}\nprofile: {PROJECT}\nmodel-paths: [models]\nmacro-paths: [macros]\n"
        f"vars:\n  {LONG_WINDOW_VAR}: 30\n  {MIN_AMOUNT_VAR}: 0\n",
    )
    _write(
        root / "profiles.yml",
        f"{PROJECT}:\n  target: dev\n  outputs:\n    dev:\n"
        "      offline: {type: duckdb, path: target/fsql.duckdb}\n"
        "      online: {type: sqlite, path: target/online.db}\n",
    )
    for name, text in MACROS.items():
        _write(root / "macros" / name, text)
    entities = ["entities:"]
    for ent, key in ENTITY_KEYS.items():
        entities += [
            f"  - name: {ent}",
            f"    join_keys: [{key}]",
            f"    description: {_yaml_str(f'A {ent}, keyed by {key}.')}",
        ]
    sources = ["sources:", "  - name: raw", "    tables:"]
    for s in SOURCES:
        sources += [
            f"      # {s.description}",
            f"      - name: {s.name}",
            f"        path: data/{s.name}.csv",
        ]
    _write(root / "models" / "entities.yml", "\n".join([*entities, "", *sources]) + "\n")
    by_folder: dict[str, list[View]] = {}
    for view in views:
        _write(root / "models" / view.folder / f"{view.name}.sql", view.sql)
        by_folder.setdefault(view.folder, []).append(view)
    for folder, members in by_folder.items():
        lines = ["feature_views:"]
        for view in members:
            lines += _feature_view_yaml(view)
        lines.append("")
        _write(root / "models" / folder / f"_{folder.replace('/', '_')}.yml", "\n".join(lines))
    rng = random.Random(seed + 1)
    services = ["feature_services:"]
    for n in range(max(1, len(views) // 50)):
        group = rng.choice(sorted({v.group for v in views if len(v.group) == 1}))
        pool = [v for v in views if v.group == group]
        chosen = rng.sample(pool, k=min(len(pool), 4))
        services += [
            f"  - name: model_{n:03d}",
            f"    description: Model {n} on {group[0]}s.",
            "    features:",
        ]
        for view in chosen:
            if rng.random() < 0.3:
                services.append(f"      - {view.name}")
            else:
                services += [f"      - {view.name}:{f.name}" for f in view.features[:2]]
    _write(root / "models" / "services.yml", "\n".join(services) + "\n")
    write_data(root, seed)


def _dbt_columns(view: View) -> list[str]:
    cols = [(k, "bigint", f"Join key of {k[:-3]}.") for k in view.keys]
    cols.append(("event_timestamp", "timestamp", "Event time of the row."))
    if view.created:
        cols.append(("created_timestamp", "timestamp", "When the row became available."))
    cols += [(f.name, SQL_TYPES[f.type], f.description) for f in view.features]
    lines = ["    columns:"]
    for name, typ, desc in cols:
        lines += [
            f"      - name: {name}",
            f"        data_type: {typ}",
            f"        description: {_yaml_str(desc)}",
        ]
    return lines


def write_dbt(root: Path, views: list[View], seed: int) -> None:
    _write(
        root / "dbt_project.yml",
        f"name: {PROJECT}\nversion: '1.0.0'\nconfig-version: 2\nprofile: {PROJECT}\n"
        "model-paths: [models]\nmacro-paths: [macros]\ntarget-path: target\n"
        f"vars:\n  {LONG_WINDOW_VAR}: 30\n  {MIN_AMOUNT_VAR}: 0\n"
        "flags:\n  send_anonymous_usage_stats: false\n",
    )
    _write(
        root / "profiles.yml",
        f"{PROJECT}:\n  target: dev\n  outputs:\n    dev:\n"
        "      type: duckdb\n      path: dbt.duckdb\n      threads: 2\n",
    )
    for name, text in MACROS.items():
        _write(root / "macros" / name, text)
    sources = [
        "version: 2",
        "",
        "sources:",
        "  - name: raw",
        "    meta:",
        '      external_location: "data/{name}.csv"',
        "    tables:",
    ]
    for s in SOURCES:
        sources += [
            f"      - name: {s.name}",
            f"        description: {_yaml_str(s.description)}",
            "        columns:",
        ]
        for col in ["event_id", *s.keys, "event_ts", *[c for c, _ in s.measures], s.category]:
            sources += [f"          - name: {col}", f"            description: {col} of {s.name}"]
    _write(root / "models" / "sources.yml", "\n".join(sources) + "\n")
    by_folder: dict[str, list[View]] = {}
    for view in views:
        _write(root / "models" / view.folder / f"{view.name}.sql", view.sql)
        by_folder.setdefault(view.folder, []).append(view)
    for folder, members in by_folder.items():
        lines = ["version: 2", "", "models:"]
        for view in members:
            lines += [
                f"  - name: {view.name}",
                f"    description: {_yaml_str(view.description)}",
                "    config:",
                f"      materialized: {view.materialized}",
            ]
            if view.materialized == "incremental":
                lines.append(f"      unique_key: [{', '.join([*view.keys, 'event_timestamp'])}]")
            lines += [
                f"      tags: [{', '.join(view.tags)}]",
                "      meta:",
                f"        entities: [{', '.join(view.group)}]",
                f"        ttl: {view.ttl or 'null'}",
                f"        online: {'true' if view.online else 'false'}",
                f"        schedule: {view.schedule}",
            ]
            lines += _dbt_columns(view)
        lines.append("")
        _write(root / "models" / folder / f"_{folder.replace('/', '_')}.yml", "\n".join(lines))
    write_data(root, seed)


def generate(n_views: int, seed: int) -> tuple[Path, Path]:
    views = Generator(n_views, seed).build()
    fsql_dir, dbt_dir = OUT / "fsql", OUT / "dbt"
    for d in (fsql_dir, dbt_dir):
        shutil.rmtree(d, ignore_errors=True)
    write_fsql(fsql_dir, views, seed)
    write_dbt(dbt_dir, views, seed)
    kinds: dict[str, int] = {}
    for v in views:
        kinds[v.kind] = kinds.get(v.kind, 0) + 1
    refs = sum(v.sql.count("{{ ref(") for v in views)
    print(
        f"generated {len(views)} views ({', '.join(f'{k} {n}' for k, n in sorted(kinds.items()))};"
        f" {refs} ref() edges, {sum(len(v.features) for v in views)} features) into {OUT}",
        flush=True,
    )
    return fsql_dir, dbt_dir


# -- timing ---------------------------------------------------------------------------------


@dataclass
class Sample:
    seconds: float  # wall time
    cpu_seconds: float  # user + system time of the process (less sensitive to a busy machine)
    peak_rss_mb: float


def timed(cmd: Sequence[str], cwd: Path, env: dict[str, str] | None = None) -> Sample:
    """Run one command in a fresh process: wall time and that process's peak RSS."""
    with tempfile.TemporaryFile() as out:
        started = time.perf_counter()
        proc = subprocess.Popen(
            list(cmd), cwd=cwd, env={**os.environ, **(env or {})}, stdout=out, stderr=out
        )
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            out.seek(0)
            tail = out.read().decode(errors="replace")[-4000:]
            raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{tail}")
    return Sample(seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024)


# Where cold runs move the previous output (see the module's docstring); removed at the end.
ASIDE = OUT / ".set-aside"


def clear_output(paths: Sequence[Path], delete: bool = False) -> None:
    """`paths` gone before a cold run: moved into ASIDE, or deleted when `delete`."""
    for path in paths:
        if not path.exists():
            continue
        if delete:
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()
            continue
        ASIDE.mkdir(parents=True, exist_ok=True)
        path.rename(ASIDE / f"{time.time_ns()}-{path.name}")


def median_of(
    cmd: Sequence[str],
    cwd: Path,
    runs: int,
    before: list[Path] | None = None,
    env: dict[str, str] | None = None,
    label: str = "",
    prepare: Callable[[], None] | None = None,
    delete: bool = False,
) -> Sample:
    """One unmeasured warm-up (OS file cache, .pyc files), then the median of `runs`;
    `prepare` runs before each (not timed), and the paths `before` are cleared
    (`clear_output`)."""
    samples = []
    for n in range(runs + 1):
        if prepare is not None:
            prepare()
        clear_output(before or [], delete)
        sample = timed(cmd, cwd, env)
        if n:
            samples.append(sample)
    result = Sample(
        statistics.median(s.seconds for s in samples),
        statistics.median(s.cpu_seconds for s in samples),
        max(s.peak_rss_mb for s in samples),
    )
    runs_text = ", ".join(f"{s.seconds:.2f}" for s in samples)
    print(
        f"  {label}: median {result.seconds:.2f} s wall, {result.cpu_seconds:.2f} s CPU"
        f" (wall of each run: {runs_text})",
        flush=True,
    )
    return result


def fsql_command() -> list[str]:
    script = Path(sys.executable).parent / "fsql"
    if script.exists():
        return [str(script)]
    found = shutil.which("fsql")
    if found is None:
        raise SystemExit("the fsql command is not installed in this environment")
    return [found]


def ensure_dbt(venv: Path) -> Path | None:
    """The dbt executable of the benchmark's venv, installing dbt-duckdb when missing."""
    dbt = venv / "bin" / "dbt"
    if dbt.exists():
        return dbt
    print(f"installing dbt-duckdb into {venv} ...", flush=True)
    if not (venv / "bin" / "python").exists():
        made = subprocess.run(
            ["python3", "-m", "venv", str(venv)], capture_output=True, text=True, check=False
        )
        if made.returncode != 0:
            print(f"cannot create {venv}: {made.stderr.strip()[-800:]}; reporting fsql alone")
            return None
    pip = [str(venv / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check"]
    attempts = (
        ["dbt-duckdb"],
        # dbt-core 1.12 pulls in dbt-core-experimental-parser, whose build step downloads a
        # wheel from GitHub: impossible without that network access. 1.11 parses the same.
        ["dbt-duckdb", "dbt-core<1.12"],
    )
    for packages in attempts:
        done = subprocess.run([*pip, *packages], capture_output=True, text=True, check=False)
        if done.returncode == 0 and dbt.exists():
            print(f"installed {' '.join(packages)}", flush=True)
            return dbt
        errors = [
            line.strip()
            for line in done.stderr.splitlines()
            if "Error" in line or "error:" in line or "failed" in line
        ]
        print(
            f"pip install {' '.join(packages)} failed: "
            + (" | ".join(errors[-3:]) or done.stderr.strip()[-600:]),
            flush=True,
        )
    print("dbt could not be installed: reporting fsql alone", flush=True)
    return None


def dbt_version(dbt: Path) -> str:
    code = (
        "import importlib.metadata as m;"
        "print(' '.join(m.version(p) for p in ('dbt-core', 'dbt-duckdb', 'duckdb')))"
    )
    done = subprocess.run(
        [str(dbt.parent / "python"), "-c", code], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        return "dbt (version unknown)"
    core, duck, engine = done.stdout.split()
    return f"dbt-core {core}, dbt-duckdb {duck}, duckdb {engine}"


DBT_ENV = {
    "DO_NOT_TRACK": "1",
    "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    "DBT_VERSION_CHECK": "false",
    "DBT_PARTIAL_PARSE_FILE_DIFF": "true",
}


def count_files(root: Path, suffix: str) -> int:
    return sum(1 for _ in root.rglob(f"*{suffix}")) if root.exists() else 0


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--views", type=int, default=1000, help="feature views / dbt models")
    parser.add_argument("--runs", type=int, default=3, help="measured runs per step (median)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-dbt", action="store_true", help="time fsql alone")
    parser.add_argument("--dbt-venv", type=Path, default=DBT_VENV)
    parser.add_argument(
        "--delete-output",
        action="store_true",
        help="delete the previous output before each cold run (default: move it aside)",
    )
    args = parser.parse_args(argv)
    try:
        _measure(args)
    finally:
        remove_aside()


def remove_aside() -> None:
    """The set-aside outputs removed, saying what that means for the next benchmark."""
    if ASIDE.exists():
        shutil.rmtree(ASIDE, ignore_errors=True)
        print(
            "removed the set-aside outputs: a compile benchmark started within about 90 s"
            " creates files where they were freed, and pays for it"
        )


def _measure(args: argparse.Namespace) -> None:

    fsql_dir, dbt_dir = generate(args.views, args.seed)
    print(f"timing ({args.runs} runs each after one warm-up; cold process per run):", flush=True)
    fsql = median_of(
        [*fsql_command(), "compile", "--project-dir", str(fsql_dir)],
        fsql_dir,
        args.runs,
        before=[fsql_dir / "target"],
        label="fsql compile",
        delete=args.delete_output,
    )
    compiled = fsql_dir / "target" / "compiled"
    n_fsql = sum(1 for p in compiled.glob("*/*") if p.is_dir())
    if n_fsql != args.views:
        raise SystemExit(f"fsql compiled {n_fsql} views, expected {args.views}")

    rows: list[list[object]] = [
        ["fsql compile (cold process)", fsql.seconds, fsql.cpu_seconds, fsql.peak_rss_mb, 1.0, 1.0]
    ]
    command = [*fsql_command(), "compile", "--project-dir", str(fsql_dir)]
    warm = median_of(command, fsql_dir, args.runs, label="fsql compile, nothing changed")
    rows.append(
        [
            "fsql compile, nothing changed",
            warm.seconds,
            warm.cpu_seconds,
            warm.peak_rss_mb,
            round(warm.seconds / fsql.seconds, 3),
            "",
        ]
    )
    models = sorted((fsql_dir / "models").rglob("*.sql"))
    edits = iter(range(10**6))

    def touch_one() -> None:
        """A different model gains a comment before each run: one view changed."""
        path = models[next(edits) * 97 % len(models)]
        path.write_text(path.read_text() + f"-- edited {time.time_ns()}\n")

    one = median_of(
        command, fsql_dir, args.runs, label="fsql compile, one model changed", prepare=touch_one
    )
    rows.append(
        [
            "fsql compile, one model changed",
            one.seconds,
            one.cpu_seconds,
            one.peak_rss_mb,
            round(one.seconds / fsql.seconds, 3),
            "",
        ]
    )
    versions = ""
    dbt = None if args.no_dbt else ensure_dbt(args.dbt_venv)
    if dbt is not None:
        versions = dbt_version(dbt)
        base = [str(dbt)]
        where = ["--project-dir", str(dbt_dir), "--profiles-dir", str(dbt_dir)]
        cold = [dbt_dir / "target", dbt_dir / "logs"]
        steps: list[tuple[str, Sample]] = []
        steps.append(
            (
                "dbt parse (cold, --no-partial-parse)",
                median_of(
                    [*base, "parse", *where, "--no-partial-parse"],
                    dbt_dir,
                    args.runs,
                    before=cold,
                    env=DBT_ENV,
                    label="dbt parse cold",
                    delete=args.delete_output,
                ),
            )
        )
        compile_cold = median_of(
            [*base, "compile", *where, "--no-partial-parse"],
            dbt_dir,
            args.runs,
            before=cold,
            env=DBT_ENV,
            label="dbt compile cold",
            delete=args.delete_output,
        )
        n_dbt = count_files(dbt_dir / "target" / "compiled", ".sql")
        if n_dbt != args.views:
            raise SystemExit(f"dbt compiled {n_dbt} models, expected {args.views}")
        steps.append(("dbt compile (cold, --no-partial-parse; parses too)", compile_cold))
        # Warm: a previous `dbt parse` left target/partial_parse.msgpack and nothing changed.
        timed([*base, "parse", *where], dbt_dir, DBT_ENV)
        warm = median_of(
            [*base, "compile", *where], dbt_dir, args.runs, env=DBT_ENV, label="dbt compile warm"
        )
        steps.append(("dbt compile (warm partial parse)", warm))
        parse_cold = steps[0][1]
        steps.append(
            (
                "dbt parse (cold) + dbt compile (warm)",
                Sample(
                    parse_cold.seconds + warm.seconds,
                    parse_cold.cpu_seconds + warm.cpu_seconds,
                    max(parse_cold.peak_rss_mb, warm.peak_rss_mb),
                ),
            )
        )
        for label, sample in steps:
            rows.append(
                [
                    label,
                    sample.seconds,
                    sample.cpu_seconds,
                    sample.peak_rss_mb,
                    sample.seconds / fsql.seconds,
                    sample.cpu_seconds / fsql.cpu_seconds,
                ]
            )

    print()
    print(
        f"Compile of {args.views:,} feature views / models (median of {args.runs} runs, "
        f"cold process each, {os.cpu_count()} cores, Python {sys.version.split()[0]}"
        + (f", {versions}" if versions else "")
        + "):"
    )
    print()
    header = ["step", "wall s", "CPU s", "peak RSS MiB", "wall / fsql", "CPU / fsql"]
    print(table(rows, header))
    if dbt is None and not args.no_dbt:
        print("\n(dbt not available: fsql alone)")


if __name__ == "__main__":
    main()
