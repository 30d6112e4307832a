-- Claim one endpoint's due webhook messages for one attempt each.
--
-- A claimed message stays in the queue with its score pushed a lease into the future, so a
-- sender that dies mid-attempt loses nothing: the message falls due again when the lease ends
-- and another sender (or this one, restarted) retries it. Two senders never claim the same
-- message at once, because the claim and the push happen in this one script.
--
-- KEYS[1] the endpoint's queue zset (score: next attempt due, epoch ms)
-- KEYS[2] the endpoint's messages hash (message id -> Delivery JSON)
-- ARGV[1] now ms   ARGV[2] lease ms   ARGV[3] most messages to claim
--
-- Returns a flat list: message id, Delivery JSON, message id, Delivery JSON, ...
local bad = check_types("zh")
if bad then
  return redis.error_reply(bad)
end
local now = tonumber(ARGV[1])
local due = redis.call("ZRANGEBYSCORE", KEYS[1], "-inf", now, "LIMIT", 0, tonumber(ARGV[3]))
local out = {}
for _, id in ipairs(due) do
  local doc = redis.call("HGET", KEYS[2], id)
  if doc then
    redis.call("ZADD", KEYS[1], now + tonumber(ARGV[2]), id)
    out[#out + 1] = id
    out[#out + 1] = doc
  else
    -- A queue entry without its message (an endpoint being removed): nothing to send.
    redis.call("ZREM", KEYS[1], id)
  end
end
return out
