#!/usr/bin/env bash
# Runs every reliability campaign (examples/campaign) for SECONDS each, one after another, at low
# priority, and prints their one-line summaries. Evidence goes to
# target/campaigns/<campaign>-<unix time>/ (summary.json, log.txt, failing cases). See
# RELIABILITY.md for the figures reached and the long-run commands.
#
#   scripts/campaigns.sh SECONDS [campaign...]
#   CAMPAIGN_PROFILE=debug scripts/campaigns.sh 5     # the CI smoke run (reuses the test build)
#
# The metamorphic campaign runs 100 operations per second of budget per run (at most 100,000).
# Exit status 1 if any campaign failed.
set -euo pipefail
cd "$(dirname "$0")/.."

SECS="${1:-10}"
shift || true
CAMPAIGNS=("$@")
if [ ${#CAMPAIGNS[@]} -eq 0 ]; then
    CAMPAIGNS=(crash power-loss io-error disk-full metamorphic corruption server)
fi
PROFILE="${CAMPAIGN_PROFILE:-release}"
if [ "$PROFILE" = release ]; then
    cargo build --quiet --release --example campaign --example stress
else
    cargo build --quiet --example campaign --example stress
fi
BIN="${CARGO_TARGET_DIR:-target}/$PROFILE/examples/campaign"
OPS=$((SECS * 100))
[ "$OPS" -gt 100000 ] && OPS=100000

# The evidence directory: a fresh clone has no target/campaigns yet.
mkdir -p target/campaigns
status=0
summaries=()
for c in "${CAMPAIGNS[@]}"; do
    out="target/campaigns/$c-$(date +%s)"
    extra=()
    [ "$c" = metamorphic ] && extra=(--ops "$OPS")
    echo "== campaign $c (${SECS}s, evidence $out)"
    if line=$(nice -n 19 "$BIN" "$c" --seconds "$SECS" --out "$out" "${extra[@]}" 2>"$out.stderr"); then
        :
    else
        status=1
    fi
    summaries+=("$line")
    echo "$line"
done
echo "== summary"
printf '%s\n' "${summaries[@]}"
exit $status
