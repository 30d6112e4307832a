-- Read the spam model's learned weights of many features in one call (see spam/model.py).
--
-- The indices travel msgpack-encoded and the weights come back the same way: thousands of
-- features per batch cost one argument, not one each.
--
-- KEYS[1] weights hash   ARGV[1] msgpack array of feature indices
-- Returns a msgpack array of weights in the same order (0 for a feature never learned).
local index = cmsgpack.unpack(ARGV[1])
local n = #index
local out = {}
for first = 1, n, 1000 do
  local last = math.min(first + 999, n)
  local part = redis.call("HMGET", KEYS[1], unpack(index, first, last))
  for k = first, last do
    out[k] = tonumber(part[k - first + 1]) or 0
  end
end
return cmsgpack.pack(out)
