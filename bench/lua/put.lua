-- PUT new content until a deadline, then go quiet so every response is read before wrk
-- stops: the count of 200s is then exactly the number of versions the server acknowledged.
-- args: token, body template file (with one @@N@@ placeholder), deadline (unix seconds).
local prefix, suffix, deadline
local n = 0
ok, bad, started = 0, 0, nil -- read by done() through thread:get

function init(args)
  wrk.method = "PUT"
  wrk.headers["Authorization"] = "Bearer " .. args[1]
  wrk.headers["Content-Type"] = "application/json"
  local file = assert(io.open(args[2], "rb"))
  local template = file:read("*a")
  file:close()
  local at = assert(template:find("@@N@@", 1, true), "no @@N@@ in the body template")
  prefix, suffix = template:sub(1, at - 1), template:sub(at + 5)
  deadline = tonumber(args[3])
  started = bench_now()
end

function request()
  n = n + 1
  return wrk.format(nil, nil, nil, prefix .. tid .. "-" .. n .. suffix)
end

function delay()
  -- After the deadline no new request is sent (the delay outlasts the run).
  if bench_now() >= deadline then return 3600000 end
  return 0
end

function response(status, headers, body)
  if status == 200 then ok = ok + 1 else bad = bad + 1 end
end
