-- Accept comments atomically, admission checks included, in one round trip. One call carries
-- one comment or several (store.batching.MergedScriptBatcher puts the API's concurrent
-- submissions in one call) and decides each exactly as separate calls made one after another,
-- in order, would have:
--   1. idempotency: a key seen before answers with the first comment (nothing is checked or
--      stored again: it was admitted and counted the first time); a key used twice in one call
--      answers the second with the first;
--   2. closed: the article's (or the site's) settings say no new comments;
--   3. flood control: per-author and per-IP rate limits (below); comments of one call consume
--      the same allowance in turn;
--   4. store the hash, XADD the id to the stream, remember the idempotency key, count.
--
-- Idempotency keys live as fields of small per-site hashes in generations of C.idem_span
-- seconds, C.idem_spans of them to a TTL (moderation/store/idempotency.py): generation
-- g = floor(TIME / C.idem_span) is written, g back to g - C.idem_spans are read (newest
-- first), and g's hash expires at the end of g + C.idem_spans, so a key is answered for at
-- least the TTL and kept at most one span longer. A comment's key 3 is the bucket's stem; the
-- generation's hash is stem .. ":" .. g.
-- A refusal writes nothing but its own counters.
--
-- Flood control is GCRA (the "generic cell rate algorithm": one timestamp per limited thing).
-- Each limit allows a burst of B comments, then one every T ms. Its state is the theoretical
-- arrival time (TAT) of the next comment; a comment arriving at `now` is allowed when
-- TAT - now <= T * (B - 1), and then TAT becomes max(TAT, now) + T. Both limits are checked
-- before either is consumed, so a refusal by one does not use up the other. The clock is
-- Redis' own (TIME, read once per call: a call's comments arrive together), so every API
-- process agrees on it. Trusted authors are not limited.
--
-- Each comment takes 13 KEYS and 5 ARGV, comment after comment (comment i's keys are
-- KEYS[13 * (i - 1) + 1 ...], its args ARGV[5 * (i - 1) + 1 ...]); numbered within a comment:
-- key 1 comment hash      key 2 comment stream     key 3 idempotency bucket ("" = none)
-- key 4 pending zset      key 5 counters hash      key 6 this minute's counters hash
-- key 7 author's comments zset   key 8 author hash
-- key 9 article settings hash ("" = no closed check)   key 10 site policy hash ("" = none)
-- key 11 author flood key ("" = off)   key 12 IP flood key ("" = no IP or off)
-- key 13 article hash (its published and first-seen times)
-- arg 1 comment id        arg 2 record document (store.records: without the id)
-- arg 3 created ms        arg 5 idempotency field (key digest)
-- arg 4 idempotency value (bytes: the body's digest, then the comment id packed;
--       moderation.store.idempotency.stored)
--
-- The comment hash's fields are moderation.keys.CommentField's letters: d doc, s status,
-- u updated (the article and the creation time are the document's, the id is the key's).
--
-- The process's constants are baked into the script when it is loaded (Store.submit), as the
-- table C, so each call sends only what changes per comment:
--   C.idem_span     an idempotency generation (s)   C.idem_spans  generations to a TTL
--   C.minute_ttl    minute-counter TTL (s)
--   C.closed        the "closed" settings field ("" = no closed check)
--   C.author_ms, C.author_burst, C.ip_ms, C.ip_burst   flood control (interval 0 = off)
--   C.close_field   the "close after N days" settings field ("" = no such check)
--   C.close_days    the default N
--   C.published, C.first_seen   the article hash's "published" and "first seen" fields
--
-- Returns one reply per comment, in order: {"new", id}; {"dup", <the value arg 4 stored>} when the
-- idempotency key was used before; {"closed", "closed"|"site_closed"|"expired"} for a closed
-- article, a closed site or one older than its "close after N days"; {"limited", retry-after
-- ms, "author"|"ip"}.
--
-- Three passes, so that a key of the wrong type fails the call while nothing is written:
--   read:   every value the decisions need, each key once (the reads of keys 3 and 9-12, and of
--           8 and 13 where they are read, are those keys' type checks), and a TYPE of every
--           other key the call writes, once per key. A lone comment's hash needs none: its
--           HSET is the call's first write;
--   decide: each comment in turn, on the values read, with the effects of the comments before
--           it in the call applied;
--   write:  the accepted comments' hashes first, then their other effects, with counters,
--           expiries, flood state and idempotency fields written once per key.
local NK, NA = 13, 5
local n = #ARGV / NA

local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local generation = math.floor(tonumber(t[1]) / C.idem_span)
-- The value a key's field holds in the newest generation that has it, or false.
local function remembered(stem, field)
  for g = generation, generation - C.idem_spans, -1 do
    local value = redis.call("HGET", stem .. ":" .. g, field)
    if value then
      return value
    end
  end
  return false
end

local checked = {}
local function check(key, want)
  if key == "" or checked[key] then
    return nil
  end
  checked[key] = true
  local got = redis.call("TYPE", key)["ok"]
  if got ~= "none" and got ~= TYPE_NAMES[want] then
    return "WRONGTYPE key " .. key .. " holds a " .. got .. ", expected a " .. TYPE_NAMES[want]
  end
  return nil
end

-- Read.
local idem_seen = {}  -- stem -> field -> value (false: absent)
local conf = {}       -- settings or policy key -> {closed, close after}
local opened = {}     -- article key -> its published or first-seen ms (false: neither)
local trusted = {}    -- author key -> true / false
local tats = {}       -- flood key -> TAT (false: none)
local days_of = {}    -- comment -> its article's "close after N days" (0: never)
local limits_of = {}  -- comment -> the limits it is checked against
-- The flood keys a comment is limited by (none: not limited).
local function limits(k)
  local out = {}
  if KEYS[k + 11] ~= "" and C.author_ms > 0 then
    out[#out + 1] = {KEYS[k + 11], C.author_ms, C.author_burst, "author"}
  end
  if KEYS[k + 12] ~= "" and C.ip_ms > 0 then
    out[#out + 1] = {KEYS[k + 12], C.ip_ms, C.ip_burst, "ip"}
  end
  return out
end
local function settings(key)
  if key == "" then
    return {}
  end
  local c = conf[key]
  if c == nil then
    c = redis.call("HMGET", key, C.closed, C.close_field)
    conf[key] = c
  end
  return c
end
local function close_days(k)
  local days = C.close_days
  for _, raw in ipairs({settings(KEYS[k + 10])[2] or false, settings(KEYS[k + 9])[2] or false}) do
    if raw and string.match(raw, "^%d+$") then
      days = tonumber(raw)
    end
  end
  return days
end
for i = 1, n do
  local k, a = (i - 1) * NK, (i - 1) * NA
  local stem = KEYS[k + 3]
  if stem ~= "" then
    local fields = idem_seen[stem]
    if not fields then
      fields = {}
      idem_seen[stem] = fields
    end
    local field = ARGV[a + 5]
    if fields[field] == nil then
      fields[field] = remembered(stem, field)
    end
  end
  if KEYS[k + 9] ~= "" then
    settings(KEYS[k + 9])
  end
  settings(KEYS[k + 10])
  local article = KEYS[k + 13]
  days_of[i] = C.close_field ~= "" and close_days(k) or 0
  if days_of[i] > 0 and opened[article] == nil then
    local times = redis.call("HMGET", article, C.published, C.first_seen)
    opened[article] = tonumber(times[1] or times[2] or "") or false
  end
  limits_of[i] = limits(k)
  local author = KEYS[k + 8]
  if #limits_of[i] > 0 then
    if trusted[author] == nil then
      trusted[author] = redis.call("HGET", author, "state") == "trusted"
      checked[author] = true  -- that read was its type check
    end
    for _, limit in ipairs(limits_of[i]) do
      if tats[limit[1]] == nil then
        tats[limit[1]] = tonumber(redis.call("GET", limit[1]) or "") or false
      end
    end
  end
  if opened[article] ~= nil then
    checked[article] = true  -- read above: that was its type check
  end
  local bad = (n > 1 and check(KEYS[k + 1], "h")) or check(KEYS[k + 2], "s")
    or check(KEYS[k + 4], "z") or check(KEYS[k + 5], "h") or check(KEYS[k + 6], "h")
    or check(KEYS[k + 7], "z") or check(author, "h") or check(article, "h")
  if bad then
    return redis.error_reply(bad)
  end
end

-- Decide.
local replies, accepted = {}, {}
local idem_new = {}   -- stem -> {field, value, ...} written by this call
local flood = {}      -- flood key -> {TAT, ms to live}, in the order first consumed
local flood_order = {}
local refused = {}    -- counters key -> {minute key, kind, ...} of each rate-limited comment
for i = 1, n do
  local k, a = (i - 1) * NK, (i - 1) * NA
  local reply
  local stem, field = KEYS[k + 3], ARGV[a + 5]
  if stem ~= "" then
    local seen = idem_seen[stem][field]
    if seen then
      reply = {"dup", seen}
    end
  end
  if not reply and C.closed ~= "" then
    if KEYS[k + 9] ~= "" and settings(KEYS[k + 9])[1] == "1" then
      reply = {"closed", "closed"}
    elseif settings(KEYS[k + 10])[1] == "1" then
      reply = {"closed", "site_closed"}
    end
  end
  -- Close after N days: the article's own setting, else the site's, else the default.
  if not reply and days_of[i] > 0 then
    local at = opened[KEYS[k + 13]]
    if at and tonumber(ARGV[a + 3]) >= at + days_of[i] * 86400000 then
      reply = {"closed", "expired"}
    end
  end
  if not reply and #limits_of[i] > 0 and not trusted[KEYS[k + 8]] then
    local updates = {}
    for _, limit in ipairs(limits_of[i]) do
      local key, interval, burst, kind = limit[1], limit[2], limit[3], limit[4]
      local tat = math.max(tats[key] or now, now)
      local ahead = tat - now
      local allowance = interval * (burst - 1)
      if ahead > allowance then
        reply = {"limited", ahead - allowance, kind}
        local list = refused[KEYS[k + 5]] or {}
        refused[KEYS[k + 5]] = list
        list[#list + 1] = KEYS[k + 6]
        list[#list + 1] = kind
        break
      end
      updates[#updates + 1] = {key, tat + interval, ahead + interval}
    end
    if not reply then
      for _, u in ipairs(updates) do
        tats[u[1]] = u[2]
        if not flood[u[1]] then
          flood_order[#flood_order + 1] = u[1]
        end
        flood[u[1]] = {u[2], u[3]}
      end
    end
  end
  if not reply then
    reply = {"new", ARGV[a + 1]}
    accepted[#accepted + 1] = i
    if stem ~= "" then
      local value = ARGV[a + 4]
      idem_seen[stem][field] = value
      local list = idem_new[stem] or {}
      idem_new[stem] = list
      list[#list + 1] = field
      list[#list + 1] = value
    end
    -- "Close after N days" may count from the first comment's creation (HSETNX below).
    local article = KEYS[k + 13]
    if C.first_seen ~= "" and opened[article] == false then
      opened[article] = tonumber(ARGV[a + 3])
    end
  end
  replies[i] = reply
end

-- Write. The comments' hashes first (see the passes above).
for _, i in ipairs(accepted) do
  local k, a = (i - 1) * NK, (i - 1) * NA
  redis.call("HSET", KEYS[k + 1], "d", ARGV[a + 2], "s", "pending", "u", ARGV[a + 3])
end
for _, key in ipairs(flood_order) do
  local f = flood[key]
  redis.call("SET", key, string.format("%.0f", f[1]), "PX", string.format("%.0f", f[2]))
end
local counted = {}    -- counters key -> accepted comments
local minutes = {}    -- minute key -> accepted comments
local authors = {}    -- author hash -> accepted comments
local first_seen = {}
for _, i in ipairs(accepted) do
  local k, a = (i - 1) * NK, (i - 1) * NA
  local article = KEYS[k + 13]
  if C.first_seen ~= "" and not first_seen[article] then
    first_seen[article] = true
    redis.call("HSETNX", article, C.first_seen, ARGV[a + 3])
  end
  redis.call("XADD", KEYS[k + 2], "*", "id", ARGV[a + 1])
  redis.call("ZADD", KEYS[k + 4], ARGV[a + 3], ARGV[a + 1])
  redis.call("ZADD", KEYS[k + 7], ARGV[a + 3], ARGV[a + 1])
  authors[KEYS[k + 8]] = (authors[KEYS[k + 8]] or 0) + 1
  counted[KEYS[k + 5]] = (counted[KEYS[k + 5]] or 0) + 1
  minutes[KEYS[k + 6]] = (minutes[KEYS[k + 6]] or 0) + 1
end
for key, count in pairs(authors) do
  redis.call("HINCRBY", key, "pending", int(count))
end
for stem, list in pairs(idem_new) do
  local bucket = stem .. ":" .. generation
  redis.call("HSET", bucket, unpack(list))
  redis.call("EXPIREAT", bucket, int((generation + C.idem_spans + 1) * C.idem_span))
end
for key, list in pairs(refused) do
  local count = #list / 2
  redis.call("HINCRBY", key, "rate_limited", int(count))
  for j = 1, #list, 2 do
    redis.call("HINCRBY", key, "rate_limited:" .. list[j + 1], 1)
    minutes[list[j]] = (minutes[list[j]] or 0)
    redis.call("HINCRBY", list[j], "rate_limited", 1)
  end
end
for key, count in pairs(counted) do
  redis.call("HINCRBY", key, "accepted", int(count))
end
for key, count in pairs(minutes) do
  if count > 0 then
    redis.call("HINCRBY", key, "accepted", int(count))
  end
  redis.call("EXPIRE", key, C.minute_ttl)
end
return replies
