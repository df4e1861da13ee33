"""Generate the example shop's raw data: orders, reviews, items, add-to-cart events and a
training entity table.

The CSVs are shipped in the repository so that a fresh clone runs with no set-up; this
script is how they were made. It is deterministic (seeded `random.Random`s, no clock, no
hash-order dependence), so running it again rewrites identical bytes:

    python data/generate.py

All timestamps are naive UTC, written `YYYY-MM-DD HH:MM:SS`, between 2026-01-01 and
2026-03-31 (the entity table also has a few rows from before any history).
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent
START = datetime(2026, 1, 1)
END = datetime(2026, 4, 1)  # exclusive: the data covers 2026-01-01 .. 2026-03-31
N_USERS = 50
N_ITEMS = 40
FIRST_ITEM_ID = 1001  # a different range from user ids, so a swapped join key finds nothing
UNKNOWN_USER_IDS = (900, 901, 902)  # in the entity table only: no history at all

CATEGORIES = {  # category -> (min price, max price)
    "books": (8.0, 40.0),
    "electronics": (25.0, 400.0),
    "garden": (10.0, 120.0),
    "home": (12.0, 150.0),
    "sports": (15.0, 200.0),
    "toys": (5.0, 60.0),
}


@dataclass(frozen=True)
class Item:
    item_id: int
    category: str
    listed_ts: datetime
    price: float
    quality: float  # mean rating its reviewers give
    popularity: float  # relative chance of being ordered


@dataclass(frozen=True)
class User:
    user_id: int
    signup: datetime
    churn: datetime  # stops ordering from here on (END for users who stay)
    orders_per_day: float


def fmt(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%d %H:%M:%S")


def random_time_of_day(rng: random.Random, day: datetime) -> datetime:
    return day + timedelta(hours=rng.randrange(7, 24), minutes=rng.randrange(60),
                           seconds=rng.randrange(60))


def make_items(rng: random.Random) -> list[Item]:
    items = []
    categories = sorted(CATEGORIES)
    for n in range(N_ITEMS):
        category = rng.choice(categories)
        low, high = CATEGORIES[category]
        # Most of the catalogue is there from the first week; a quarter arrives later,
        # so some items have a listing date but no reviews for a while.
        days = rng.randrange(7) if n < 30 else rng.randrange(14, 75)
        listed = START + timedelta(days=days, hours=rng.randrange(8, 18),
                                   minutes=rng.randrange(60))
        items.append(Item(
            item_id=FIRST_ITEM_ID + n,
            category=category,
            listed_ts=listed,
            price=round(rng.uniform(low, high), 2),
            quality=rng.uniform(2.2, 4.8),
            popularity=rng.uniform(0.2, 3.0),
        ))
    return items


def make_users(rng: random.Random) -> list[User]:
    users = []
    for user_id in range(1, N_USERS + 1):
        signup = START + timedelta(days=rng.randrange(0, 45) if user_id > 10 else 0)
        # About a third of the users stop ordering at some point: what churn_model predicts.
        if rng.random() < 0.35:
            churn = signup + timedelta(days=rng.randrange(10, 60))
        else:
            churn = END
        users.append(User(user_id, signup, min(churn, END), rng.uniform(0.1, 0.5)))
    return users


def make_orders(rng: random.Random, users: list[User], items: list[Item]) -> list[dict]:
    orders = []
    for user in users:
        day = user.signup
        while day < user.churn:
            n_orders = sum(rng.random() < user.orders_per_day for _ in range(2))
            for _ in range(n_orders):
                ts = random_time_of_day(rng, day)
                listed = [item for item in items if item.listed_ts <= ts]
                if not listed:
                    continue
                item = rng.choices(listed, weights=[i.popularity for i in listed])[0]
                quantity = rng.choices([1, 2, 3], weights=[8, 3, 1])[0]
                orders.append({"user_id": user.user_id, "item_id": item.item_id,
                               "amount": round(item.price * quantity, 2), "order_ts": ts})
            day += timedelta(days=1)
    orders.sort(key=lambda o: (o["order_ts"], o["user_id"]))
    for order_id, order in enumerate(orders, start=1):
        order["order_id"] = order_id
    return orders


def make_reviews(rng: random.Random, orders: list[dict], items: list[Item]) -> list[dict]:
    quality = {item.item_id: item.quality for item in items}
    reviews = []
    for order in orders:
        if rng.random() >= 0.4:
            continue
        ts = order["order_ts"] + timedelta(hours=rng.randrange(2, 24 * 6),
                                           minutes=rng.randrange(60))
        if ts >= END:
            continue
        rating = min(5, max(1, round(rng.gauss(quality[order["item_id"]], 0.9))))
        reviews.append({"user_id": order["user_id"], "item_id": order["item_id"],
                        "rating": rating, "review_ts": ts})
    reviews.sort(key=lambda r: (r["review_ts"], r["user_id"]))
    for review_id, review in enumerate(reviews, start=1):
        review["review_id"] = review_id
    return reviews


def make_entities(rng: random.Random, users: list[User], items: list[Item],
                  orders: list[dict]) -> list[dict]:
    """Training rows for churn_model: label 1 when the user orders nothing in the next 14 days."""
    order_times: dict[int, list[datetime]] = {}
    for order in orders:
        order_times.setdefault(order["user_id"], []).append(order["order_ts"])

    def churned(user_id: int, ts: datetime) -> int:
        horizon = ts + timedelta(days=14)
        return int(not any(ts < t <= horizon for t in order_times.get(user_id, [])))

    user_ids = [user.user_id for user in users]
    item_ids = [item.item_id for item in items]
    rows = []
    # Labels need 14 days of future, so ordinary rows stop at 2026-03-17.
    span = int((END - timedelta(days=15) - START).total_seconds())
    for _ in range(180):
        ts = START + timedelta(seconds=rng.randrange(span))
        rows.append((rng.choice(user_ids), rng.choice(item_ids), ts))
    # Exactly at midnight, where daily feature rows are stamped: the bounds are inclusive.
    for _ in range(8):
        ts = START + timedelta(days=rng.randrange(1, 75))
        rows.append((rng.choice(user_ids), rng.choice(item_ids), ts))
    # Before any history: every feature must come back NULL.
    for _ in range(6):
        ts = START - timedelta(days=rng.randrange(1, 20), hours=rng.randrange(24))
        rows.append((rng.choice(user_ids), rng.choice(item_ids), ts))
    # Users the shop has never seen.
    for user_id in UNKNOWN_USER_IDS:
        ts = START + timedelta(days=rng.randrange(20, 70), hours=rng.randrange(24))
        rows.append((user_id, rng.choice(item_ids), ts))
    # Training tables are rarely sorted; the join must keep this order anyway.
    rng.shuffle(rows)
    return [{"user_id": user_id, "item_id": item_id, "event_timestamp": ts,
             "label": churned(user_id, ts)} for user_id, item_id, ts in rows]


def make_cart_events(rng: random.Random, orders: list[dict],
                     items: list[Item]) -> list[dict]:
    """Add-to-cart clicks: one to three in the twenty minutes before each order (the
    order's own item among them), and now and then a cart that is never checked out."""
    events = []
    for order in orders:
        ts = order["order_ts"]
        listed = [item.item_id for item in items if item.listed_ts <= ts]
        for n in range(rng.randrange(1, 4)):
            item_id = order["item_id"] if n == 0 else rng.choice(listed)
            events.append({"user_id": order["user_id"], "item_id": item_id,
                           "quantity": rng.choices([1, 2, 3], weights=[8, 3, 1])[0],
                           "added_ts": ts - timedelta(seconds=rng.randrange(10, 1200))})
        if rng.random() < 0.3:
            abandoned = random_time_of_day(rng, ts.replace(hour=0, minute=0, second=0))
            events.append({"user_id": order["user_id"], "item_id": rng.choice(listed),
                           "quantity": 1, "added_ts": abandoned})
    # Rows of one user at one second are versions of one row to a windowed count (they
    # count once): clicks are a second apart at least.
    taken: set[tuple[int, datetime]] = set()
    for event in events:
        while (event["user_id"], event["added_ts"]) in taken:
            event["added_ts"] += timedelta(seconds=1)
        taken.add((event["user_id"], event["added_ts"]))
    events.sort(key=lambda e: (e["added_ts"], e["user_id"], e["item_id"]))
    return [e for e in events if START <= e["added_ts"] < END]


def write_csv(name: str, columns: list[str], rows: list[dict]) -> None:
    with open(DATA_DIR / name, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow([fmt(v) if isinstance(v, datetime) else
                             f"{v:.2f}" if isinstance(v, float) else v
                             for v in (row[c] for c in columns)])


def main() -> None:
    rng = random.Random(7)
    items = make_items(rng)
    users = make_users(rng)
    orders = make_orders(rng, users, items)
    reviews = make_reviews(rng, orders, items)
    entities = make_entities(rng, users, items, orders)

    write_csv("items.csv", ["item_id", "category", "listed_ts"],
              [{"item_id": i.item_id, "category": i.category, "listed_ts": i.listed_ts}
               for i in items])
    write_csv("orders.csv", ["order_id", "user_id", "item_id", "amount", "order_ts"], orders)
    write_csv("reviews.csv", ["review_id", "user_id", "item_id", "rating", "review_ts"], reviews)
    write_csv("entities.csv", ["user_id", "item_id", "event_timestamp", "label"], entities)
    # A second generator, so that adding the cart events left the other files as they were.
    carts = make_cart_events(random.Random(11), orders, items)
    write_csv("cart_events.csv", ["user_id", "item_id", "quantity", "added_ts"], carts)
    print(f"wrote {len(items)} items, {len(orders)} orders, {len(reviews)} reviews, "
          f"{len(carts)} cart events, {len(entities)} entity rows to {DATA_DIR}")


if __name__ == "__main__":
    main()
