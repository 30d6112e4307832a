-- Flood control for one submission: per-author and per-IP rate limits, checked and consumed
-- atomically (GCRA, the "generic cell rate algorithm": one timestamp per limited thing).
--
-- Each limit allows a burst of B comments, then one every T ms. Its state is the theoretical
-- arrival time (TAT) of the next comment; a comment arriving at `now` is allowed when
-- TAT - now <= T * (B - 1), and then TAT becomes max(TAT, now) + T. Both limits are checked
-- before either is consumed, so a refusal by one does not use up the other. The clock is
-- Redis' own (TIME), so every API process agrees on it.
--
-- KEYS[1] author limit key   KEYS[2] IP limit key ("" = no IP)   KEYS[3] author hash
-- KEYS[4] counters hash      KEYS[5] this minute's counters hash
-- KEYS[6] idempotency key ("" = none)
-- ARGV[1] author interval ms (0 = off)   ARGV[2] author burst
-- ARGV[3] IP interval ms (0 = off)       ARGV[4] IP burst   ARGV[5] minute-counter TTL (s)
--
-- Returns {0} when allowed, or {1, retry-after ms, "author"|"ip"} when refused.
local bad = check_types("xxhhhx")
if bad then
  return redis.error_reply(bad)
end
if KEYS[6] ~= "" and redis.call("EXISTS", KEYS[6]) == 1 then
  return {0} -- a replay of an accepted request: it was counted the first time
end
if redis.call("HGET", KEYS[3], "state") == "trusted" then
  return {0}
end

local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

local limits = {}
if tonumber(ARGV[1]) > 0 then
  limits[#limits + 1] = {KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), "author"}
end
if KEYS[2] ~= "" and tonumber(ARGV[3]) > 0 then
  limits[#limits + 1] = {KEYS[2], tonumber(ARGV[3]), tonumber(ARGV[4]), "ip"}
end

local updates = {}
for _, limit in ipairs(limits) do
  local key, interval, burst, kind = limit[1], limit[2], limit[3], limit[4]
  local tat = math.max(tonumber(redis.call("GET", key) or now), now)
  local ahead = tat - now
  local allowance = interval * (burst - 1)
  if ahead > allowance then
    redis.call("HINCRBY", KEYS[4], "rate_limited", 1)
    redis.call("HINCRBY", KEYS[4], "rate_limited:" .. kind, 1)
    redis.call("HINCRBY", KEYS[5], "rate_limited", 1)
    redis.call("EXPIRE", KEYS[5], ARGV[5])
    return {1, ahead - allowance, kind}
  end
  updates[#updates + 1] = {key, tat + interval, ahead + interval}
end
for _, u in ipairs(updates) do
  redis.call("SET", u[1], string.format("%.0f", u[2]), "PX", string.format("%.0f", u[3]))
end
return {0}
