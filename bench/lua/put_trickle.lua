-- A trickle of saves spread over many flows: PUT new content to a random flow, paced.
-- args: token, ids file, path prefix, body template file (one @@N@@ placeholder),
-- writes per second (for the whole run: the connections take turns at the next slot).
local ids = {}
local prefix, body_prefix, body_suffix, interval_ms
local next_at = nil
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
  interval_ms = 1000 / tonumber(args[5])
  math.randomseed(104729 * tid)
  started = bench_now()
end

function request()
  n = n + 1
  return wrk.format(nil, prefix .. ids[math.random(#ids)], nil,
                    body_prefix .. "t" .. tid .. "-" .. n .. body_suffix)
end

-- Called before each request of any connection: the next free slot of a fixed schedule, so
-- the rate holds while answers take longer than the interval (up to the connections' count).
function delay()
  local now = bench_now() * 1000
  if next_at == nil or next_at < now then next_at = now end
  local wait = next_at - now
  next_at = next_at + interval_ms
  return math.floor(wait)
end

function response(status, headers, body)
  if status == 200 then ok = ok + 1 else bad = bad + 1 end
end
