#!/usr/bin/env bash
# Regenerate tests/fixtures/ (tiny random-weight checkpoints + Hugging Face
# reference outputs).  See tests/fixtures/README.md.
#
#   bash models/make_fixtures.sh
#
# By default a venv is created at build/venv-fixtures from
# models/requirements-fixtures.txt (needs PyPI once).  To use an existing
# Python that already has exactly those packages:
#
#   ENCORE_FIXTURE_PYTHON=/path/to/python bash models/make_fixtures.sh
#
# Nothing is downloaded from the Hugging Face Hub: the script runs offline.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

REQS="models/requirements-fixtures.txt"
VENV="build/venv-fixtures"

if [[ -n "${ENCORE_FIXTURE_PYTHON:-}" ]]; then
    PY="$ENCORE_FIXTURE_PYTHON"
else
    PY="$VENV/bin/python"
    STAMP="$VENV/.requirements-fixtures.txt"
    if [[ ! -x "$PY" ]] || ! cmp -s "$REQS" "$STAMP"; then
        echo "make_fixtures: creating $VENV from $REQS" >&2
        rm -rf "$VENV"
        mkdir -p build
        "${PYTHON:-python3}" -m venv "$VENV"
        "$VENV/bin/python" -m pip install --upgrade pip >/dev/null
        "$VENV/bin/python" -m pip install -r "$REQS"
        cp "$REQS" "$STAMP"
    fi
fi

# Check the interpreter has the pinned versions (warn only: the fixtures
# record the versions that produced them).
"$PY" - "$REQS" <<'PYEOF' || true
import sys
from importlib.metadata import version, PackageNotFoundError
bad = []
for line in open(sys.argv[1]):
    line = line.split("#")[0].strip()
    if not line or "==" not in line:
        continue
    name, want = line.split("==")
    try:
        have = version(name)
    except PackageNotFoundError:
        have = None
    if have is None or have.split("+")[0] != want:
        bad.append(f"{name}: want {want}, have {have}")
if bad:
    print("make_fixtures: WARNING: not the pinned versions:\n  " + "\n  ".join(bad), file=sys.stderr)
PYEOF

export HF_HUB_OFFLINE=1
export TRANSFORMERS_OFFLINE=1
export HF_DATASETS_OFFLINE=1
export HF_HUB_DISABLE_TELEMETRY=1
export TOKENIZERS_PARALLELISM=false
export PYTHONHASHSEED=0
# keep any Hub cache out of the user's home and away from real models
export HF_HOME="$ROOT/build/hf-home-fixtures"

exec "$PY" models/make_fixtures.py "$@"
