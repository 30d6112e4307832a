-- Append one audit entry and index it (used inside MULTI with the change it records).
--
-- KEYS[1] audit stream   KEYS[2..] index lists (newest first)
-- ARGV[1] entry JSON   ARGV[2] stream max length (0 = untrimmed)   ARGV[3] index cap
--
-- Returns the new stream id.
local bad = check_types("s" .. string.rep("l", #KEYS - 1))
if bad then
  return redis.error_reply(bad)
end
local entry
if tonumber(ARGV[2]) > 0 then
  entry = redis.call("XADD", KEYS[1], "MAXLEN", "~", ARGV[2], "*", "doc", ARGV[1])
else
  entry = redis.call("XADD", KEYS[1], "*", "doc", ARGV[1])
end
for i = 2, #KEYS do
  redis.call("LPUSH", KEYS[i], entry)
  redis.call("LTRIM", KEYS[i], 0, tonumber(ARGV[3]) - 1)
end
return entry
