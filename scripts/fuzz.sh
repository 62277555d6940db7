#!/usr/bin/env bash
# Runs each cargo-fuzz target for a bounded time (FUZZ_SECONDS each, default 60):
# the relay's request parser (both front-ends) and the PII/secret redactor.
# Works on stable Rust: `-s none` builds with coverage instrumentation but without
# a sanitizer (which would need nightly). A crash fails the run and leaves the
# input under fuzz/artifacts/.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds="${FUZZ_SECONDS:-60}"
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-$HOME/.cache/airlock-fuzz-target}"
if ! command -v cargo-fuzz >/dev/null; then
    cargo install cargo-fuzz --locked --version 0.13.2
fi
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
for target in request_parser redactor; do
    echo "== fuzzing $target for ${seconds}s"
    status=0
    cargo fuzz run -s none -O "$target" -- \
        -max_total_time="$seconds" -max_len=8192 -print_final_stats=1 >"$log" 2>&1 || status=$?
    grep -E "^stat::(number_of_executed_units|peak_rss_mb)" "$log" || true
    if [ "$status" -ne 0 ]; then
        tail -n 60 "$log"
        echo "fuzz target $target failed (exit $status); the input is under fuzz/artifacts/$target/" >&2
        exit "$status"
    fi
done
