#!/usr/bin/env bash
# Runs every test Airlock has: unit and integration tests on SQLite, the same
# again on PostgreSQL (DATABASE_URL, default the local server; unreachable = fail),
# then the end-to-end tests with the official openai and anthropic Python SDKs.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/airlock-target}"
pg_url="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"

echo "== tests on SQLite"
env -u DATABASE_URL cargo test --workspace

echo "== tests on PostgreSQL"
DATABASE_URL="$pg_url" cargo test --workspace

echo "== end-to-end tests with the official SDKs"
cargo build -p airlock
bash e2e/run-sdk-tests.sh
