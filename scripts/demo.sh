#!/usr/bin/env bash
# The example project end to end on the embedded defaults (DuckDB + SQLite):
# compile, run (build views + materialize), build a training set, read online values.
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
