-- Read the spam model's learned weights of many features in one call (see spam/model.py).
--
-- The indices travel msgpack-encoded and the weights come back the same way: thousands of
-- features per batch cost one argument, not one each.
--
-- A young model has learned few weights, and Redis keeps a hash that small as a listpack,
-- where a field is found by walking the whole list: HMGET of a batch's hundreds of features,
-- nearly all absent, walked it once per feature (measured with callgrind: a fifth of Redis'
-- work per decided comment, at 12,000 instructions a lookup). Such a hash, or one no larger
-- than the lookups, is read whole instead and the features looked up in a Lua table.
--
-- KEYS[1] weights hash   ARGV[1] msgpack array of feature indices
-- Returns a msgpack array of weights in the same order (0 for a feature never learned).
local index = cmsgpack.unpack(ARGV[1])
local n = #index
local out = {}
local size = redis.call("HLEN", KEYS[1])
if size <= math.max(128, n) then
  -- Keyed by number: a number's tostring() is a float formatting (_prelude.lua, int()).
  local known = {}
  if size > 0 then
    local all = redis.call("HGETALL", KEYS[1])
    for i = 1, #all, 2 do
      known[tonumber(all[i])] = tonumber(all[i + 1])
    end
  end
  for k = 1, n do
    out[k] = known[index[k]] or 0
  end
  return cmsgpack.pack(out)
end
for first = 1, n, 1000 do
  local last = math.min(first + 999, n)
  local part = redis.call("HMGET", KEYS[1], unpack(index, first, last))
  for k = first, last do
    out[k] = tonumber(part[k - first + 1]) or 0
  end
end
return cmsgpack.pack(out)
