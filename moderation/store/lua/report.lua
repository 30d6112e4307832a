-- File one reader report on a comment, atomically: at most one per reporter and comment,
-- at most ARGV[5] per reporter and window; the comment joins (or climbs) the Reported queue.
--
-- KEYS[1] the comment's open reports hash (reporter -> report JSON)   KEYS[2] reported zset
-- KEYS[3] the reporter's rate counter (string with a TTL)   KEYS[4] events stream
-- ARGV[1] comment id   ARGV[2] reporter (keyed hash)   ARGV[3] report JSON
-- ARGV[4] risk in [0, 1) (ties between equal counts)   ARGV[5] rate max   ARGV[6] window (s)
-- ARGV[7] the report as archived (JSON without the notifier's name and e-mail)
-- ARGV[8] events max length (approx.; 0 = untrimmed)   ARGV[9] article id   ARGV[10] site
--
-- A filed report emits a ``report.filed`` event in the same step (the archiver keeps every
-- notice in the record, the transparency report counts them).
--
-- Returns {"ok", open reports} | {"duplicate", the first report's JSON} | {"rate", ttl s}.
local bad = check_types("hzxs")
if bad then
  return redis.error_reply(bad)
end
local earlier = redis.call("HGET", KEYS[1], ARGV[2])
if earlier then
  return {"duplicate", earlier}
end
local used = tonumber(redis.call("GET", KEYS[3]) or "0")
if used >= tonumber(ARGV[5]) then
  return {"rate", redis.call("TTL", KEYS[3])}
end
if redis.call("INCR", KEYS[3]) == 1 then
  redis.call("EXPIRE", KEYS[3], ARGV[6])
end
redis.call("HSET", KEYS[1], ARGV[2], ARGV[3])
local open = redis.call("HLEN", KEYS[1])
local event = {"type", "report.filed", "id", ARGV[1], "article", ARGV[9], "site", ARGV[10],
  "report", ARGV[7]}
if tonumber(ARGV[8]) > 0 then
  redis.call("XADD", KEYS[4], "MAXLEN", "~", ARGV[8], "*", unpack(event))
else
  redis.call("XADD", KEYS[4], "*", unpack(event))
end
redis.call("ZADD", KEYS[2], open + tonumber(ARGV[4]), ARGV[1])
return {"ok", open}
