#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each, one after another (one core), with cargo-fuzz on
# nightly (AddressSanitizer). Seeds come from fuzz/seeds/<target>; the growing corpus is kept in
# fuzz/corpus/<target> (git-ignored: it grows to megabytes; each machine keeps its own, and the
# seeds in git restart it); crashes land in fuzz/artifacts/<target>. Each run appends one line per
# target to fuzz/ledger.csv (date, commit, target, cpu_seconds, execs, crashes), so the CPU time
# spent on each target adds up across runs and machines (scripts/fuzz_ledger.sh sums it).
#
#   scripts/fuzz.sh 60                 # every target, 60 s each
#   scripts/fuzz.sh 600 sst_open       # one target
#   FUZZ_BUILD_ONLY=1 scripts/fuzz.sh  # build the targets only (CI without time)
#   FUZZ_LEDGER=FILE scripts/fuzz.sh 10 # record the run in FILE instead of fuzz/ledger.csv
#
# Do not pause a run (SIGSTOP, a suspended VM): libFuzzer's -timeout is wall-clock time, so the
# unit running at the time is written out as a timeout. Replay such an artifact
# (fuzz/target/fuzz/x86_64-unknown-linux-gnu/release/<target> <file>) before calling it a hang.
#
# A crash: copy the artifact to fuzz/regressions/<target>/ (tests/fuzz_regressions.rs replays it
# in `cargo test`), and report it. Exit status is non-zero if any target found a crash.
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_PER_TARGET="${1:-60}"
# FUZZ_LEDGER: where the CPU-time ledger goes (CI's smoke run keeps it out of fuzz/ledger.csv).
LEDGER="${FUZZ_LEDGER:-fuzz/ledger.csv}"
shift || true
TARGETS=("$@")
if [ ${#TARGETS[@]} -eq 0 ]; then
    TARGETS=(wal_read sst_open block_decode footer_index manifest_read batch_decode range_del_decode roundtrip ops_model io_countdown)
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
    # ops_model and io_countdown open databases per input: more time per input.
    timeout_s=10
    case "$t" in ops_model | io_countdown) timeout_s=30 ;; esac
    echo "=== $t: ${SECONDS_PER_TARGET}s"
    start=$(date +%s)
    crashes=0
    # /usr/bin/time measures the CPU time of the fuzzer (user + system), for the ledger.
    # Log and time files carry the process id while the fuzzer runs: two runs of one target at
    # once (one loop per core) each read their own execution count. The log then becomes
    # fuzz/last-<target>.log (the last run to end wins).
    log="fuzz/last-$t.$$.log"
    tfile="fuzz/last-$t.$$.time"
    if /usr/bin/time -f "%U %S" -o "$tfile" \
        cargo +nightly fuzz run "$t" "fuzz/corpus/$t" "fuzz/seeds/$t" -- \
        -max_total_time="$SECONDS_PER_TARGET" -timeout="$timeout_s" -rss_limit_mb=2048 \
        -max_len=65536 -print_final_stats=1 >"$log" 2>&1; then
        result=ok
    else
        result=CRASH
        crashes=1
        status=1
    fi
    runs=$(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}' || true)
    cpu=$(awk 'END { printf "%.0f", $1 + $2 }' "$tfile" 2>/dev/null || echo 0)
    rm -f "$tfile"
    mv -f "$log" "fuzz/last-$t.log"
    log="fuzz/last-$t.log"
    [ -f "$LEDGER" ] || echo "date,commit,target,cpu_seconds,execs,crashes" >"$LEDGER"
    echo "$(date -u +%Y-%m-%dT%H:%M:%SZ),$(git rev-parse --short HEAD),$t,$cpu,${runs:-0},$crashes" >>"$LEDGER"
    echo "$t: $result after $(( $(date +%s) - start ))s (${cpu}s CPU), ${runs:-?} executions (log: $log)"
done
exit $status
