#!/usr/bin/env bash
# Install fsql with its test tools into .venv, lint and type-check, and run the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh test
.venv/bin/ruff check fsql tests
.venv/bin/mypy  # settings and files in pyproject.toml [tool.mypy]
# One worker per core (at most four): every test keeps to its own files, Redis keys, warehouse
# schema and emulator session, so they run side by side. `-n 0` runs them in this process.
.venv/bin/python -m pytest -n auto --maxprocesses=4 "$@"
