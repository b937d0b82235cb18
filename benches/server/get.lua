-- wrk script: GET of existing keys bench:000000 .. bench:(KEYS-1), loaded by preload.sh.
-- wrk -t2 -c64 -d10s --latency -s benches/server/get.lua http://127.0.0.1:8080
local n = tonumber(os.getenv("KEYS") or "100000")
request = function()
  return wrk.format("GET", string.format("/keys/bench:%06d", math.random(0, n - 1)))
end
