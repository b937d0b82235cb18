#!/usr/bin/env bash
# Fuzzes each target until fuzz/ledger.csv records at least GOAL CPU seconds for it: runs
# scripts/fuzz.sh in chunks of at most CHUNK wall seconds (default 900) and re-reads the ledger
# after each, so a run that shares its core (or is stopped between chunks) still reaches the CPU
# time asked for. A target that records a crash stops the loop for that target.
#
#   scripts/fuzz_until.sh 3600                 # every target to one CPU-hour
#   scripts/fuzz_until.sh 3600 wal_read sst_open
#   FUZZ_CHUNK=600 scripts/fuzz_until.sh 3600 roundtrip
#
# The loop lowers its scheduling group's priority (see FUZZ_AUTOGROUP_NICE below): it is meant to
# run for hours beside other work, e.g. `setsid taskset -c 0 nice -n 19 scripts/fuzz_until.sh ...`.
set -euo pipefail
cd "$(dirname "$0")/.."

GOAL="${1:?usage: scripts/fuzz_until.sh GOAL_CPU_SECONDS [target...]}"
shift
TARGETS=("$@")
if [ ${#TARGETS[@]} -eq 0 ]; then
    TARGETS=(wal_read sst_open block_decode footer_index manifest_read batch_decode range_del_decode roundtrip ops_model io_countdown)
fi
CHUNK="${FUZZ_CHUNK:-900}"

# Background work: with autogroup scheduling (Linux's default for desktop and many VM kernels),
# `nice` acts only inside the session's group, and a fuzzer started in a session of its own
# (setsid, nohup from another terminal) takes an equal share of a core from everything else:
# benchmarks run beside it lost half their throughput. The group's own nice value fixes that.
# FUZZ_AUTOGROUP_NICE= (empty) leaves it alone.
if [ -n "${FUZZ_AUTOGROUP_NICE-19}" ] && [ -w /proc/self/autogroup ]; then
    echo "${FUZZ_AUTOGROUP_NICE-19}" > /proc/self/autogroup 2>/dev/null || true
fi
LEDGER="${FUZZ_LEDGER:-fuzz/ledger.csv}"

spent() {
    [ -f "$LEDGER" ] || { echo 0; return; }
    awk -F, -v t="$1" 'NR > 1 && $3 == t { s += $4 } END { printf "%d", s + 0 }' "$LEDGER"
}

status=0
for t in "${TARGETS[@]}"; do
    while :; do
        done_s=$(spent "$t")
        left=$((GOAL - done_s))
        if [ "$left" -le 0 ]; then
            echo "fuzz_until.sh: $t has ${done_s}s CPU recorded (goal ${GOAL}s)"
            break
        fi
        run=$((left < CHUNK ? left : CHUNK))
        # Never ask for less than a minute: libFuzzer's start-up would dominate.
        [ "$run" -lt 60 ] && run=60
        if ! scripts/fuzz.sh "$run" "$t"; then
            echo "fuzz_until.sh: $t found a crash; see fuzz/artifacts/$t" >&2
            status=1
            break
        fi
    done
done
exit $status
