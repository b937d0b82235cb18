#!/usr/bin/env bash
# Sums fuzz/ledger.csv (written by scripts/fuzz.sh) per target: CPU hours, executions, crashes,
# runs, and the first and last commit fuzzed.
#
#   scripts/fuzz_ledger.sh [LEDGER]
set -euo pipefail
cd "$(dirname "$0")/.."
LEDGER="${1:-fuzz/ledger.csv}"
[ -f "$LEDGER" ] || { echo "fuzz_ledger.sh: no $LEDGER yet (run scripts/fuzz.sh)" >&2; exit 2; }
awk -F, 'NR > 1 {
    cpu[$3] += $4; execs[$3] += $5; crashes[$3] += $6; runs[$3]++
    if (!($3 in first)) first[$3] = $2
    last[$3] = $2
}
END {
    printf "%-18s %10s %14s %8s %5s  %s\n", "target", "cpu_hours", "execs", "crashes", "runs", "commits"
    for (t in cpu)
        printf "%-18s %10.3f %14d %8d %5d  %s..%s\n", t, cpu[t] / 3600, execs[t], crashes[t], runs[t], first[t], last[t]
}' "$LEDGER" | sort
