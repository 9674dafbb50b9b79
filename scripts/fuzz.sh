#!/usr/bin/env bash
# Bounded fuzzing of the input parsers (not part of CI).
#
# 1. Always: the proptest-based long run on the stable toolchain
#    (tests/fuzz_parsers.rs), PROPTEST_CASES inputs per target (default
#    200000). Prints "fuzz <target>: N inputs, no crash" per target.
# 2. If cargo-fuzz is installed: each libFuzzer target in fuzz/ for
#    FUZZ_SECONDS (default 60). cargo-fuzz needs nightly; on a stable-only
#    machine set FUZZ_BOOTSTRAP=1 to build with RUSTC_BOOTSTRAP=1 (unsupported
#    by Rust, fine for a throwaway fuzz build), with no sanitizer.
set -euo pipefail
cd "$(dirname "$0")/.."
export PROPTEST_CASES="${PROPTEST_CASES:-200000}"
cargo test --release --test fuzz_parsers -- --ignored --nocapture

if command -v cargo-fuzz >/dev/null; then
    seconds="${FUZZ_SECONDS:-60}"
    extra=()
    if [[ "${FUZZ_BOOTSTRAP:-0}" == 1 ]]; then
        export RUSTC_BOOTSTRAP=1
        extra=(--sanitizer none)
    fi
    cd fuzz
    for target in config_yaml window_time error_type; do
        cargo fuzz run "${extra[@]}" -O "$target" -- -max_total_time="$seconds" 2>&1 |
            grep -E '^(Done|==|SUMMARY)|#[0-9]+\s+DONE' || true
    done
fi
