-- The near-duplicate index's groups that hold the buckets of some comments (moderation.spam.
-- duplicates.near_duplicates, for the held queue's groups), as spam_batch.lua returns them: the
-- caller picks the candidates. Reads only. Layout: spam_batch.lua and moderation.spam.lsh.
--
-- KEYS: the LSH shard hashes.
-- ARGV[1] first generation's comments   ARGV[2] generation growth   ARGV[3] `depth`
-- ARGV[4] msgpack array of shards: {shard index, KEYS position}
-- ARGV[5...] the comments' field keys (17 characters each, concatenated), per shard in
--   ARGV[4]'s order: those of the comments whose window it overlaps.
-- Returns per shard that has comments {shard index, n, {field, value, field, value, ...}, f}
-- (non-empty groups of the generations from "f", the oldest not folded away, to the newest:
-- spam_batch.lua's reply has the same shape).
local first, growth, depth = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local shard_list = cmsgpack.unpack(ARGV[4])
local FIELD_KEY = 17

local function generation(n)
  return lsh_generation(n, first, growth)
end

local out = {}
for i, s in ipairs(shard_list) do
  local key = KEYS[s[2]]
  local state = redis.call("HMGET", key, "n", "f")
  local n, folded = tonumber(state[1]) or 0, tonumber(state[2]) or 0
  if n > 0 then
    local gens = generation(n - 1)
    local blob = ARGV[4 + i]
    local names, wanted = {}, {}
    for at = 1, #blob, FIELD_KEY do
      local fk = string.sub(blob, at, at + FIELD_KEY - 1)
      lsh_group_names(fk, folded, gens, depth, names, wanted)
    end
    local extra = {}
    for j = 1, #names, 1000 do
      local part = {unpack(names, j, math.min(j + 999, #names))}
      local got = redis.call("HMGET", key, unpack(part))
      for k, f in ipairs(part) do
        if got[k] then
          extra[#extra + 1] = f
          extra[#extra + 1] = got[k]
        end
      end
    end
    out[#out + 1] = {s[1], n, extra, folded}
  end
end
return out
