-- POST the same JSON body (read from a file) with a bearer token.
-- args: token, body file.
function init(args)
  wrk.method = "POST"
  wrk.headers["Authorization"] = "Bearer " .. args[1]
  wrk.headers["Content-Type"] = "application/json"
  local file = assert(io.open(args[2], "rb"))
  wrk.body = file:read("*a")
  file:close()
end
