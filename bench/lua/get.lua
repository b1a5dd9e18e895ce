-- A fixed GET with a bearer token. No request() function, so wrk builds the request once
-- (the cheapest way to generate load). args: token (may be empty).
function init(args)
  if args[1] ~= nil and args[1] ~= "" then
    wrk.headers["Authorization"] = "Bearer " .. args[1]
  end
end
