-- Read the same fields of many hashes in one call (one reply instead of one per hash).
--
-- KEYS[1..n] hashes   ARGV[1..m] field names
-- Returns one array of m values (nil for absent fields) per hash, in KEYS order.
local out = {}
for i, key in ipairs(KEYS) do
  out[i] = redis.call("HMGET", key, unpack(ARGV))
end
return out
