-- Shared by every scenario (bench/wrk.py appends it to the scenario script): numbers each
-- thread, gives a wall clock, and prints wrk's summary as one JSON line that bench/wrk.py
-- parses. Latencies are in microseconds, as wrk records them.
local _threads = {}

local _ffi_ok, _ffi = pcall(require, "ffi")
if _ffi_ok then
  _ffi.cdef [[
    typedef struct { long tv_sec; long tv_usec; } bench_timeval;
    int gettimeofday(bench_timeval *tv, void *tz);
  ]]
  local tv = _ffi.new("bench_timeval")
  function bench_now()
    _ffi.C.gettimeofday(tv, nil)
    return tonumber(tv.tv_sec) + tonumber(tv.tv_usec) * 1e-6
  end
else
  bench_now = os.time
end

function setup(thread)
  table.insert(_threads, thread)
  thread:set("tid", #_threads)
end

function done(summary, latency, requests)
  local ok, bad, started = 0, 0, 0
  for _, thread in ipairs(_threads) do
    ok = ok + (thread:get("ok") or 0)
    bad = bad + (thread:get("bad") or 0)
    local s = thread:get("started")
    if s ~= nil and (started == 0 or s < started) then started = s end
  end
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"min":%d,"mean":%.1f,"p50":%d,"p90":%d,"p99":%d,"p999":%d,"max":%d},' ..
    '"ok":%d,"bad":%d,"started":%.6f}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.min, latency.mean, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency:percentile(99.9), latency.max,
    ok, bad, started))
end
