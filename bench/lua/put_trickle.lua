-- A trickle of saves spread over many flows: PUT new content to a random flow, then wait.
-- args: token, ids file, path prefix, body template file (one @@N@@ placeholder), delay ms.
-- Each connection sends one request at a time and waits `delay` ms after each answer, so
-- the rate is about connections / (delay + latency).
local ids = {}
local prefix, body_prefix, body_suffix, pause
local n = 0
ok, bad, started = 0, 0, nil -- read by done() through thread:get

function init(args)
  wrk.method = "PUT"
  wrk.headers["Authorization"] = "Bearer " .. args[1]
  wrk.headers["Content-Type"] = "application/json"
  for line in io.lines(args[2]) do
    if line ~= "" then ids[#ids + 1] = line end
  end
  prefix = args[3]
  local file = assert(io.open(args[4], "rb"))
  local template = file:read("*a")
  file:close()
  local at = assert(template:find("@@N@@", 1, true), "no @@N@@ in the body template")
  body_prefix, body_suffix = template:sub(1, at - 1), template:sub(at + 5)
  pause = tonumber(args[5])
  math.randomseed(104729 * tid)
  started = bench_now()
end

function request()
  n = n + 1
  return wrk.format(nil, prefix .. ids[math.random(#ids)], nil,
                    body_prefix .. "t" .. tid .. "-" .. n .. body_suffix)
end

function delay()
  return pause
end

function response(status, headers, body)
  if status == 200 then ok = ok + 1 else bad = bad + 1 end
end
