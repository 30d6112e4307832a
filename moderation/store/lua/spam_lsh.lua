-- Index a batch of comments for near-duplicate detection and return each one's candidates, in
-- one call.
--
-- For each comment in order, for every MinHash band: read the ids of other comments whose band
-- hashed to the same bucket within the window (most recent first, at most ARGV[3] per band), add
-- this comment, and now and then trim entries older than the window; then store the comment's
-- signature for later comparisons. A comment sees those indexed before it in the same batch.
-- Each band key's expiry is refreshed once per batch, after its last add.
--
-- KEYS: the batch's distinct band sorted sets, then one signature key per comment.
-- ARGV[1] window ms   ARGV[2] key TTL (s)   ARGV[3] candidate limit per band
-- ARGV[4] number of band keys   ARGV[5] msgpack array, per comment: {id, created ms, band key
-- positions in KEYS...}; ARGV[6 + i] the stored signature value of comment i (from 0), whose
-- signature key is KEYS[ARGV[4] + 1 + i].
--
-- Returns one array of distinct candidate ids per comment (never the comment's own id).
local bands = tonumber(ARGV[4])
local bad = check_types(string.rep("z", bands) .. string.rep("x", #KEYS - bands))
if bad then
  return redis.error_reply(bad)
end
local window, ttl, limit = tonumber(ARGV[1]), ARGV[2], ARGV[3]
local probes = cmsgpack.unpack(ARGV[5])
local out = {}
for p, probe in ipairs(probes) do
  local id, t = probe[1], tonumber(probe[2])
  local created = string.format("%.0f", t)
  local newest, oldest = string.format("%.0f", t + window), string.format("%.0f", t - window)
  local seen, found = {}, {}
  for i = 3, #probe do
    local key = KEYS[probe[i]]
    local ids = redis.call("ZRANGE", key, newest, oldest, "BYSCORE", "REV", "LIMIT", 0, limit)
    for _, other in ipairs(ids) do
      if other ~= id and not seen[other] then
        seen[other] = true
        found[#found + 1] = other
      end
    end
    redis.call("ZADD", key, created, id)
    -- Trimming every band on every add would double the work; reads are bounded by the
    -- window anyway, so each key is trimmed on about one add in eight.
    if (t + i - 2) % 8 == 0 then
      redis.call("ZREMRANGEBYSCORE", key, "-inf", "(" .. oldest)
    end
  end
  redis.call("SET", KEYS[bands + p], ARGV[5 + p], "EX", ttl)
  out[p] = found
end
for i = 1, bands do
  redis.call("EXPIRE", KEYS[i], ttl)
end
return out
