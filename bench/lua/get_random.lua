-- GET a uniformly random id from a file, one id per line.
-- args: token, ids file, path prefix (the id is appended to it).
local ids = {}
local prefix

function init(args)
  wrk.headers["Authorization"] = "Bearer " .. args[1]
  for line in io.lines(args[2]) do
    if line ~= "" then ids[#ids + 1] = line end
  end
  prefix = args[3]
  math.randomseed(7919 * tid)
end

function request()
  return wrk.format(nil, prefix .. ids[math.random(#ids)])
end
