-- Accept one comment atomically, admission checks included, in one round trip:
--   1. idempotency: a key seen before answers with the first comment (nothing is checked or
--      stored again: it was admitted and counted the first time);
--   2. closed: the article's (or the site's) settings say no new comments;
--   3. flood control: per-author and per-IP rate limits (below);
--   4. store the hash, XADD the id to the stream, remember the idempotency key, count.
--
-- Idempotency keys live as fields of small per-site hashes in two generations
-- (moderation/store/idempotency.py): generation g = floor(TIME / C.idem_ttl) is written, g and
-- g - 1 are read, and g's hash expires at the end of g + 1, so a key is answered for at least
-- the TTL. KEYS[3] is the bucket's stem; the generation's hash is KEYS[3] .. ":" .. g.
-- A refusal writes nothing but its own counters.
--
-- Flood control is GCRA (the "generic cell rate algorithm": one timestamp per limited thing).
-- Each limit allows a burst of B comments, then one every T ms. Its state is the theoretical
-- arrival time (TAT) of the next comment; a comment arriving at `now` is allowed when
-- TAT - now <= T * (B - 1), and then TAT becomes max(TAT, now) + T. Both limits are checked
-- before either is consumed, so a refusal by one does not use up the other. The clock is
-- Redis' own (TIME), so every API process agrees on it. Trusted authors are not limited.
--
-- KEYS[1] comment hash      KEYS[2] comment stream     KEYS[3] idempotency bucket ("" = none)
-- KEYS[4] pending zset      KEYS[5] counters hash      KEYS[6] this minute's counters hash
-- KEYS[7] author's comments zset   KEYS[8] author hash
-- KEYS[9] article settings hash ("" = no closed check)   KEYS[10] site policy hash ("" = none)
-- KEYS[11] author flood key ("" = off)   KEYS[12] IP flood key ("" = no IP or off)
-- KEYS[13] article hash (its published and first-seen times)
-- ARGV[1] comment id        ARGV[2] record document (store.records: without the id)
-- ARGV[3] created ms        ARGV[4] body digest (bytes)   ARGV[5] idempotency field (key digest)
--
-- The comment hash's fields are moderation.keys.CommentField's letters: d doc, s status,
-- u updated (the article and the creation time are the document's, the id is the key's).
--
-- The process's constants are baked into the script when it is loaded (Store.submit), as the
-- table C, so each call sends only what changes per comment:
--   C.idem_ttl      idempotency TTL (s)        C.minute_ttl    minute-counter TTL (s)
--   C.closed        the "closed" settings field ("" = no closed check)
--   C.author_ms, C.author_burst, C.ip_ms, C.ip_burst   flood control (interval 0 = off)
--   C.close_field   the "close after N days" settings field ("" = no such check)
--   C.close_days    the default N
--   C.published, C.first_seen   the article hash's "published" and "first seen" fields
--
-- Returns {"new", id}; {"dup", <body digest><id>} when the idempotency key was used before;
-- {"closed", "closed"|"site_closed"|"expired"} for a closed article, a closed site or one older
-- than its "close after N days"; {"limited", retry-after ms, "author"|"ip"}.
--
-- Types: keys 3 and 9-12 are left to their own commands: each is first touched by a read
-- (GET, HGET) that comes before every write of the script, so a key of the wrong type fails the
-- call while nothing is written yet, as check_types would (both idempotency generations are
-- read by HGET first). The comment hash (key 1) is the accepted comment's first write, so it
-- too fails, if it must, before anything is written.
local bad = check_types("-s-zhhzh----h")
if bad then
  return redis.error_reply(bad)
end
local idem_now
if KEYS[3] ~= "" then
  local generation = math.floor(tonumber(redis.call("TIME")[1]) / C.idem_ttl)
  idem_now = {KEYS[3] .. ":" .. generation, (generation + 2) * C.idem_ttl}
  local seen = redis.call("HGET", idem_now[1], ARGV[5])
    or redis.call("HGET", KEYS[3] .. ":" .. (generation - 1), ARGV[5])
  if seen then
    return {"dup", seen}
  end
end

-- The article's and the site's settings: both fields of each in one read.
local article_conf, site_conf = {}, {}
if KEYS[9] ~= "" then
  article_conf = redis.call("HMGET", KEYS[9], C.closed, C.close_field)
end
if KEYS[10] ~= "" then
  site_conf = redis.call("HMGET", KEYS[10], C.closed, C.close_field)
end
if C.closed ~= "" then
  if article_conf[1] == "1" then
    return {"closed", "closed"}
  end
  if site_conf[1] == "1" then
    return {"closed", "site_closed"}
  end
end
-- Close after N days: the article's own setting, else the site's, else the default.
if C.close_field ~= "" then
  local days = C.close_days
  for _, raw in ipairs({site_conf[2] or false, article_conf[2] or false}) do
    if raw and string.match(raw, "^%d+$") then
      days = tonumber(raw)
    end
  end
  if days > 0 then
    local opened = tonumber(redis.call("HGET", KEYS[13], C.published)
      or redis.call("HGET", KEYS[13], C.first_seen) or "")
    if opened and tonumber(ARGV[3]) >= opened + days * 86400000 then
      return {"closed", "expired"}
    end
  end
end

local updates = {}
local limits = {}
if KEYS[11] ~= "" and C.author_ms > 0 then
  limits[#limits + 1] = {KEYS[11], C.author_ms, C.author_burst, "author"}
end
if KEYS[12] ~= "" and C.ip_ms > 0 then
  limits[#limits + 1] = {KEYS[12], C.ip_ms, C.ip_burst, "ip"}
end
if #limits > 0 and redis.call("HGET", KEYS[8], "state") ~= "trusted" then
  local t = redis.call("TIME")
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  for _, limit in ipairs(limits) do
    local key, interval, burst, kind = limit[1], limit[2], limit[3], limit[4]
    local tat = math.max(tonumber(redis.call("GET", key) or now), now)
    local ahead = tat - now
    local allowance = interval * (burst - 1)
    if ahead > allowance then
      redis.call("HINCRBY", KEYS[5], "rate_limited", 1)
      redis.call("HINCRBY", KEYS[5], "rate_limited:" .. kind, 1)
      redis.call("HINCRBY", KEYS[6], "rate_limited", 1)
      redis.call("EXPIRE", KEYS[6], C.minute_ttl)
      return {"limited", ahead - allowance, kind}
    end
    updates[#updates + 1] = {key, tat + interval, ahead + interval}
  end
end

-- Accepted. The comment hash first (see Types above).
redis.call("HSET", KEYS[1], "d", ARGV[2], "s", "pending", "u", ARGV[3])
for _, u in ipairs(updates) do
  redis.call("SET", u[1], string.format("%.0f", u[2]), "PX", string.format("%.0f", u[3]))
end
if C.first_seen ~= "" then
  redis.call("HSETNX", KEYS[13], C.first_seen, ARGV[3])  -- "close after N days" may count from here
end
redis.call("XADD", KEYS[2], "*", "id", ARGV[1])
redis.call("ZADD", KEYS[4], ARGV[3], ARGV[1])
redis.call("ZADD", KEYS[7], ARGV[3], ARGV[1])
redis.call("HINCRBY", KEYS[8], "pending", 1)
if idem_now then
  redis.call("HSET", idem_now[1], ARGV[5], ARGV[4] .. ARGV[1])
  redis.call("EXPIREAT", idem_now[1], idem_now[2])
end
redis.call("HINCRBY", KEYS[5], "accepted", 1)
redis.call("HINCRBY", KEYS[6], "accepted", 1)
redis.call("EXPIRE", KEYS[6], C.minute_ttl)
return {"new", ARGV[1]}
