-- Move one decided comment out of Redis (retention): its record in SQL is then the only copy.
--
-- Applies only while the comment is still as the caller saw it archived: status decided
-- (approved, rejected or deleted; never pending or held) and "updated" ("u") equal to the time of the
-- transition the record holds, so a comment changed since (a moderator's action, an edit) stays
-- until the record has that change too. Counts stay exact: an approved comment leaves the
-- article's approved set and adds one to the article's archived count in this same script, so
-- Store.counts (ZCARD + archived count) does not move. The author's per-status tallies stay (they
-- count every comment ever); the author's comment list forgets it (history falls through to SQL).
-- Thread sets keep their ids (thread listings read swept comments from the record).
--
-- KEYS[1] comment hash   KEYS[2] article approved zset   KEYS[3] archived-counts hash
-- KEYS[4] author's comments zset
-- ARGV[1] comment id   ARGV[2] the archived transition's time (ms)   ARGV[3] article id
--
-- Returns 1 when the comment left Redis, 0 when it stays (changed, undecided or gone).
local bad = check_types("hzhz")
if bad then
  return redis.error_reply(bad)
end
local row = redis.call("HMGET", KEYS[1], "s", "u")  -- CommentField: status, updated
local status, updated = row[1], row[2]
if status ~= "approved" and status ~= "rejected" and status ~= "deleted" then
  return 0
end
if updated ~= ARGV[2] then
  return 0
end
if redis.call("ZREM", KEYS[2], ARGV[1]) == 1 then
  redis.call("HINCRBY", KEYS[3], ARGV[3], 1)
end
redis.call("ZREM", KEYS[4], ARGV[1])
redis.call("DEL", KEYS[1])
return 1
