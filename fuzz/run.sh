#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 30) on nightly; fails on any crash or
# failed property. Usage: fuzz/run.sh [SECONDS]   (from anywhere; CI calls it)
# A target's output is kept in fuzz/TARGET.log; a failing input in fuzz/artifacts/TARGET/.
set -euo pipefail

seconds="${1:-30}"
cd "$(dirname "$0")/.."

rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

cargo +nightly fuzz build
status=0
for target in $(cargo +nightly fuzz list); do
    corpus="fuzz/corpus/$target"
    log="fuzz/$target.log"
    mkdir -p "$corpus"
    dict=()
    if [[ -f "fuzz/dict/$target.dict" ]]; then
        dict=("-dict=fuzz/dict/$target.dict")
    fi
    echo "== $target: ${seconds}s"
    if cargo +nightly fuzz run "$target" "$corpus" -- \
        -max_total_time="$seconds" "${dict[@]}" >"$log" 2>&1; then
        grep -E '^#[0-9]+[[:space:]]+DONE|^Done' "$log" || true
    else
        tail -n 40 "$log"
        echo "FAIL: $target (full output in $log, input in fuzz/artifacts/$target/)"
        status=1
    fi
done
exit "$status"
