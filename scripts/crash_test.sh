#!/usr/bin/env bash
# Crash test: runs examples/stress.rs under repeated SIGKILL for SECONDS seconds. Each restart
# first verifies every key of the database against the expected state kept beside it (see the
# doc comment of examples/stress.rs); any mismatch stops the test with a non-zero exit status.
#
#   scripts/crash_test.sh SECONDS [WORK_DIR] [extra stress flags, e.g. --sync always --threads 8]
#
# Uses a debug build unless STRESS_PROFILE=release.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${1:-60}"
WORK="${2:-$(mktemp -d /tmp/lsmkv-crash.XXXXXX)}"
shift 2 || shift $# || true
EXTRA=("$@")
PROFILE="${STRESS_PROFILE:-debug}"

if [ "$PROFILE" = release ]; then
    cargo build --quiet --release --example stress
else
    cargo build --quiet --example stress
fi
BIN="${CARGO_TARGET_DIR:-target}/$PROFILE/examples/stress"
DB="$WORK/db"
mkdir -p "$WORK"
echo "crash_test: ${DURATION}s, database $DB, logs $WORK/round-*.log"

start=$SECONDS
rounds=0
kills=0
while [ $((SECONDS - start)) -lt "$DURATION" ]; do
    rounds=$((rounds + 1))
    log="$WORK/round-$rounds.log"
    "$BIN" --dir "$DB" --seconds 3600 "${EXTRA[@]}" >"$log" 2>&1 &
    pid=$!
    # Kill after 0.5 .. 4 s of work (after the verification at start, which is not timed).
    sleep "$(awk -v r="$RANDOM" 'BEGIN { printf "%.2f", 0.5 + (r % 350) / 100 }')"
    while ! grep -q "stress: seed" "$log" && kill -0 "$pid" 2>/dev/null; do
        sleep 0.2
    done
    if kill -0 "$pid" 2>/dev/null; then
        kill -9 "$pid"
        kills=$((kills + 1))
        wait "$pid" 2>/dev/null || true
    else
        # It ended on its own: only a failure does that.
        status=0
        wait "$pid" || status=$?
        echo "crash_test: round $rounds: stress exited with status $status:" >&2
        cat "$log" >&2
        exit 1
    fi
    grep -h "verified" "$log" | sed "s/^/round $rounds: /" || true
done
rounds=$((rounds + 1))
if ! "$BIN" --dir "$DB" --verify-only "${EXTRA[@]}" >"$WORK/final.log" 2>&1; then
    echo "crash_test: final verification FAILED:" >&2
    cat "$WORK/final.log" >&2
    exit 1
fi
cat "$WORK/final.log"
echo "crash_test: OK: $kills SIGKILLs, $rounds verifications in $((SECONDS - start))s"
