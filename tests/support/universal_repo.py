"""A project modelling Feast's universal test repository natively, with its data.

Feast's integration suite defines, over generated data: driver hourly stats (float32 and
int32 features), a customer profile keyed by a string, location stats joined twice (as a
trip's origin and destination, through join-key maps), global stats with no entity, item
embeddings (arrays) and a driver's configuration (a map and JSON). `write_project` writes
each as an fsql view over a parquet file (rows drawn from a seeded generator), plus one
service that asks for all of them; `oracle_views` gives the brute-force oracle's view of
the same rows (tests/support/oracle.py), so tests compare fsql with it.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from tests.support.oracle import OracleView

START = datetime(2024, 5, 1, tzinfo=UTC)
SPAN = timedelta(days=2)
DRIVERS = list(range(1001, 1009))
CUSTOMERS = [f"c-{n:03d}" for n in range(12)]
LOCATIONS = list(range(1, 7))
ITEMS = list(range(50, 56))
NAME = "universal"


@dataclass(frozen=True)
class View:
    """One view of the repository: its YAML, its rows and their Arrow schema."""

    name: str
    keys: tuple[str, ...]
    features: tuple[tuple[str, str], ...]
    rows: list[dict[str, Any]]
    ttl: str | None = None
    created: str | None = None

    def schema(self) -> pa.Schema:
        from fsql.definitions.types import FeatureType

        keys = [pa.field(k, pa.string() if k == "customer_id" else pa.int64()) for k in self.keys]
        times = [pa.field("event_timestamp", pa.timestamp("us", tz="UTC"))]
        if self.created:
            times.append(pa.field(self.created, pa.timestamp("us", tz="UTC")))
        features = [pa.field(n, FeatureType.parse(t).arrow()) for n, t in self.features]
        return pa.schema([*keys, *times, *features])


def _moment(rng: random.Random) -> datetime:
    """A time inside the span, on a whole second."""
    return START + timedelta(seconds=rng.randrange(int(SPAN.total_seconds())))


def _quarter(rng: random.Random, top: int) -> float:
    """A float32-exact value (a multiple of 1/4), so float32 storage keeps it as drawn."""
    return rng.randrange(top * 4) / 4


def _times(rng: random.Random, count: int) -> list[datetime]:
    """`count` distinct times for one key (no two rows of a key share an event time)."""
    return sorted(rng.sample(range(int(SPAN.total_seconds())), count))  # type: ignore[arg-type]


def _per_key(rng: random.Random, keys: list[Any], per: int, make: Any) -> list[dict[str, Any]]:
    rows = []
    for key in keys:
        for second in _times(rng, per):
            rows.append(make(key, START + timedelta(seconds=second)))
    rng.shuffle(rows)
    return rows


def views(seed: int = 7) -> list[View]:
    rng = random.Random(seed)

    def driver(key: int, at: datetime) -> dict[str, Any]:
        return {
            "driver_id": key,
            "event_timestamp": at,
            "created": at + timedelta(minutes=rng.randrange(30)),
            "conv_rate": _quarter(rng, 1) if rng.random() > 0.1 else None,
            "acc_rate": _quarter(rng, 1),
            "avg_daily_trips": rng.randrange(-5, 500),
        }

    def customer(key: str, at: datetime) -> dict[str, Any]:
        return {
            "customer_id": key,
            "event_timestamp": at,
            "current_balance": _quarter(rng, 1000),
            "avg_passenger_count": _quarter(rng, 4),
            "lifetime_trip_count": rng.randrange(2**31 - 1),
        }

    def location(key: int, at: datetime) -> dict[str, Any]:
        return {"location_id": key, "event_timestamp": at, "temperature": rng.randrange(-20, 40)}

    def item(key: int, at: datetime) -> dict[str, Any]:
        size = rng.choice([0, 3, 4])
        return {
            "item_id": key,
            "event_timestamp": at,
            "embedding_float": [_quarter(rng, 8) - 4 for _ in range(size)],
            "embedding_double": None if rng.random() < 0.2 else [rng.random() for _ in range(4)],
        }

    def config(key: int, at: datetime) -> dict[str, Any]:
        limits = {"trips": rng.randrange(100), "hours": rng.randrange(14)}
        return {
            "driver_id": key,
            "event_timestamp": at,
            "limits": list(limits.items()) if rng.random() > 0.15 else None,
            # JSON as fsql returns it: compact, keys sorted
            "settings": json.dumps(
                {"zone": rng.choice(["n", "s"]), "pets": rng.random() > 0.5},
                separators=(",", ":"),
                sort_keys=True,
            ),
        }

    global_rows = [
        {
            "event_timestamp": START + timedelta(hours=h),
            "num_rides": rng.randrange(1000),
            "avg_ride_length": _quarter(rng, 60),
        }
        for h in range(0, 48, 3)
    ]
    return [
        View(
            "driver_hourly_stats",
            ("driver_id",),
            (("conv_rate", "float32"), ("acc_rate", "float32"), ("avg_daily_trips", "int32")),
            _per_key(rng, DRIVERS, 6, driver),
            ttl="1d",
            created="created",
        ),
        View(
            "customer_profile",
            ("customer_id",),
            (
                ("current_balance", "float32"),
                ("avg_passenger_count", "float32"),
                ("lifetime_trip_count", "int32"),
            ),
            _per_key(rng, CUSTOMERS, 4, customer),
            ttl="2d",
        ),
        View(
            "location_stats",
            ("location_id",),
            (("temperature", "int32"),),
            _per_key(rng, LOCATIONS, 5, location),
            ttl="1d",
        ),
        View(
            "global_stats",
            (),
            (("num_rides", "int32"), ("avg_ride_length", "float32")),
            global_rows,
            ttl="12h",
        ),
        View(
            "item_embeddings",
            ("item_id",),
            (("embedding_float", "array<float32>"), ("embedding_double", "array<float64>")),
            _per_key(rng, ITEMS, 3, item),
        ),
        View(
            "driver_config",
            ("driver_id",),
            (("limits", "map<string,int64>"), ("settings", "json")),
            _per_key(rng, DRIVERS, 2, config),
        ),
    ]


# One service asks for everything; location_stats twice, through the trip's two ends.
SERVICE_ENTRIES: list[Any] = [
    "driver_hourly_stats",
    "customer_profile",
    {"view": "location_stats", "as": "origin", "join_keys": {"location_id": "origin_id"}},
    {"view": "location_stats", "as": "destination", "join_keys": {"location_id": "destination_id"}},
    "global_stats",
    "item_embeddings",
    "driver_config",
]
# (view, feature, output column, the entity column its key is read from)
RENAMED = {"origin": "origin_id", "destination": "destination_id"}


def service_columns(all_views: list[View]) -> list[tuple[str, str, str, str | None]]:
    """What the service returns, in order: (view, feature, column name, alias)."""
    by_name = {v.name: v for v in all_views}
    out = []
    for entry in SERVICE_ENTRIES:
        if isinstance(entry, str):
            out.extend((entry, f, f, None) for f, _ in by_name[entry].features)
        else:
            view, alias = entry["view"], entry["as"]
            out.extend((view, f, f"{alias}__{f}", alias) for f, _ in by_name[view].features)
    return out


def write_project(root: Path, all_views: list[View], online: dict[str, Any]) -> Path:
    """The project in `root` (DuckDB offline, `online` as the online block)."""
    models, data = root / "models", root / "data"
    models.mkdir(parents=True)
    data.mkdir()
    (root / "fsql_project.yml").write_text(f"name: {NAME}\nprofile: {NAME}\n")
    profile = {
        NAME: {
            "target": "dev",
            "outputs": {
                "dev": {
                    "offline": {"type": "duckdb", "path": str(root / "target" / "fsql.duckdb")},
                    "online": online,
                }
            },
        }
    }
    (root / "target").mkdir()
    (root / "profiles.yml").write_text(yaml.safe_dump(profile))
    entities = [
        {"name": "driver", "join_keys": ["driver_id"]},
        {"name": "customer", "join_keys": ["customer_id"]},
        {"name": "location", "join_keys": ["location_id"]},
        {"name": "item", "join_keys": ["item_id"]},
    ]
    tables, docs = [], []
    entity_of = {e["join_keys"][0]: e["name"] for e in entities}
    for view in all_views:
        table = pa.Table.from_pylist(view.rows, schema=view.schema())
        pq.write_table(table, data / f"{view.name}.parquet")
        tables.append({"name": view.name, "path": f"data/{view.name}.parquet"})
        columns = [*view.keys, "event_timestamp", *([view.created] if view.created else [])]
        columns += [f for f, _ in view.features]
        (models / f"{view.name}.sql").write_text(
            f"select {', '.join(columns)}\nfrom {{{{ source('feast', '{view.name}') }}}}\n"
        )
        doc: dict[str, Any] = {
            "name": view.name,
            "entities": [entity_of[k] for k in view.keys],
            "timestamp": "event_timestamp",
            "online": True,
            "features": [{"name": f, "type": t} for f, t in view.features],
        }
        if view.ttl:
            doc["ttl"] = view.ttl
        if view.created:
            doc["created_timestamp"] = view.created
        docs.append(doc)
    spec = {
        "entities": entities,
        "sources": [{"name": "feast", "tables": tables}],
        "feature_views": docs,
        "feature_services": [{"name": "trips", "features": SERVICE_ENTRIES}],
    }
    (models / "universal.yml").write_text(yaml.safe_dump(spec, sort_keys=False))
    return root


def oracle_views(all_views: list[View]) -> dict[str, OracleView]:
    durations = {"1d": timedelta(days=1), "2d": timedelta(days=2), "12h": timedelta(hours=12)}
    return {
        v.name: OracleView(
            name=v.name,
            join_keys=v.keys,
            rows=v.rows,
            ttl=durations[v.ttl] if v.ttl else None,
            created_col=v.created,
            features=tuple(f for f, _ in v.features),
        )
        for v in all_views
    }


def entity_rows(count: int, seed: int = 11) -> list[dict[str, Any]]:
    """Trips: a driver, a customer, two locations, an item and a time (some keys unknown,
    some times before any row or past a TTL)."""
    rng = random.Random(seed)
    rows = []
    for n in range(count):
        at = (
            START
            - timedelta(hours=3)
            + timedelta(seconds=rng.randrange(int(SPAN.total_seconds()) + 6 * 3600))
        )
        rows.append(
            {
                "driver_id": rng.choice([*DRIVERS, 9999]),
                "customer_id": rng.choice([*CUSTOMERS, "nobody"]),
                "origin_id": rng.choice(LOCATIONS),
                "destination_id": rng.choice([*LOCATIONS, 77]),
                "item_id": rng.choice(ITEMS),
                "event_timestamp": at,
                "trip": n,
            }
        )
    return rows
