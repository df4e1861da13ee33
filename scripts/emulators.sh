#!/usr/bin/env bash
# Install, each in a venv of its own (once), what the tests use beside fsql itself:
# - crucible-emulator (BigQuery's REST API over DuckDB), which pins duckdb 1.5.6, so it
#   cannot share .venv (duckdb 2.0). Tests that need it skip when .venvs/crucible is missing.
# - Feast's Python SDK, the client of the feature-server tests (`fsql serve` answering
#   Feast's own `remote` online store). Those tests skip when .venvs/feast is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
CRUCIBLE_SPEC="crucible-emulator[server]==0.1.0a2"  # `crucible serve` needs the [server] extra
FEAST_SPEC="feast==0.67.0"

# install VENV SPEC CHECK...: a venv holding SPEC, unless CHECK already succeeds in it.
# A half-made venv would look installed to the tests: it is removed unless every step works.
install() {
  local venv=$1 spec=$2
  shift 2
  if [ -x "$venv/bin/python" ] && "$@" >/dev/null 2>&1; then
    return 0
  fi
  rm -rf "$venv"
  mkdir -p .venvs
  if ! { "$PY" -m venv "$venv" \
    && "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$spec" \
    && "$@" >/dev/null; }; then
    rm -rf "$venv"
    echo "emulators: could not install $spec" >&2
    return 1
  fi
  echo "emulators: $spec installed in $venv"
}

install .venvs/crucible "$CRUCIBLE_SPEC" .venvs/crucible/bin/crucible serve --help
install .venvs/feast "$FEAST_SPEC" .venvs/feast/bin/python -c "import feast, sys; sys.exit(feast.__version__ != '0.67.0')"
