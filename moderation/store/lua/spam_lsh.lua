-- Index one comment for near-duplicate detection and return its candidates, atomically.
--
-- For every MinHash band of the comment: read the ids of other comments whose band hashed to
-- the same bucket within the window (most recent first, at most ARGV[6] per band), add this
-- comment, now and then trim entries older than the window, refresh the expiry. Then store the comment's
-- signature for later comparisons. Calls queued in one pipeline run in order, so a comment
-- sees those indexed before it in the same batch.
--
-- KEYS[1..n] band sorted sets   KEYS[n+1] this comment's signature key
-- ARGV[1] comment id   ARGV[2] created ms   ARGV[3] window ms   ARGV[4] key TTL (s)
-- ARGV[5] signature value   ARGV[6] candidate limit per band
--
-- Returns the distinct candidate ids (never this comment's own id).
local n = #KEYS - 1
local bad = check_types(string.rep("z", n) .. "x")
if bad then
  return redis.error_reply(bad)
end
local id, t, window = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local newest, oldest = string.format("%.0f", t + window), string.format("%.0f", t - window)
local seen, out = {}, {}
for i = 1, n do
  local ids = redis.call("ZRANGE", KEYS[i], newest, oldest, "BYSCORE", "REV", "LIMIT", 0, ARGV[6])
  for _, other in ipairs(ids) do
    if other ~= id and not seen[other] then
      seen[other] = true
      out[#out + 1] = other
    end
  end
  redis.call("ZADD", KEYS[i], ARGV[2], id)
  -- Trimming every band on every call would double the work; reads are bounded by the
  -- window anyway, so each key is trimmed on about one add in eight.
  if (t + i) % 8 == 0 then
    redis.call("ZREMRANGEBYSCORE", KEYS[i], "-inf", "(" .. oldest)
  end
  redis.call("EXPIRE", KEYS[i], ARGV[4])
end
redis.call("SET", KEYS[n + 1], ARGV[5], "EX", ARGV[4])
return out
