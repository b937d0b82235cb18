-- wrk script: POST /keys of new keys (post:<thread>:<counter>) with 100-byte values.
-- wrk -t2 -c64 -d10s --latency -s benches/server/post.lua http://127.0.0.1:8080
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("id", threads)
end
local counter = 0
local value = string.rep("v", 100)
local headers = { ["Content-Type"] = "application/json" }
function request()
  counter = counter + 1
  local body = string.format('{"key":"post:%d:%d","value":"%s"}', id, counter, value)
  return wrk.format("POST", "/keys", headers, body)
end
