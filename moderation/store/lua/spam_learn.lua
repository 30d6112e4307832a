-- One step of the online spam model on one labelled example, atomically (see spam/model.py).
--
-- Reads the example's learned weights and squared-gradient sums, computes the model's
-- probability, then moves every weight against the log-loss gradient with a per-feature
-- AdaGrad step: step = rate * g / sqrt(damping + sum of g^2 so far, this one included).
-- Running in Redis makes each step atomic, so concurrent moderators' labels never interleave.
--
-- KEYS[1] weights hash   KEYS[2] squared-gradient hash   KEYS[3] model counters hash
-- ARGV[1] label: 1 spam, 0 ham   ARGV[2] learning rate   ARGV[3] damping of signal features
-- ARGV[4] damping of text features   ARGV[5] first text feature index   ARGV[6] logit clip
-- ARGV[7] msgpack array of feature indices   ARGV[8] msgpack array of their values
-- ARGV[9] msgpack array of their prior weights
--
-- Returns the probability the model gave the example before the step (a string).
local bad = check_types("hhh")
if bad then
  return redis.error_reply(bad)
end
local y, rate = tonumber(ARGV[1]), tonumber(ARGV[2])
local signal_damping, text_damping = tonumber(ARGV[3]), tonumber(ARGV[4])
local text_offset, clip = tonumber(ARGV[5]), tonumber(ARGV[6])
local index = cmsgpack.unpack(ARGV[7])
local value = cmsgpack.unpack(ARGV[8])
local prior = cmsgpack.unpack(ARGV[9])
local n = #index

-- HMGET in chunks: Lua's unpack() has a stack limit.
local function hmget(key)
  local out = {}
  for first = 1, n, 1000 do
    local last = math.min(first + 999, n)
    local part = redis.call("HMGET", key, unpack(index, first, last))
    for k = first, last do
      out[k] = tonumber(part[k - first + 1]) or 0
    end
  end
  return out
end

local weight, squares = hmget(KEYS[1]), hmget(KEYS[2])
local z = 0
for k = 1, n do
  z = z + (prior[k] + weight[k]) * value[k]
end
z = math.max(-clip, math.min(clip, z))
local p = 1 / (1 + math.exp(-z))
local err = p - y

if rate > 0 then
  local new_w, new_g = {}, {}
  for k = 1, n do
    local grad = err * value[k]
    if grad ~= 0 then
      local acc = squares[k] + grad * grad
      local damping = text_damping
      if index[k] < text_offset then
        damping = signal_damping
      end
      new_w[#new_w + 1] = index[k]
      new_w[#new_w + 1] = string.format("%.17g", weight[k] - rate * grad / math.sqrt(damping + acc))
      new_g[#new_g + 1] = index[k]
      new_g[#new_g + 1] = string.format("%.17g", acc)
    end
  end
  for first = 1, #new_w, 2000 do
    local last = math.min(first + 1999, #new_w)
    redis.call("HSET", KEYS[1], unpack(new_w, first, last))
    redis.call("HSET", KEYS[2], unpack(new_g, first, last))
  end
end
if y == 1 then
  redis.call("HINCRBY", KEYS[3], "spam", 1)
else
  redis.call("HINCRBY", KEYS[3], "ham", 1)
end
-- Workers cache weights per version: any change must bump it.
redis.call("HINCRBY", KEYS[3], "version", 1)
return string.format("%.17g", p)
