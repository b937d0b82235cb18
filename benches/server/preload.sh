#!/usr/bin/env bash
# Loads KEYS (default 100000) keys bench:000000.. with 100-byte values through POST /keys/batch.
# Usage: benches/server/preload.sh http://127.0.0.1:8080
set -euo pipefail
url=${1:-http://127.0.0.1:8080}
keys=${KEYS:-100000}
awk -v n="$keys" 'BEGIN {
  v = sprintf("%100s", ""); gsub(/ /, "v", v);
  for (b = 0; b < n; b += 1000) {
    line = "[";
    for (i = b; i < b + 1000 && i < n; i++) {
      line = line (i > b ? "," : "") sprintf("{\"key\":\"bench:%06d\",\"value\":\"%s\"}", i, v);
    }
    print line "]";
  }
}' | while IFS= read -r batch; do
  printf "%s" "$batch" | curl -sf -o /dev/null -H "Content-Type: application/json" --data-binary @- "$url/keys/batch"
done
echo "loaded $keys keys"
