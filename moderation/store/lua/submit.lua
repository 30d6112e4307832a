-- Accept one comment atomically: store it, queue it, remember its idempotency key.
--
-- KEYS[1] comment hash      KEYS[2] comment stream     KEYS[3] idempotency key ("" = none)
-- KEYS[4] pending zset      KEYS[5] counters hash      KEYS[6] this minute's counters hash
-- ARGV[1] comment id        ARGV[2] record JSON        ARGV[3] article id
-- ARGV[4] created ms        ARGV[5] body digest        ARGV[6] idempotency TTL (s)
-- KEYS[7] author's comments zset   KEYS[8] author hash
-- ARGV[7] minute-counter TTL (s)
--
-- Returns {"new", id} or, when the idempotency key was used before, {"dup", "<digest> <id>"}.
local bad = check_types("hsxzhhzh")
if bad then
  return redis.error_reply(bad)
end
if KEYS[3] ~= "" then
  local seen = redis.call("GET", KEYS[3])
  if seen then
    return {"dup", seen}
  end
end
redis.call("HSET", KEYS[1],
  "doc", ARGV[2], "status", "pending", "article", ARGV[3],
  "created", ARGV[4], "updated", ARGV[4])
redis.call("XADD", KEYS[2], "*", "id", ARGV[1])
redis.call("ZADD", KEYS[4], ARGV[4], ARGV[1])
redis.call("ZADD", KEYS[7], ARGV[4], ARGV[1])
redis.call("HINCRBY", KEYS[8], "pending", 1)
if KEYS[3] ~= "" then
  redis.call("SET", KEYS[3], ARGV[5] .. " " .. ARGV[1], "EX", ARGV[6])
end
redis.call("HINCRBY", KEYS[5], "accepted", 1)
redis.call("HINCRBY", KEYS[6], "accepted", 1)
redis.call("EXPIRE", KEYS[6], ARGV[7])
return {"new", ARGV[1]}
