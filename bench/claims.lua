-- wrk script, phase 2 of the claim benchmark: every request is one claim by
-- a distinct user (POST /api/deals/<deal>/claims with that user's cookie and
-- X-CSRF-Token), users taken from the session file of phase 1.  Counts the
-- answers by status; prints "CLAIMS <status> <count>" lines at the end.
-- usage: wrk ... -s claims.lua URL -- SESSION_FILE DEAL_ID THREADS
local threads = {}
local counter = 0

function setup(thread)
   thread:set("id", counter)
   counter = counter + 1
   table.insert(threads, thread)
end

function init(args)
   local nthreads = tonumber(args[3])
   path = "/api/deals/" .. args[2] .. "/claims"
   sessions = {}
   local n = 0
   for line in io.lines(args[1]) do
      -- thread i takes every nthreads-th line: users never overlap
      if n % nthreads == id then
         local cookie, csrf = line:match("^([^\t]+)\t(.+)$")
         if cookie then table.insert(sessions, {cookie, csrf}) end
      end
      n = n + 1
   end
   next_session = 1
   wrapped = 0
   status_201, status_409, status_other = 0, 0, 0
end

function request()
   if next_session > #sessions then
      next_session = 1
      wrapped = wrapped + 1
   end
   local s = sessions[next_session]
   next_session = next_session + 1
   return wrk.format("POST", path, {["Cookie"] = s[1], ["X-CSRF-Token"] = s[2],
                                    }, "")
end

function response(status, headers, body)
   if status == 201 then status_201 = status_201 + 1
   elseif status == 409 then status_409 = status_409 + 1
   else status_other = status_other + 1 end
end

function done(summary, latency, requests)
   local c201, c409, other, wraps = 0, 0, 0, 0
   for _, thread in ipairs(threads) do
      c201 = c201 + thread:get("status_201")
      c409 = c409 + thread:get("status_409")
      other = other + thread:get("status_other")
      wraps = wraps + thread:get("wrapped")
   end
   io.write(string.format("CLAIMS 201 %d\nCLAIMS 409 %d\nCLAIMS other %d\nCLAIMS wrapped %d\n",
                          c201, c409, other, wraps))
end
