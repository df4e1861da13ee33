#!/usr/bin/env bash
# Install fsql with its test tools into .venv, lint and type-check, and run the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh test
.venv/bin/ruff check fsql tests
.venv/bin/mypy  # settings and files in pyproject.toml [tool.mypy]
.venv/bin/python -m pytest "$@"
