-- The near-duplicate candidates of many comments in one reply (moderation.spam.duplicates.
-- near_duplicates, for the held queue's groups): for each comment, per band, the newest `count`
-- entries of its bucket within ± the window of its creation time, without repeats and without
-- its own ref. Reads only. The layout (time shards, generations of groups, 17-byte entries) is
-- spam_batch.lua's, which writes it; the two read it the same way.
--
-- KEYS: the LSH shard hashes.
-- ARGV[1] window ms   ARGV[2] shard width ms   ARGV[3] entries read per band (the newest)
-- ARGV[4] first generation's comments   ARGV[5] generation growth
-- ARGV[6] msgpack array of shards: {shard index, KEYS position}
-- ARGV[7] msgpack array of the comments' creation ms
-- ARGV[7 + i] the i-th comment's ref (8 bytes) then its band keys (band byte and bucket, 5 bytes
--   each): binary, so not in msgpack (the scripts' cmsgpack reads it only as text).
-- Returns one array of candidates (ref .. shard index) per comment.
local window, width, count = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local first, growth = tonumber(ARGV[4]), tonumber(ARGV[5])
local shard_list = cmsgpack.unpack(ARGV[6])
local comments = cmsgpack.unpack(ARGV[7])
local ENTRY = 17

local function generation(n)
  local g, start, size = 0, 0, first
  while n >= start + size do
    start = start + size
    size = size * growth
    g = g + 1
  end
  return g
end
local function field(g, key5)
  local b1, b2, b3, b4 = string.byte(key5, 2, 5)
  local bucket = ((b1 * 256 + b2) * 256 + b3) * 256 + b4
  return g .. ":" .. math.floor(bucket / (4294967296 / (first * growth ^ g)))
end

local shards = {}
for _, s in ipairs(shard_list) do
  local n = tonumber(redis.call("HGET", KEYS[s[2]], "n")) or 0
  if n > 0 then
    shards[tonumber(s[1])] = {key = KEYS[s[2]], gens = generation(n - 1), values = {}}
  end
end

local out = {}
for c, created in ipairs(comments) do
  local t, blob = tonumber(created), ARGV[7 + c]
  local ref, keys5 = string.sub(blob, 1, 8), {}
  for b = 1, (#blob - 8) / 5 do
    keys5[b] = string.sub(blob, 5 * b + 4, 5 * b + 8)
  end
  local lo, hi = math.floor((t - window) / width), math.floor((t + window) / width)
  local seen, found = {}, {}
  for _, key5 in ipairs(keys5) do
    local matches = {}
    for s = lo, hi do
      local shard = shards[s]
      if shard then
        for g = 0, shard.gens do
          local f = field(g, key5)
          local value = shard.values[f]
          if value == nil then
            value = redis.call("HGET", shard.key, f) or ""
            shard.values[f] = value
          end
          local init = 1
          while true do
            local pos = string.find(value, key5, init, true)
            if not pos then
              break
            end
            if (pos - 1) % ENTRY == 0 then
              local o1, o2, o3, o4 = string.byte(value, pos + 13, pos + 16)
              local at = s * width + ((o1 * 256 + o2) * 256 + o3) * 256 + o4
              if at >= t - window and at <= t + window then
                matches[#matches + 1] = {at, string.sub(value, pos + 5, pos + 12)}
              end
              init = pos + ENTRY
            else
              init = pos + 1
            end
          end
        end
      end
    end
    table.sort(matches, function(a, b)
      if a[1] ~= b[1] then
        return a[1] > b[1]
      end
      return a[2] > b[2]
    end)
    for i = 1, math.min(count, #matches) do
      local other = matches[i][2]
      if other ~= ref and not seen[other] then
        seen[other] = true
        found[#found + 1] = other .. math.floor(matches[i][1] / width)
      end
    end
  end
  out[c] = found
end
return out
