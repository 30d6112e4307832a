-- Prepended to every script by moderation.store.codec.lua_source: what the scripts share. First
-- the check every writing script runs before its first write. A Redis script that fails halfway keeps the writes it
-- made, so a key of the wrong type must be found while nothing has been written yet.
--
-- check_types(spec, first): spec has one letter per key from KEYS[first] on (h hash, s stream,
-- x string, z sorted set, l list, t set, - unchecked); "" keys are skipped. Returns nil when
-- every key is absent or of its type, else a message naming the first key that is not.
local TYPE_NAMES = {h = "hash", s = "stream", x = "string", z = "zset", l = "list", t = "set"}
local function check_types(spec, first)
  first = first or 1
  for i = 1, #spec do
    local want = TYPE_NAMES[string.sub(spec, i, i)]
    local key = KEYS[first + i - 1]
    if want and key and key ~= "" then
      local got = redis.call("TYPE", key)["ok"]
      if got ~= "none" and got ~= want then
        return "WRONGTYPE key " .. key .. " holds a " .. got .. ", expected a " .. want
      end
    end
  end
  return nil
end

-- lsh_generation(n, first, growth): the generation of a near-duplicate shard's n-th comment
-- (from 0), when generation 0 holds `first` comments and each next one `growth` times more
-- (spam_batch.lua and lsh_members.lua; moderation.spam.lsh.generation in Python).
local function lsh_generation(n, first, growth)
  local g, start, size = 0, 0, first
  while n >= start + size do
    start = start + size
    size = size * growth
    g = g + 1
  end
  return g
end

-- lsh_group_names(fk, from, to, depth, names, wanted): append to the list `names` the groups of
-- field key `fk` in generations `from` to `to` (its first depth + g + 1 characters), each once
-- (`wanted` is the set of those already listed).
local function lsh_group_names(fk, from, to, depth, names, wanted)
  for g = from, to do
    local f = string.sub(fk, 1, depth + g + 1)
    if not wanted[f] then
      wanted[f] = true
      names[#names + 1] = f
    end
  end
end

-- int(n): an integer's decimal digits. Lua 5.1 turns a number into a string with "%.14g", glibc's
-- float formatting (about 3,000 instructions, counted with callgrind; "%d" takes about a third of
-- that): a number passed to redis.call or joined with `..` is converted that way, and the scripts
-- that run per comment made several such conversions for each. Numbers they pass are turned
-- into strings here (or are their callers' strings, passed on as they came).
local function int(n)
  return string.format("%d", n)
end

-- decided_record(id, status, updated, decision): a transition's record on the decided channel,
-- "<id> <status> <updated ms> <decision length> <decision blob>" (the length says where the
-- binary blob ends, so records can follow each other in one message: store.waiters reads them).
local function decided_record(id, status, updated, decision)
  return id .. " " .. status .. " " .. updated .. " " .. int(#decision) .. " " .. decision
end
