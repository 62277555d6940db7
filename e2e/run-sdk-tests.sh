#!/usr/bin/env bash
# Run the real-SDK end-to-end tests (e2e/sdk) against a debug build of airlock.
#
#   e2e/run-sdk-tests.sh [extra pytest args, e.g. -k stream -x]
#
# Environment:
#   AIRLOCK_BIN    the binary (default ${CARGO_TARGET_DIR:-$HOME/.cache/airlock-target}/debug/airlock)
#   AIRLOCK_VENV   the virtualenv to create or reuse (default $HOME/.cache/airlock-venv)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"

AIRLOCK_BIN="${AIRLOCK_BIN:-${CARGO_TARGET_DIR:-$HOME/.cache/airlock-target}/debug/airlock}"
AIRLOCK_VENV="${AIRLOCK_VENV:-$HOME/.cache/airlock-venv}"

if [[ ! -x "$AIRLOCK_BIN" ]]; then
    echo "run-sdk-tests: airlock binary not found or not executable at: $AIRLOCK_BIN" >&2
    echo "run-sdk-tests: build it with 'cargo build -p airlock', or set AIRLOCK_BIN" >&2
    exit 1
fi
# The fixture runs the binary from a temp dir: make the path absolute.
AIRLOCK_BIN="$(cd "$(dirname "$AIRLOCK_BIN")" && pwd)/$(basename "$AIRLOCK_BIN")"
export AIRLOCK_BIN

# shellcheck source=e2e/venv.sh
source "$here/venv.sh"
airlock_venv_setup run-sdk-tests

set +e
"$AIRLOCK_VENV/bin/python" -m pytest -q "$root/e2e/sdk" "$@"
rc=$?
set -e

if [[ $rc -eq 5 ]]; then
    echo "run-sdk-tests: pytest collected no tests; treating that as a failure" >&2
    exit 1
fi
exit $rc
