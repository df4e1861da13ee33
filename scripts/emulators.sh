#!/usr/bin/env bash
# Install the local warehouse emulators the tests use, each in a venv of its own (once).
# crucible-emulator (BigQuery REST API over DuckDB) pins duckdb 1.5.6, so it cannot share
# .venv (duckdb 2.0). Tests that need it skip when .venvs/crucible is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
CRUCIBLE_SPEC="crucible-emulator[server]==0.1.0a2"  # `crucible serve` needs the [server] extra
venv=.venvs/crucible
if [ -x "$venv/bin/crucible" ] && "$venv/bin/python" -c "import crucible, uvicorn" 2>/dev/null; then
  exit 0
fi
rm -rf "$venv"
mkdir -p .venvs
# A half-made venv would look installed to the tests: remove it unless every step succeeds.
if ! { "$PY" -m venv "$venv" \
  && "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$CRUCIBLE_SPEC" \
  && "$venv/bin/crucible" serve --help >/dev/null; }; then
  rm -rf "$venv"
  echo "emulators: could not install $CRUCIBLE_SPEC" >&2
  exit 1
fi
echo "emulators: crucible-emulator installed in $venv"
