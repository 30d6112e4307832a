-- A batch's shared spam state in one call: the near-duplicate index (MinHash LSH) read and
-- written, posting velocity per author and per IP address, and the authors' tallies.
--
-- Velocity first: every comment's IP address is recorded (so comments of one batch see each
-- other), each IP set trimmed once to the batch's oldest window and its expiry refreshed once.
--
-- Near duplicates (layout: moderation.spam.lsh). Comments are indexed in time shards of
-- `width` ms by creation time, one hash per shard (`lsh`) and one of signatures (`sig`). An LSH
-- hash's fields are groups of band buckets; a value is packed 14-byte entries (bucket 4, comment
-- ref 6, creation ms since the shard's start 4, big-endian; the band is the field's first
-- letter); field "n" counts the
-- comments indexed in the shard, which decides how many generations of groups it has (the
-- n-th comment's generation: the comments fill `first`, `first` * `growth`, ... in turn). A
-- band's group in generation g is the first `depth` + g + 1 characters of its field key
-- (band letter, then the bucket in base-4 digits), so each generation has `growth` times the
-- groups of the one before and a group holds about 32 entries however full the shard.
--
-- Older generations are folded into newer ones as the shard fills (5.), so a lookup reads one
-- or two generations however many the shard has had: field "f" is the oldest generation that
-- still has groups (absent: 0), field "c" how many of its group names have been moved into the
-- next generation so far. A group moved is split into its `growth` children by the bucket's
-- next base-4 digit and its entries put before each child's own (they are older), so reading a
-- group from its end still gives its bucket's entries newest first.
--
-- The caller reads the groups of the batch's buckets in every shard overlapping ± the window of
-- a compared comment, in the generations the shard had when it last saw it (from its "f" to the
-- generation of its count), with one HMGET per shard queued just before this script in the same
-- MULTI (so they see the index as this script finds it, at C speed: values read through Lua
-- would cost a Lua string each way). If the shard has other generations by now, the script
-- reads and returns those groups. Which
-- entries are candidates is worked out by the caller from that (newest first per bucket, inside
-- the window, the batch's earlier comments included): Redis stores, workers compute. Then the
-- batch's entries are appended (one HMGET of the groups written and one HSET per shard). A
-- comment whose signature is already stored unchanged (a retried batch) is not indexed again.
-- A group longer than `trim_at` bytes keeps the newest `bucket_cap` entries of each bucket (a
-- campaign's bucket would grow by one entry per copy; readers want the newest few).
--
-- A shard's keys get their expiry once, when first written: the end of the shard plus the window
-- and `margin`, counted from the creation time of the comment that created it when that is
-- earlier than now (a replay of old comments keeps them as long as live comments would be kept).
--
-- Then per comment: the other comments within ± the velocity window of its creation time in its
-- author's set (written by submit.lua) and its IP's set (ZCOUNT, its own id not counted, capped
-- at `cap`), and its author's approved / rejected tallies.
--
-- KEYS: as the plan names them by position.
-- ARGV[1] type spec, one letter per key (see check_types; "-": read only, unchecked)
-- ARGV[2] LSH window ms   ARGV[3] shard width ms   ARGV[4] expiry margin ms
-- ARGV[5] velocity window ms   ARGV[6] IP sets' TTL (s)   ARGV[7] velocity cap
-- ARGV[8] first generation's comments   ARGV[9] generation growth (4: one base-4 digit more)
-- ARGV[10] `depth`: base-4 digits of the first generation's groups
-- ARGV[11] `trim_at` (bytes)   ARGV[12] `bucket_cap` (entries)
-- ARGV[13] `fold_rate`: group names moved per comment indexed (see 5.)
-- ARGV[14] msgpack array, per comment: {id, created ms, author set pos, author hash pos,
--   IP set pos (0: none), probe (0: not compared): the ARGV position of its probe, its member
--   in the IP set (moderation.spam.velocity.ip_member)}
-- ARGV[15] msgpack array of shards: {shard index, LSH hash pos, signature hash pos (0: the
--   batch writes no comment there), the last generation the caller read (-1: none), the ARGV
--   position of the batch's entries grouped for it (0: none; see 3.), the first generation the
--   caller read}, every shard overlapping a compared comment's window.
-- ARGV[16...] the grouped entries (msgpack, binary strings as msgpack strings), then the
--   probes (binary, so not in msgpack, which the scripts' cmsgpack reads only
--   as text): ref (6 bytes), creation ms since its shard's start (4 bytes), the number of
--   bands (1 byte), per band its bucket (4 bytes) and field key (17 characters), then the
--   stored signature (the rest).
--
-- Returns {per comment {author rate, IP rate, approved, rejected}, per shard {shard index, its
-- "n" before the batch, {field, value, ... of the generations the caller did not read}, its "f"
-- before the batch}}.
local bad = check_types(ARGV[1])
if bad then
  return redis.error_reply(bad)
end
local window, width, margin = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local vwindow, vttl, cap = tonumber(ARGV[5]), ARGV[6], tonumber(ARGV[7])
local first, growth, depth = tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10])
local trim_at, bucket_cap = tonumber(ARGV[11]), tonumber(ARGV[12])
local fold_rate = tonumber(ARGV[13])
local rows = cmsgpack.unpack(ARGV[14])
local shard_list = cmsgpack.unpack(ARGV[15])
local ENTRY = 14
local BAND = 21

local ms = int

-- 1. IP addresses, recorded for the whole batch before any read.
local ip_oldest = {}
for _, r in ipairs(rows) do
  local k, t = r[5], tonumber(r[2])
  if k > 0 then
    redis.call("ZADD", KEYS[k], ms(t), r[7])
    if not ip_oldest[k] or t < ip_oldest[k] then
      ip_oldest[k] = t
    end
  end
end
for k, t in pairs(ip_oldest) do
  redis.call("ZREMRANGEBYSCORE", KEYS[k], "-inf", "(" .. ms(t - vwindow))
  redis.call("EXPIRE", KEYS[k], vttl)
end

-- 2. The LSH shards as they are before the batch.
-- The generation of a shard's n-th comment (from 0).
local function generation(n)
  return lsh_generation(n, first, growth)
end

local probes = {}
for _, r in ipairs(rows) do
  if r[6] ~= 0 then
    local blob = ARGV[r[6]]
    local bands = string.byte(blob, 11)
    local probe = {ref = string.sub(blob, 1, 6), stored = string.sub(blob, 12 + BAND * bands),
      blob = blob, bands = bands, t = tonumber(r[2])}
    r[6] = probe
    probes[#probes + 1] = probe
  end
end

-- A probe's buckets, field keys and entry tail (ref and time), read from its blob when needed
-- (a batch the caller grouped right needs none of them).
local function unpack_probe(probe)
  if not probe.fields then
    local blob = probe.blob
    probe.buckets, probe.fields, probe.tail = {}, {}, string.sub(blob, 1, 10)
    for b = 1, probe.bands do
      local at = 12 + BAND * (b - 1)
      probe.buckets[b] = string.sub(blob, at, at + 3)
      probe.fields[b] = string.sub(blob, at + 4, at + BAND - 1)
    end
  end
  return probe
end

local function hmget(key, names)
  local got = {}
  for i = 1, #names, 1000 do
    local part = redis.call("HMGET", key, unpack(names, i, math.min(i + 999, #names)))
    for j = 1, #part do
      got[i + j - 1] = part[j]
    end
  end
  return got
end

local shards = {}
local before = {}
for _, p in ipairs(shard_list) do
  local index, key = tonumber(p[1]), KEYS[p[2]]
  local state = redis.call("HMGET", key, "n", "f")
  local n, folded = tonumber(state[1]) or 0, tonumber(state[2]) or 0
  local gens = n > 0 and generation(n - 1) or -1
  shards[index] = {lsh = p[2], sig = p[3], n = n, values = {}, writes = {}, signatures = {},
    stored = {}, oldest = nil, grouped = p[5], fresh = 0, stale = false, folded = folded}
  local extra = {}
  local read_from, read_to = p[6], p[4]
  if gens >= 0 and (gens > read_to or folded < read_from) then
    -- Generations the caller did not read (added, or a shard it saw fold further than this
    -- one has: recreated): their groups of every bucket of the comments whose window
    -- overlaps it.
    local names, wanted = {}, {}
    for _, probe in ipairs(probes) do
      if math.floor((probe.t - window) / width) <= index
        and math.floor((probe.t + window) / width) >= index then
        for _, fk in ipairs(unpack_probe(probe).fields) do
          if read_to < 0 then
            lsh_group_names(fk, folded, gens, depth, names, wanted)
          else
            lsh_group_names(fk, math.max(folded, read_to + 1), gens, depth, names, wanted)
            lsh_group_names(fk, folded, math.min(gens, read_from - 1), depth, names, wanted)
          end
        end
      end
    end
    local values = hmget(key, names)
    for i, f in ipairs(names) do
      if values[i] then
        extra[#extra + 1] = f
        extra[#extra + 1] = values[i]
      end
    end
  end
  before[#before + 1] = {index, n, extra, folded}
end

-- Signatures already stored (a retried batch, or an edited comment's earlier text).
local refs = {}
for _, probe in ipairs(probes) do
  local own = math.floor(probe.t / width)
  local rs = refs[own] or {}
  refs[own] = rs
  rs[#rs + 1] = probe.ref
end
for s, rs in pairs(refs) do
  local shard = shards[s]
  local got = hmget(KEYS[shard.sig], rs)
  for j, ref in ipairs(rs) do
    shard.stored[ref] = got[j]
  end
end

-- `value` keeping the newest `bucket_cap` entries of each bucket (ties: the later one).
local function trim(value)
  local by_key = {}
  for pos = 1, #value - ENTRY + 1, ENTRY do
    local bucket = string.sub(value, pos, pos + 3)
    local list = by_key[bucket]
    if not list then
      list = {}
      by_key[bucket] = list
    end
    list[#list + 1] = pos
  end
  local drop = {}
  for _, list in pairs(by_key) do
    if #list > bucket_cap then
      local timed = {}
      for i, pos in ipairs(list) do
        local o1, o2, o3, o4 = string.byte(value, pos + 10, pos + 13)
        timed[i] = {((o1 * 256 + o2) * 256 + o3) * 256 + o4, pos}
      end
      table.sort(timed, function(a, b)
        if a[1] ~= b[1] then
          return a[1] < b[1]
        end
        return a[2] < b[2]
      end)
      for i = 1, #timed - bucket_cap do
        drop[timed[i][2]] = true
      end
    end
  end
  local kept = {}
  for pos = 1, #value - ENTRY + 1, ENTRY do
    if not drop[pos] then
      kept[#kept + 1] = string.sub(value, pos, pos + ENTRY - 1)
    end
  end
  return table.concat(kept)
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

-- 3. The batch's entries. The caller sends, per shard written, the batch's entries already
-- grouped by the field they go to (`grouped`: {generation, {fields}, {entries appended to
-- each}}), right when every comment of the batch there is new and goes to that generation; else
-- each comment's fields are worked out here in turn (a shard's next comment may start a new
-- generation).
for _, probe in ipairs(probes) do
  local t = probe.t
  local own = shards[math.floor(t / width)]
  if own.stored[probe.ref] ~= probe.stored then
    own.fresh = own.fresh + 1
    own.signatures[#own.signatures + 1] = probe.ref
    own.signatures[#own.signatures + 1] = probe.stored
    own.stored[probe.ref] = probe.stored
    if not own.oldest or t < own.oldest then
      own.oldest = t
    end
  else
    probe.skip = true
    own.stale = true
  end
end
local grouped_ok = {}
for index, shard in pairs(shards) do
  if shard.fresh > 0 and shard.grouped > 0 and not shard.stale then
    local plan = cmsgpack.unpack(ARGV[shard.grouped])
    local g = plan[1]
    if generation(shard.n) == g and generation(shard.n + shard.fresh - 1) == g then
      grouped_ok[index] = true
      shard.n = shard.n + shard.fresh
      shard.names, shard.suffixes = plan[2], plan[3]
    end
  end
end
for _, probe in ipairs(probes) do
  local index = math.floor(probe.t / width)
  local own = shards[index]
  if not probe.skip and not grouped_ok[index] then
    unpack_probe(probe)
    local length = depth + generation(own.n) + 1
    own.n = own.n + 1
    local writes = own.writes
    for b, bucket in ipairs(probe.buckets) do
      writes[#writes + 1] = string.sub(probe.fields[b], 1, length)
      writes[#writes + 1] = bucket .. probe.tail
    end
  end
end
-- A group's value with `more` entries appended, trimmed once it passes `trim_at` bytes.
local function appended(value, more)
  value = value .. more
  if #value > trim_at then
    return trim(value)
  end
  return value
end

for index, shard in pairs(shards) do
  if grouped_ok[index] then
    local names, suffixes = shard.names, shard.suffixes
    local got = hmget(KEYS[shard.lsh], names)
    local values = shard.values
    for i, f in ipairs(names) do
      values[f] = appended(got[i] or "", suffixes[i])
    end
    shard.dirty = names
  elseif #shard.writes > 0 then
    local writes = shard.writes
    local names, seen = {}, {}
    for i = 1, #writes, 2 do
      local f = writes[i]
      if not seen[f] then
        seen[f] = true
        names[#names + 1] = f
      end
    end
    local got = hmget(KEYS[shard.lsh], names)
    local values = shard.values
    for i, f in ipairs(names) do
      values[f] = got[i] or ""
    end
    for i = 1, #writes, 2 do
      local f = writes[i]
      values[f] = appended(values[f], writes[i + 1])
    end
    shard.dirty = names
  end
end

-- Per comment: velocity and tallies.
local out = {}
for p, r in ipairs(rows) do
  local id, t = r[1], tonumber(r[2])
  local approved, rejected = tallies(r[4])
  out[p] = {others(r[3], id, t, false), r[5] > 0 and others(r[5], id, t, true) or 0,
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
    local args = {"n", int(shard.n)}
    for _, f in ipairs(shard.dirty) do
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

-- 5. Fold: in each shard written, while it has groups in a generation older than its newest,
-- move `fold_rate` group names per comment indexed from the oldest generation f into f + 1
-- (the names in a fixed order: band letter, then the base-4 digits counted up; field "c" says
-- how far). A moved group's entries go before those of its children (they are older) and the
-- group is deleted. Generation f + 1 holds `growth` times the comments of f, so at a rate of
-- one name per comment f is gone a quarter of the way into f + 1, and a lookup reads at most
-- two generations of a shard. Each entry moves once per generation the shard starts after its
-- own: about a third of a group per comment over a shard's life, in steps of a batch's size.
-- A base-4 digit's character, looked up: tostring() of a number formats it as a float (int()).
local DIGIT = {[0] = "0", "1", "2", "3"}
local function group_name(c, digits, per_band)
  local band, rest = math.floor(c / per_band), c % per_band
  local out = {string.char(97 + band)}
  for k = digits, 1, -1 do
    local unit = 4 ^ (k - 1)
    out[#out + 1] = DIGIT[math.floor(rest / unit) % 4]
  end
  return table.concat(out)
end

local function fold(key, f, n, budget, bands)
  if n == 0 or f >= generation(n - 1) then
    return
  end
  local c = tonumber(redis.call("HGET", key, "c")) or 0
  local digits = depth + f                -- base-4 digits of a generation-f group's name
  local per_band = 4 ^ digits
  local total = bands * per_band
  local names = {}
  while budget > 0 and c < total do
    names[#names + 1] = group_name(c, digits, per_band)
    c = c + 1
    budget = budget - 1
  end
  -- The child of an entry: its bucket's base-4 digit number `digits` (from 0), in the bucket's
  -- (and the entry's, which starts with it) byte 1 + digits // 4, two bits from the top.
  local byte_at = 1 + math.floor(digits / 4)
  local unit = 4 ^ (3 - digits % 4)
  local got = hmget(key, names)
  local moved, children, parts = {}, {}, {}
  for i, name in ipairs(names) do
    local value = got[i]
    if value then
      moved[#moved + 1] = name
      local split = {}
      for pos = 1, #value - ENTRY + 1, ENTRY do
        local d = math.floor(string.byte(value, pos + byte_at - 1) / unit) % 4
        local list = split[d]
        if not list then
          list = {}
          split[d] = list
        end
        list[#list + 1] = string.sub(value, pos, pos + ENTRY - 1)
      end
      for d = 0, 3 do
        if split[d] then
          children[#children + 1] = name .. DIGIT[d]
          parts[#parts + 1] = table.concat(split[d])
        end
      end
    end
  end
  local args = {}
  if #children > 0 then
    local existing = hmget(key, children)
    for i, child in ipairs(children) do
      args[#args + 1] = child
      args[#args + 1] = appended(parts[i], existing[i] or "")
    end
  end
  if c >= total then
    f, c = f + 1, 0
  end
  args[#args + 1] = "f"
  args[#args + 1] = int(f)
  args[#args + 1] = "c"
  args[#args + 1] = int(c)
  for i = 1, #args, 2000 do
    redis.call("HSET", key, unpack(args, i, math.min(i + 1999, #args)))
  end
  for i = 1, #moved, 1000 do
    redis.call("HDEL", key, unpack(moved, i, math.min(i + 999, #moved)))
  end
end

if fold_rate > 0 then
  for _, shard in pairs(shards) do
    if shard.oldest then
      fold(KEYS[shard.lsh], shard.folded, shard.n, shard.fresh * fold_rate, probes[1].bands)
    end
  end
end
return {out, before}
