#!/usr/bin/env bash
# Runs every test Airlock has: unit and integration tests on SQLite, the same
# again on PostgreSQL (DATABASE_URL, default the local server; unreachable = fail),
# with Redis-backed limits shared by two relay processes (REDIS_URL, default the
# local server), a bounded fuzzing run of the request parser and the redactor,
# then the end-to-end tests with the official openai and anthropic Python SDKs, and
# the browser tests of the console (Playwright driving Debian's Chromium).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/airlock-target}"
pg_url="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379}"

echo "== tests on SQLite"
env -u DATABASE_URL cargo test --workspace

echo "== tests on PostgreSQL"
DATABASE_URL="$pg_url" cargo test --workspace

echo "== fuzzing (bounded)"
FUZZ_SECONDS="${FUZZ_SECONDS:-30}" bash scripts/fuzz.sh

echo "== end-to-end tests with the official SDKs"
cargo build -p airlock
bash e2e/run-sdk-tests.sh

echo "== browser tests of the console"
bash e2e/run-console-tests.sh
