-- wrk script: POST /csc/v2/signatures/signHash, one prepared call per
-- request from the file named by $CALLS ("<access token> <JSON body>", made
-- by perf/make_sads.py; run wrk with -t1 so each SAD is sent once).  Past
-- the end it sends the cheap, public /csc/v2/info, which the benchmark
-- does not count (it counts signHash answers in idgated's metrics).
local calls, idx = {}, 0

init = function(args)
  for l in io.lines(os.getenv("CALLS")) do
    local sp = l:find(" ", 1, true)
    calls[#calls + 1] = { l:sub(1, sp - 1), l:sub(sp + 1) }
  end
end

request = function()
  idx = idx + 1
  if idx > #calls then
    return wrk.format("POST", "/csc/v2/info", { ["Content-Type"] = "application/json" }, "{}")
  end
  local c = calls[idx]
  return wrk.format("POST", "/csc/v2/signatures/signHash",
    { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. c[1] }, c[2])
end
