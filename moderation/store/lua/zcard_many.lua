-- ZCARD of every key, in one reply: reading counts for a front page of articles costs the
-- client one reply to parse instead of one per article (see Store.counts). Reads only.
--
-- KEYS: sorted sets.   Returns their sizes, in order (0 for an absent key).
local out = {}
for i = 1, #KEYS do
  out[i] = redis.call("ZCARD", KEYS[i])
end
return out
