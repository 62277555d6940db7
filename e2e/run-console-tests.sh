#!/usr/bin/env bash
# Run the browser end-to-end tests of the console (e2e/console) against a debug
# build of airlock: Playwright (playwright-core from npm) drives Debian's Chromium.
#
#   e2e/run-console-tests.sh [extra node --test args, e.g. --test-reporter=tap]
#
# Environment:
#   AIRLOCK_BIN       the binary (default ${CARGO_TARGET_DIR:-$HOME/.cache/airlock-target}/debug/airlock)
#   AIRLOCK_VENV      the virtualenv to create or reuse (default $HOME/.cache/airlock-venv)
#   AIRLOCK_CHROMIUM  the browser (default /usr/bin/chromium, apt-get installed if missing)
# Screenshots go to e2e/screenshots/ (cleared at the start of every run).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

AIRLOCK_BIN="${AIRLOCK_BIN:-${CARGO_TARGET_DIR:-$HOME/.cache/airlock-target}/debug/airlock}"
AIRLOCK_VENV="${AIRLOCK_VENV:-$HOME/.cache/airlock-venv}"
export AIRLOCK_VENV

if [[ ! -x "$AIRLOCK_BIN" ]]; then
    echo "run-console-tests: airlock binary not found or not executable at: $AIRLOCK_BIN" >&2
    echo "run-console-tests: build it with 'cargo build -p airlock', or set AIRLOCK_BIN" >&2
    exit 1
fi
# The test runs the binary from a temp dir: make the path absolute.
AIRLOCK_BIN="$(cd "$(dirname "$AIRLOCK_BIN")" && pwd)/$(basename "$AIRLOCK_BIN")"
export AIRLOCK_BIN

# Debian's Chromium (Playwright's own browser download does not work here).
if [[ -z "${AIRLOCK_CHROMIUM:-}" && ! -x /usr/bin/chromium ]]; then
    echo "run-console-tests: installing chromium with apt-get" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
fi

# playwright-core, exactly as package-lock.json pins it.
(
    cd "$here/console"
    if [[ -f package-lock.json ]]; then
        npm ci --no-audit --no-fund
    else
        npm install --no-audit --no-fund
    fi
)

# The venv with the official openai SDK, for relay_call.py.
# shellcheck source=e2e/venv.sh
source "$here/venv.sh"
airlock_venv_setup run-console-tests

# node --test passes when it finds no test file at all; that must not look like success.
if ! compgen -G "$here/console/*.test.mjs" >/dev/null; then
    echo "run-console-tests: no *.test.mjs in $here/console; treating that as a failure" >&2
    exit 1
fi
node --test "$@" "$here/console/"
