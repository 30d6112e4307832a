-- A batch's shared spam state in one call: near-duplicate candidates (MinHash LSH), posting
-- velocity per author and per IP address, and the authors' tallies.
--
-- Velocity first: every comment's IP address is recorded (so comments of one batch see each
-- other), each IP set trimmed once to the batch's oldest window and its expiry refreshed once.
--
-- Near duplicates (layout: moderation.spam.duplicates). Comments are indexed in time shards of
-- `width` ms by creation time, one hash per shard (`lsh`) and one of signatures (`sig`). An LSH
-- hash's fields are groups of band buckets; a field's value is packed 17-byte entries
-- (band 1, bucket 4, comment ref 8, creation ms since the shard's start 4, big-endian); its field
-- "n" counts the comments indexed in it, which decides how many groups it has: its comments
-- fill generations of `first`, `first` * `growth`, ... comments, generation g having as many
-- groups as comments, so a group holds about 8 entries however full the shard. Reading every
-- field the batch needs is one HMGET per shard; the batch then works on those values in Lua and
-- writes each changed shard with one HSET at the end.
--
-- Per comment, in order: for every band, the entries of its bucket in every shard overlapping
-- ± the window of its creation time whose time is inside it, newest first (ties: higher ref
-- first), at most `limit` per band, are its candidates (never its own ref); then its entries are
-- added (an entry already there is not added twice) and its signature stored. A comment whose
-- signature is already stored unchanged (a retried batch) is not indexed again. A comment sees
-- those indexed before it in the same batch. Then its author's and IP's velocity: the other
-- comments within ± the velocity window of its creation time in its author's set (written by
-- submit.lua) and its IP's set (ZCOUNT, its own id not counted, capped at `cap`), and its
-- author's approved / rejected tallies.
--
-- A shard's keys get their expiry once, when first written: the end of the shard plus the window
-- and `margin`, counted from the creation time of the comment that created it when that is
-- earlier than now (a replay of old comments keeps them as long as live comments would be kept).
--
-- KEYS: as the plan names them by position.
-- ARGV[1] type spec, one letter per key (see check_types; "-": read only, unchecked)
-- ARGV[2] LSH window ms   ARGV[3] shard width ms   ARGV[4] expiry margin ms
-- ARGV[5] candidate limit per band   ARGV[6] velocity window ms   ARGV[7] IP sets' TTL (s)
-- ARGV[8] velocity cap   ARGV[9] first generation's comments   ARGV[10] generation growth
-- ARGV[11] msgpack array, per comment: {id, created ms, author set pos, author hash pos,
--   IP set pos (0: none), probe (0: not compared): the ARGV position of its probe}
-- ARGV[12] msgpack array of shards: {shard index, LSH hash pos, signature hash pos (0: the
--   batch writes no comment there)}, every shard overlapping a compared comment's window.
-- ARGV[13...] the probes (binary, so not in msgpack, which the scripts' cmsgpack reads only
--   as text): ref (8 bytes), the number of bands (1 byte), the band keys (band byte and
--   bucket, 5 bytes each), then the stored signature (the rest).
--
-- Returns per comment: {candidates (ref .. shard index, never its own), author rate, IP rate,
-- approved, rejected}.
local bad = check_types(ARGV[1])
if bad then
  return redis.error_reply(bad)
end
local window, width, margin = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local limit = tonumber(ARGV[5])
local vwindow, vttl, cap = tonumber(ARGV[6]), ARGV[7], tonumber(ARGV[8])
local first, growth = tonumber(ARGV[9]), tonumber(ARGV[10])
local rows = cmsgpack.unpack(ARGV[11])
local shard_list = cmsgpack.unpack(ARGV[12])
local ENTRY = 17

-- A probe's ref, band keys and stored signature, from its ARGV position.
local function probe_of(pos)
  local blob = ARGV[pos]
  local bands = string.byte(blob, 9)
  local keys5 = {}
  for b = 1, bands do
    keys5[b] = string.sub(blob, 5 * b + 5, 5 * b + 9)
  end
  return {string.sub(blob, 1, 8), string.sub(blob, 10 + 5 * bands), keys5}
end

local function ms(n)
  return string.format("%.0f", n)
end

-- 1. IP addresses, recorded for the whole batch before any read.
local ip_oldest = {}
for _, r in ipairs(rows) do
  local k, t = r[5], tonumber(r[2])
  if k > 0 then
    redis.call("ZADD", KEYS[k], ms(t), r[1])
    if not ip_oldest[k] or t < ip_oldest[k] then
      ip_oldest[k] = t
    end
  end
end
for k, t in pairs(ip_oldest) do
  redis.call("ZREMRANGEBYSCORE", KEYS[k], "-inf", "(" .. ms(t - vwindow))
  redis.call("EXPIRE", KEYS[k], vttl)
end

-- 2. The LSH shards: how many generations each has, and every field the batch reads there.
-- The generation of a shard's n-th comment (from 0) and its number of groups.
local function generation(n)
  local g, start, size = 0, 0, first
  while n >= start + size do
    start = start + size
    size = size * growth
    g = g + 1
  end
  return g, size
end
local sizes = {}
local function groups(g)
  local size = sizes[g]
  if not size then
    size = first * growth ^ g
    sizes[g] = size
  end
  return size
end
-- The field of a band key in generation g: its bucket's share of the generation's groups.
local function field(g, key5)
  local b1, b2, b3, b4 = string.byte(key5, 2, 5)
  local bucket = ((b1 * 256 + b2) * 256 + b3) * 256 + b4
  return g .. ":" .. math.floor(bucket / (4294967296 / groups(g)))
end

local shards = {}
for _, s in ipairs(shard_list) do
  local n = tonumber(redis.call("HGET", KEYS[s[2]], "n")) or 0
  shards[tonumber(s[1])] = {lsh = s[2], sig = s[3], n = n, gens = n > 0 and generation(n - 1) or -1,
    values = {}, dirty = {}, signatures = {}, stored = {}, oldest = nil}
end

local function window_of(t)
  return math.floor((t - window) / width), math.floor((t + window) / width)
end

local wanted = {}
local refs = {}
for _, r in ipairs(rows) do
  if r[6] ~= 0 then
    r[6] = probe_of(r[6])
  end
  local probe = r[6]
  if probe ~= 0 then
    local t = tonumber(r[2])
    local lo, hi = window_of(t)
    for s = lo, hi do
      local shard = shards[s]
      if shard and shard.gens >= 0 then
        local w = wanted[s] or {}
        wanted[s] = w
        for _, key5 in ipairs(probe[3]) do
          for g = 0, shard.gens do
            w[field(g, key5)] = true
          end
        end
      end
    end
    local own = math.floor(t / width)
    local rs = refs[own] or {}
    refs[own] = rs
    rs[#rs + 1] = probe[1]
  end
end
for s, w in pairs(wanted) do
  local names = {}
  for f in pairs(w) do
    names[#names + 1] = f
  end
  local shard = shards[s]
  for i = 1, #names, 1000 do
    local part = {unpack(names, i, math.min(i + 999, #names))}
    local got = redis.call("HMGET", KEYS[shard.lsh], unpack(part))
    for j, f in ipairs(part) do
      shard.values[f] = got[j] or ""
    end
  end
end
-- Signatures already stored (a retried batch, or an edited comment's earlier text).
for s, rs in pairs(refs) do
  local shard = shards[s]
  for i = 1, #rs, 1000 do
    local part = {unpack(rs, i, math.min(i + 999, #rs))}
    local got = redis.call("HMGET", KEYS[shard.sig], unpack(part))
    for j, ref in ipairs(part) do
      shard.stored[ref] = got[j]
    end
  end
end

-- The entries of `key5` in `value` (packed, see above), as {time, ref}, inside [lo, hi].
local function scan(value, key5, base, lo, hi, into)
  local init = 1
  while true do
    local pos = string.find(value, key5, init, true)
    if not pos then
      return
    end
    if (pos - 1) % ENTRY == 0 then
      local o1, o2, o3, o4 = string.byte(value, pos + 13, pos + 16)
      local at = base + ((o1 * 256 + o2) * 256 + o3) * 256 + o4
      if at >= lo and at <= hi then
        into[#into + 1] = {at, string.sub(value, pos + 5, pos + 12)}
      end
      init = pos + ENTRY
    else
      init = pos + 1
    end
  end
end

local function newest_first(a, b)
  if a[1] ~= b[1] then
    return a[1] > b[1]
  end
  return a[2] > b[2]
end

local function offset_bytes(n)
  return string.char(math.floor(n / 16777216) % 256, math.floor(n / 65536) % 256,
    math.floor(n / 256) % 256, n % 256)
end

-- The author's keys are only read here (submit.lua and transition.lua own them), so they are
-- not type-checked: a read of a key of the wrong type counts as nothing instead of failing
-- the batch. The comment's own id is in its IP set (written above) and normally in its
-- author's set (written by submit.lua).
local function others(k, id, t, own_known)
  local n = redis.pcall("ZCOUNT", KEYS[k], ms(t - vwindow), ms(t + vwindow))
  if type(n) ~= "number" then
    return 0
  end
  if n > 0 and (own_known or redis.call("ZSCORE", KEYS[k], id)) then
    n = n - 1
  end
  return math.min(n, cap)
end

local function tallies(k)
  local reply = redis.pcall("HMGET", KEYS[k], "approved", "rejected")
  if reply.err then
    return 0, 0
  end
  return tonumber(reply[1]) or 0, tonumber(reply[2]) or 0
end

-- 3. Per comment: LSH candidates and indexing, signature, velocity, tallies.
local out = {}
for p, r in ipairs(rows) do
  local id, t = r[1], tonumber(r[2])
  local found = {}
  local probe = r[6]
  if probe ~= 0 then
    local ref, stored, keys5 = probe[1], probe[2], probe[3]
    local lo, hi = window_of(t)
    local own_index = math.floor(t / width)
    local own = shards[own_index]
    local fresh = own.stored[ref] ~= stored
    local write_gen, offset
    if fresh then
      write_gen = generation(own.n)
      own.n = own.n + 1
      if write_gen > own.gens then
        own.gens = write_gen
      end
      offset = offset_bytes(t - own_index * width)
      own.signatures[#own.signatures + 1] = ref
      own.signatures[#own.signatures + 1] = stored
      own.stored[ref] = stored
      if not own.oldest or t < own.oldest then
        own.oldest = t
      end
    end
    local seen = {}
    for _, key5 in ipairs(keys5) do
      local matches = {}
      for s = lo, hi do
        local shard = shards[s]
        if shard then
          for g = 0, shard.gens do
            local value = shard.values[field(g, key5)]
            if value and value ~= "" then
              scan(value, key5, s * width, t - window, t + window, matches)
            end
          end
        end
      end
      table.sort(matches, newest_first)
      for i = 1, math.min(limit, #matches) do
        local other = matches[i][2]
        if other ~= ref and not seen[other] then
          seen[other] = true
          found[#found + 1] = other .. math.floor(matches[i][1] / width)
        end
      end
      if fresh then
        local f = field(write_gen, key5)
        local value = own.values[f] or ""
        local entry = key5 .. ref
        local at = string.find(value, entry, 1, true)
        while at and (at - 1) % ENTRY ~= 0 do
          at = string.find(value, entry, at + 1, true)
        end
        if not at then
          own.values[f] = value .. entry .. offset
          own.dirty[f] = true
        end
      end
    end
  end
  local approved, rejected = tallies(r[4])
  out[p] = {found, others(r[3], id, t, false), r[5] > 0 and others(r[5], id, t, true) or 0,
    approved, rejected}
end

-- 4. Write each changed shard once; a key created now gets its expiry.
local now = redis.call("TIME")
now = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local function expire_new(key, index, oldest)
  if redis.call("PTTL", key) == -1 then
    local ends = (index + 1) * width + window + margin
    redis.call("PEXPIRE", key, ms(math.max(ends - math.min(now, oldest), 1000)))
  end
end
for index, shard in pairs(shards) do
  if shard.oldest then
    local args = {"n", shard.n}
    for f in pairs(shard.dirty) do
      args[#args + 1] = f
      args[#args + 1] = shard.values[f]
    end
    for i = 1, #args, 2000 do
      redis.call("HSET", KEYS[shard.lsh], unpack(args, i, math.min(i + 1999, #args)))
    end
    local sigs = shard.signatures
    for i = 1, #sigs, 2000 do
      redis.call("HSET", KEYS[shard.sig], unpack(sigs, i, math.min(i + 1999, #sigs)))
    end
    expire_new(KEYS[shard.lsh], index, shard.oldest)
    expire_new(KEYS[shard.sig], index, shard.oldest)
  end
end
return out
