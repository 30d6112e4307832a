-- A batch's shared spam state in one call: near-duplicate candidates (MinHash LSH), posting
-- velocity per author and per IP address, and the authors' tallies.
--
-- Velocity first: every comment's IP address is recorded (so comments of one batch see each
-- other), each IP set trimmed once to the batch's oldest window and its expiry refreshed once.
--
-- Then per comment, in order: for every MinHash band, read the ids of other comments whose band
-- hashed to the same bucket within the window (most recent first, at most `limit` per band),
-- add this comment, and now and then trim entries older than the window; store the comment's
-- signature for later comparisons; count the other comments within ± the velocity window of
-- its creation time in its author's set (written by submit.lua) and its IP's set (ZCOUNT, its
-- own id not counted, capped at `cap`); read the author's approved / rejected tallies. A
-- comment sees those indexed before it in the same batch. Each band key's expiry is refreshed
-- once per batch, after its last add.
--
-- KEYS: as the plan names them by position.
-- ARGV[1] type spec, one letter per key (see check_types; "-": read only, unchecked)   ARGV[2] LSH window ms
-- ARGV[3] LSH keys' TTL (s)   ARGV[4] candidate limit per band   ARGV[5] velocity window ms
-- ARGV[6] IP sets' TTL (s)    ARGV[7] velocity cap
-- ARGV[8] msgpack array, per comment: {id, created ms, author set pos, author hash pos,
--   IP set pos (0: none), signature key pos (0: not compared), band key positions...}
-- ARGV[8 + i]: the stored signature of the i-th comment that has a signature key (from 1).
--
-- Returns per comment: {candidate ids (never its own), author rate, IP rate, approved,
-- rejected}.
local bad = check_types(ARGV[1])
if bad then
  return redis.error_reply(bad)
end
local window, ttl, limit = tonumber(ARGV[2]), ARGV[3], ARGV[4]
local vwindow, vttl, cap = tonumber(ARGV[5]), ARGV[6], tonumber(ARGV[7])
local rows = cmsgpack.unpack(ARGV[8])

local function ms(n)
  return string.format("%.0f", n)
end

-- 1. IP addresses, recorded for the whole batch before any read.
local ip_oldest = {}
for _, r in ipairs(rows) do
  local k, t = r[5], tonumber(r[2])
  if k > 0 then
    redis.call("ZADD", KEYS[k], ms(t), r[1])
    if not ip_oldest[k] or t < ip_oldest[k] then
      ip_oldest[k] = t
    end
  end
end
for k, t in pairs(ip_oldest) do
  redis.call("ZREMRANGEBYSCORE", KEYS[k], "-inf", "(" .. ms(t - vwindow))
  redis.call("EXPIRE", KEYS[k], vttl)
end

-- The author's keys are only read here (submit.lua and transition.lua own them), so they are
-- not type-checked: a read of a key of the wrong type counts as nothing instead of failing
-- the batch. The comment's own id is in its IP set (written above) and normally in its
-- author's set (written by submit.lua).
local function others(k, id, t, own_known)
  local n = redis.pcall("ZCOUNT", KEYS[k], ms(t - vwindow), ms(t + vwindow))
  if type(n) ~= "number" then
    return 0
  end
  if n > 0 and (own_known or redis.call("ZSCORE", KEYS[k], id)) then
    n = n - 1
  end
  return math.min(n, cap)
end

local function tallies(k)
  local reply = redis.pcall("HMGET", KEYS[k], "approved", "rejected")
  if reply.err then
    return 0, 0
  end
  return tonumber(reply[1]) or 0, tonumber(reply[2]) or 0
end

-- 2. Per comment: LSH candidates and indexing, signature, velocity, tallies.
local bands = {}
local out = {}
local sig_arg = 8
for p, r in ipairs(rows) do
  local id, t = r[1], tonumber(r[2])
  local created = ms(t)
  local newest, oldest = ms(t + window), ms(t - window)
  local seen, found = {}, {}
  for i = 7, #r do
    local k = r[i]
    local key = KEYS[k]
    local ids = redis.call("ZRANGE", key, newest, oldest, "BYSCORE", "REV", "LIMIT", 0, limit)
    for _, other in ipairs(ids) do
      if other ~= id and not seen[other] then
        seen[other] = true
        found[#found + 1] = other
      end
    end
    redis.call("ZADD", key, created, id)
    bands[k] = true
    -- Trimming every band on every add would double the work; reads are bounded by the
    -- window anyway, so each key is trimmed on about one add in eight.
    if (t + i - 6) % 8 == 0 then
      redis.call("ZREMRANGEBYSCORE", key, "-inf", "(" .. oldest)
    end
  end
  if r[6] > 0 then
    sig_arg = sig_arg + 1
    redis.call("SET", KEYS[r[6]], ARGV[sig_arg], "EX", ttl)
  end
  local approved, rejected = tallies(r[4])
  out[p] = {found, others(r[3], id, t, false), r[5] > 0 and others(r[5], id, t, true) or 0,
    approved, rejected}
end
for k in pairs(bands) do
  redis.call("EXPIRE", KEYS[k], ttl)
end
return out
