-- The near-duplicate candidates of many comments in one reply: for each comment, the newest
-- ids of its band buckets, without repeats (moderation.spam.duplicates.near_duplicates, for
-- the held queue's groups). Reads only.
--
-- KEYS: the band buckets (sorted sets), ARGV[1] per comment, in comment order.
-- ARGV[1] buckets per comment, ARGV[2] ids read per bucket (the newest).
-- Returns one array of ids per comment.
local per = tonumber(ARGV[1])
local count = tonumber(ARGV[2])
local out = {}
for c = 0, #KEYS / per - 1 do
  local seen, ids = {}, {}
  for b = 1, per do
    for _, id in ipairs(redis.call("ZRANGE", KEYS[c * per + b], -count, -1)) do
      if not seen[id] then
        seen[id] = true
        ids[#ids + 1] = id
      end
    end
  end
  out[c + 1] = ids
end
return out
