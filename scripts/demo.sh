#!/usr/bin/env bash
# The example project end to end on the embedded defaults (DuckDB + SQLite):
# compile, run (build views + materialize), build a training set, read online values,
# then push real-time rows and read them back in a training set and online.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
FSQL=.venv/bin/fsql
show() { .venv/bin/python -c "import pandas as pd, sys; print(pd.read_parquet(sys.argv[1]).head(10).to_string())" "$1"; }
$FSQL compile
$FSQL run
$FSQL build-training-set --entities data/entities.csv --feature-service churn_model \
  --output target/training_set.parquet
show target/training_set.parquet
# The shipped history ends in March 2026: online, the sliding windows read 0 today.
$FSQL get-online --feature-service churn_model --entity user_id=7 --entity item_id=1003
# A real-time row for user 7's totals (offline push log + online store).
$FSQL push user_features data/push_user_features.csv
# User 7 is filling a cart right now: two add-to-cart clicks in the last few minutes.
NOW=$(date -u +"%Y-%m-%d %H:%M:%S")
{
  echo "user_id,event_timestamp,quantity"
  echo "7,$(date -u -d "$NOW UTC - 3 minutes" +"%Y-%m-%d %H:%M:%S"),2"
  echo "7,$(date -u -d "$NOW UTC - 1 minute" +"%Y-%m-%d %H:%M:%S"),1"
} > target/cart_clicks.csv
$FSQL push user_cart target/cart_clicks.csv
# checkout_model for the shipped requests plus one at NOW: the row at NOW counts the
# pushed clicks (cart_items_added_5m = 3), and so does the online read at NOW.
{ cat data/requests.csv; echo "7,$NOW,60.00"; } > target/requests_now.csv
$FSQL build-training-set --entities target/requests_now.csv --feature-service checkout_model \
  --output target/checkout.parquet
show target/checkout.parquet
$FSQL get-online --feature-service checkout_model --entity user_id=7 --entity cart_amount=60.0 \
  --now "$NOW"
