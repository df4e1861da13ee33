#!/usr/bin/env bash
# Create .venv (once) and install fsql into it with the given extras, e.g. "test".
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
  .venv/bin/python -m pip install --quiet --upgrade pip
fi
extras="${1:-}"
spec="."
if [ -n "$extras" ]; then spec=".[$extras]"; fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e "$spec"
