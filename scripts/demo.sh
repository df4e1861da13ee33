#!/usr/bin/env bash
# The example project end to end on the embedded defaults (DuckDB + SQLite):
# compile, run (build views + materialize), build a training set, read online values,
# then push a real-time row and use an on-demand feature offline and online.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
FSQL=.venv/bin/fsql
$FSQL compile
$FSQL run
$FSQL build-training-set --entities data/entities.csv --feature-service churn_model \
  --output target/training_set.parquet
.venv/bin/python -c "import pandas as pd; print(pd.read_parquet('target/training_set.parquet').head(10).to_string())"
$FSQL get-online --feature-service churn_model --entity user_id=7 --entity item_id=1003
# A real-time row for user 7 (offline push log + online store), then the on-demand
# feature cart_share_of_ltv, computed from each request's cart_amount: the request at
# 2026-04-02 sees the pushed lifetime value, in the training set and online alike.
$FSQL push user_features data/push_user_features.csv
$FSQL build-training-set --entities data/requests.csv \
  --features user_features:user_lifetime_value,cart_share_of_ltv --output target/cart_requests.parquet
.venv/bin/python -c "import pandas as pd; print(pd.read_parquet('target/cart_requests.parquet').to_string())"
$FSQL get-online --features user_features:user_lifetime_value,cart_share_of_ltv \
  --entity user_id=7 --entity cart_amount=60.0
