"""`fsql init DIR`: a new project that works at once.

What it writes: `fsql_project.yml`, `profiles.yml` (DuckDB + SQLite files under
target/), `models/sources.yml` (an entity and two CSV sources), two feature views (a
plain one, `customer_profile`, and a windowed one, `customer_spend`), a feature service,
and small deterministic sample data with an entity table, so that `fsql run`,
`fsql build-training-set --feature-service first_model --entities data/entities.csv`
and `fsql get-online` work in it straight away. A directory that exists and is not empty
is refused: init never writes over someone's files.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

from fsql.errors import ProjectError

PROJECT = """\
# An fsql project: `fsql run` builds the views and fills the online store.
name: {name}
profile: {name}
model-paths: [models]
"""

PROFILES = """\
# Where the project runs. Paths are relative to the project folder.
{name}:
  target: dev
  outputs:
    dev:
      offline: {{type: duckdb, path: target/fsql.duckdb}}
      online: {{type: sqlite, path: target/online.db}}
"""

SOURCES = """\
entities:
  - name: customer
    join_keys: [customer_id]
    description: A customer.

sources:
  - name: raw
    tables:
      # customer_id, plan, updated_at: the customer's plan, one row per change
      - name: profiles
        path: data/profiles.csv
      # customer_id, amount, paid_at: one row per payment
      - name: payments
        path: data/payments.csv
"""

VIEWS = """\
feature_views:
  - name: customer_profile
    description: The customer's plan, as of each change.
    entities: [customer]
    timestamp: event_timestamp
    online: true
    features:
      - {name: plan, type: string, description: free, pro or team}

  - name: customer_spend
    description: Payments over sliding windows, exact at any time.
    entities: [customer]
    timestamp: event_timestamp
    online: true
    aggregations:
      - {column: amount, function: sum, windows: [7d, 30d]}   # amount_sum_7d, amount_sum_30d
      - {function: count, windows: [30d], name: payments_30d}

feature_services:
  - name: first_model
    features: [customer_profile, customer_spend]
"""

PROFILE_SQL = """\
-- One row per plan change; the latest one before a label time is what a training row sees.
select
    cast(customer_id as bigint) as customer_id,
    cast(updated_at as timestamp) as event_timestamp,
    cast(plan as varchar) as plan
from {{ source('raw', 'profiles') }}
"""

SPEND_SQL = """\
-- One row per payment: customer_spend aggregates them over its windows.
select
    cast(customer_id as bigint) as customer_id,
    cast(paid_at as timestamp) as event_timestamp,
    cast(amount as double) as amount
from {{ source('raw', 'payments') }}
"""

GITIGNORE = "target/\n"
START = datetime(2026, 1, 1)
CUSTOMERS = 20


def _name(folder: Path) -> str:
    """The project (and profile) name: the folder's name as an identifier."""
    name = re.sub(r"[^0-9a-zA-Z_]+", "_", folder.name).strip("_").lower() or "project"
    return name if not name[0].isdigit() else f"p_{name}"


def _csv(header: str, rows: Sequence[tuple[object, ...]]) -> str:
    return header + "\n" + "".join(",".join(str(v) for v in row) + "\n" for row in rows)


def _data() -> dict[str, str]:
    """Two months of a small shop's customers, deterministic."""
    rng = random.Random(1)
    stamp = "%Y-%m-%d %H:%M:%S"
    profiles, payments, entities = [], [], []
    for customer in range(1, CUSTOMERS + 1):
        at = START + timedelta(days=rng.randrange(10), hours=rng.randrange(24))
        profiles.append((customer, rng.choice(["free", "pro", "team"]), at.strftime(stamp)))
        if rng.random() < 0.3:
            later = at + timedelta(days=rng.randrange(5, 40))
            profiles.append((customer, rng.choice(["pro", "team"]), later.strftime(stamp)))
        for _ in range(rng.randrange(3, 15)):
            paid = START + timedelta(seconds=rng.randrange(60 * 86400))
            payments.append((customer, f"{rng.uniform(5, 120):.2f}", paid.strftime(stamp)))
        for _ in range(2):
            when = START + timedelta(seconds=rng.randrange(15 * 86400, 60 * 86400))
            entities.append((customer, when.strftime(stamp), int(rng.random() < 0.3)))
    payments.sort(key=lambda row: (row[2], row[0]))
    return {
        "data/profiles.csv": _csv("customer_id,plan,updated_at", profiles),
        "data/payments.csv": _csv("customer_id,amount,paid_at", payments),
        "data/entities.csv": _csv("customer_id,event_timestamp,label", entities),
    }


def init_project(folder: Path) -> list[Path]:
    """Write a new project into `folder` (created; must be empty); returns its files."""
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise ProjectError(
            f"{folder} is not an empty folder: fsql init writes a new project only into an "
            "empty or new folder",
            hint="pick a new folder name",
        )
    name = _name(folder.resolve())
    files = {
        "fsql_project.yml": PROJECT.format(name=name),
        "profiles.yml": PROFILES.format(name=name),
        ".gitignore": GITIGNORE,
        "models/sources.yml": SOURCES,
        "models/customers.yml": VIEWS,
        "models/customer_profile.sql": PROFILE_SQL,
        "models/customer_spend.sql": SPEND_SQL,
        **_data(),
    }
    written = []
    for rel, text in files.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
