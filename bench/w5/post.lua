-- POSTs {"until": UNTIL} until this thread has had PER_THREAD answers.
local answered = 0
local limit = tonumber(os.getenv("PER_THREAD") or "5000")
wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
wrk.body = '{"until": ' .. os.getenv("UNTIL") .. '}'
function response(status, headers, body)
  answered = answered + 1
  if answered >= limit then wrk.thread:stop() end
end
