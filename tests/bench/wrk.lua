-- wrk script of the read and create benchmarks (tests/bench/bench.py).
-- Environment:
--   BENCH_METHOD  GET or POST (default GET)
--   BENCH_PATHS   comma-separated request paths, used round robin
--   BENCH_KEY     API key sent as Authorization: Bearer (none when empty)
--   BENCH_BODY    request body (JSON) for POST
-- done() prints one line "BENCHJSON {...}" with the figures bench.py reads.

local method = os.getenv("BENCH_METHOD") or "GET"
local key = os.getenv("BENCH_KEY") or ""
local body = os.getenv("BENCH_BODY")
local paths = {}
for p in string.gmatch(os.getenv("BENCH_PATHS") or "/", "[^,]+") do
  paths[#paths + 1] = p
end

-- wrk.host is not known yet while the script loads: name the host here.
local headers = {["Host"] = "127.0.0.1"}
if key ~= "" then
  headers["Authorization"] = "Bearer " .. key
end
if body ~= nil and body ~= "" then
  headers["Content-Type"] = "application/json"
else
  body = nil
end

-- Pre-format every request once; request() only picks the next one.
local reqs = {}
for i, p in ipairs(paths) do
  reqs[i] = wrk.format(method, p, headers, body)
end
local n = 0

function init(args)
  -- Threads start at different offsets of the path list.
  n = math.random(#reqs) - 1
end

function request()
  n = n + 1
  return reqs[(n % #reqs) + 1]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCHJSON {"requests":%d,"duration_us":%d,"bytes":%d,"p50_us":%d,"p90_us":%d,' ..
    '"p99_us":%d,"max_us":%d,"mean_us":%.1f,"status_errors":%d,"connect_errors":%d,' ..
    '"read_errors":%d,"write_errors":%d,"timeouts":%d}\n',
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean, e.status, e.connect, e.read, e.write, e.timeout))
end
