-- wrk script, phase 1 of the claim benchmark: GET /api/session as fast as
-- possible and save each new session (cookie and CSRF token) to
-- <dir>/sessions.<thread>, one "cookie<TAB>csrf" line per session.
-- usage: wrk ... -s sessions.lua URL -- OUTPUT_DIR
local threads = {}
local counter = 0

function setup(thread)
   thread:set("id", counter)
   counter = counter + 1
   table.insert(threads, thread)
end

function init(args)
   out = io.open(args[1] .. "/sessions." .. id, "w")
   saved = 0
   wrk.method = "GET"
   wrk.path = "/api/session"
end

function response(status, headers, body)
   if status ~= 200 then return end
   local cookie = headers["Set-Cookie"] or headers["set-cookie"]
   local csrf = body:match('"csrf"%s*:%s*"([^"]+)"')
   if cookie and csrf then
      cookie = cookie:match("^([^;]+)")
      out:write(cookie, "\t", csrf, "\n")
      saved = saved + 1
      if saved % 1000 == 0 then out:flush() end
   end
end

function done(summary, latency, requests)
   local total = 0
   for _, thread in ipairs(threads) do total = total + (thread:get("saved") or 0) end
   io.write(string.format("SESSIONS_SAVED %d\n", total))
end
