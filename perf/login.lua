-- wrk script: POST /oauth2/token with a fresh assertion per request, read
-- from the file named by $ASSERTIONS (run wrk with -t1, the one reader of the
-- file, so no assertion is sent twice); non-2xx answers are wrk errors.
-- Set $CLOSE=1 to send "Connection: close" (a new TLS handshake per login).
local prefix = "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion="
local lines, idx = {}, 0
local headers = { ["Content-Type"] = "application/x-www-form-urlencoded" }
if os.getenv("CLOSE") == "1" then headers["Connection"] = "close" end

init = function(args)
  for l in io.lines(os.getenv("ASSERTIONS")) do lines[#lines + 1] = l end
end

request = function()
  idx = idx + 1
  if idx > #lines then idx = 1 end -- past the end: replays, counted as errors
  return wrk.format("POST", "/oauth2/token", headers, prefix .. lines[idx])
end

done = function(summary, latency, requests)
  io.write(string.format("logins_ok %d\n", summary.requests - summary.errors.status))
end
