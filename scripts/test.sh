#!/usr/bin/env bash
# Installs everything the test suite needs into two virtualenvs and runs it.
#   .venv         the project (editable) + cassandra-driver + PyPI cqlsh + pytest/hypothesis/mypy/ruff
#   .venv-scylla  scylla-driver + scylla-cqlsh (they install the same `cassandra` module, so they
#                 cannot share .venv); tests drive them as subprocesses.
# Extra arguments are passed to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'
[ -x .venv-scylla/bin/python ] || "$PY" -m venv .venv-scylla
.venv-scylla/bin/python -m pip install -q --disable-pip-version-check -r tests/requirements-scylla.txt
exec .venv/bin/python -m pytest "$@"
