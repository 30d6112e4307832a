-- wrk script of bench/ingest.py.
--   wrk ... -s bench/ingest.lua URL -- post <site key> <run id>   POST /v1/comments
--   wrk ... -s bench/ingest.lua URL -- counts <articles>          GET /v1/counts (N articles)
-- POST bodies are ~300-byte news comments, each from a distinct author and IP address (so
-- flood control admits every one), on 50 articles. done() prints one JSON line of figures.
local mode, key, run
local n = 0
local counts_path

local openers = {
  "The council's decision to close the library branch on Elm Street",
  "Having lived in this neighbourhood for twenty years, I think the new bus timetable",
  "I read the whole report and the figures on school funding",
  "Interesting piece, but the interview with the planning officer",
  "My family runs a small shop near the station and the roadworks",
}
local closers = {
  " leaves out what residents actually said at the public meeting last month, and I hope the paper follows up.",
  " deserves a clearer explanation; the numbers quoted do not match the ones published by the county in March.",
  " will hurt older readers most, since many of them cannot walk the extra distance in winter weather.",
  " shows why local reporting matters: nobody else asked these questions, so thank you for keeping at it.",
}

function init(args)
  mode = args[1] or "post"
  if mode == "post" then
    key, run = args[2], args[3]
  else
    local parts = {}
    for a = 1, tonumber(args[2] or "50") do
      parts[#parts + 1] = "article=bench-article-" .. a
    end
    counts_path = "/v1/counts?" .. table.concat(parts, "&")
  end
end

function request()
  n = n + 1
  if mode ~= "post" then
    return wrk.format("GET", counts_path)
  end
  local text = openers[n % #openers + 1] .. closers[n % #closers + 1] ..
    " (reader " .. n .. ")"
  local body = string.format(
    '{"article_id":"bench-article-%d","text":"%s","author":{"id":"%s-%d","name":"Reader %d"},' ..
    '"context":{"ip":"10.%d.%d.%d"}}',
    n % 50 + 1, text, run, n, n, math.floor(n / 65536) % 256, math.floor(n / 256) % 256, n % 256)
  return wrk.format("POST", "/v1/comments", {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. key,
  }, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'RESULT {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"p999_us":%d,' ..
    '"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency:percentile(99.9), e.connect, e.read, e.write, e.status, e.timeout))
end
