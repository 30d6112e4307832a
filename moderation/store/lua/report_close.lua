-- Close every open report of a comment with one outcome, atomically: each report's
-- ``report.decided`` event goes onto the events stream (the site tells its reporter), then the
-- reports and the comment's place in the Reported queue are gone. A second call finds nothing.
--
-- KEYS[1] the comment's open reports hash   KEYS[2] reported zset   KEYS[3] events stream
-- ARGV[1] comment id   ARGV[2] outcome ("kept" | "removed")   ARGV[3] automated ("0" | "1")
-- ARGV[4] now ms   ARGV[5] events max length (approx.; 0 = untrimmed)   ARGV[6] decided by
-- ARGV[7] article id   ARGV[8] site (webhook endpoints limited to some sites filter on it)
--
-- Returns the list of closed report JSONs.
local bad = check_types("hzs")
if bad then
  return redis.error_reply(bad)
end
local reports = redis.call("HVALS", KEYS[1])
for _, doc in ipairs(reports) do
  local event = {"type", "report.decided", "id", ARGV[1], "article", ARGV[7], "site", ARGV[8],
    "report", doc,
    "outcome", ARGV[2], "automated", ARGV[3], "by", ARGV[6], "at", ARGV[4]}
  if tonumber(ARGV[5]) > 0 then
    redis.call("XADD", KEYS[3], "MAXLEN", "~", ARGV[5], "*", unpack(event))
  else
    redis.call("XADD", KEYS[3], "*", unpack(event))
  end
end
redis.call("DEL", KEYS[1])
redis.call("ZREM", KEYS[2], ARGV[1])
return reports
