#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each, one after another (one core), with cargo-fuzz on
# nightly (AddressSanitizer). Seeds come from fuzz/seeds/<target>; the growing corpus is kept in
# fuzz/corpus/<target> (git-ignored); crashes land in fuzz/artifacts/<target>.
#
#   scripts/fuzz.sh 60                 # every target, 60 s each
#   scripts/fuzz.sh 600 sst_open       # one target
#   FUZZ_BUILD_ONLY=1 scripts/fuzz.sh  # build the targets only (CI without time)
#
# A crash: copy the artifact to fuzz/regressions/<target>/ (tests/fuzz_regressions.rs replays it
# in `cargo test`), and report it. Exit status is non-zero if any target found a crash.
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_PER_TARGET="${1:-60}"
shift || true
TARGETS=("$@")
if [ ${#TARGETS[@]} -eq 0 ]; then
    TARGETS=(wal_read sst_open block_decode footer_index manifest_read batch_decode roundtrip ops_model)
fi

if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "fuzz.sh: needs nightly and cargo-fuzz (rustup toolchain install nightly; cargo install cargo-fuzz)" >&2
    exit 2
fi

# Keep the (AddressSanitizer) fuzz build apart from the normal one.
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-${CARGO_TARGET_DIR:-fuzz/target}/fuzz}"
for t in "${TARGETS[@]}"; do
    cargo +nightly fuzz build "$t"
done
if [ -n "${FUZZ_BUILD_ONLY:-}" ]; then
    exit 0
fi

status=0
for t in "${TARGETS[@]}"; do
    mkdir -p "fuzz/corpus/$t" "fuzz/seeds/$t"
    # ops_model opens a database per input: give it more time per input and less memory churn.
    timeout_s=10
    [ "$t" = ops_model ] && timeout_s=30
    echo "=== $t: ${SECONDS_PER_TARGET}s"
    start=$(date +%s)
    if cargo +nightly fuzz run "$t" "fuzz/corpus/$t" "fuzz/seeds/$t" -- \
        -max_total_time="$SECONDS_PER_TARGET" -timeout="$timeout_s" -rss_limit_mb=2048 \
        -max_len=65536 -print_final_stats=1 >"fuzz/last-$t.log" 2>&1; then
        result=ok
    else
        result=CRASH
        status=1
    fi
    runs=$(grep -E '^stat::number_of_executed_units' "fuzz/last-$t.log" | awk '{print $2}' || true)
    echo "$t: $result after $(( $(date +%s) - start ))s, ${runs:-?} executions (log: fuzz/last-$t.log)"
done
exit $status
