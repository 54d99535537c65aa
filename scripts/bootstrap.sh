# Sourced by scripts/demo and scripts/test: make .venv with the provider and its test tools.
# Idempotent: it reinstalls only when pyproject.toml or the constraints change.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${BLIP_VENV:-$ROOT/.venv}"
PYTHON="${PYTHON:-python3}"

if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "airflow-provider-blip needs Python >= 3.11 (found $("$PYTHON" --version 2>&1)); set PYTHON=..." >&2
  exit 1
fi
stamp="$VENV/.installed-$(cat "$ROOT/pyproject.toml" "$ROOT/emulator/pyproject.toml" "$ROOT/constraints.txt" | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "Setting up $VENV (Airflow and the provider; about a minute the first time)..." >&2
  [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
  # Airflow asks to be installed with a constraints file; ours pins the set we test with.
  # The emulator is its own distribution (emulator/): the provider's wheel ships no test server.
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
    -c "$ROOT/constraints.txt" -e "$ROOT/emulator" -e "$ROOT[test,parquet,s3]" 2> >(grep -v "^WARNING: Location" >&2)
  rm -f "$VENV"/.installed-*
  touch "$stamp"
fi
export PATH="$VENV/bin:$PATH"
cd "$ROOT"
