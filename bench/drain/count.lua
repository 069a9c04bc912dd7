-- wrk: POST an order, and stop this thread after LIMIT answers.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"order":1}'
local limit = tonumber(os.getenv("LIMIT") or "1000")
local answered = 0
function response(status, headers, body)
  answered = answered + 1
  if answered >= limit then wrk.thread:stop() end
end
