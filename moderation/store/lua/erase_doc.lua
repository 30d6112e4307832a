-- Replace a comment's submission document with its anonymised form (erasure of an author),
-- only if the comment hash still exists: a hash that left Redis meanwhile is not recreated.
--
-- KEYS[1] comment hash
-- ARGV[1] the "doc" field   ARGV[2] the anonymised document
--
-- Returns 1 when replaced, 0 when the hash is gone.
local bad = check_types("h")
if bad then
  return redis.error_reply(bad)
end
if redis.call("EXISTS", KEYS[1]) == 0 then
  return 0
end
redis.call("HSET", KEYS[1], ARGV[1], ARGV[2])
return 1
