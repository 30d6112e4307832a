-- Write a whole batch of automatic decisions (pending -> approved / held / rejected) in one call.
--
-- The worker's hot path. Every comment gets exactly the effects transition.lua gives an
-- automatic decision out of "pending" (status and decision fields, auto decision dropped, approved and
-- held sets, author tallies, one event, its record on the decided channel, counters, latency
-- sample), but what the batch shares is written once: one ZREM from the pending set, one ZADD
-- per held queue, each counter incremented once by its total, each expiry and trim set once,
-- and one PUBLISH carrying every comment's record (store.waiters). A comment no longer
-- pending (a redelivery) changes nothing, as in transition.lua. tests/test_pipeline_batch.py
-- compares both scripts' effects on the same stream: a change to one must be mirrored here.
--
-- A decision out of "pending" only adds: a pending comment is in none of its article's
-- approved, held and thread-replies sets, and a top-level one is a thread root exactly when its
-- thread holds an approved reply. submit.lua creates a comment outside them, and transition.lua,
-- the one other way into "pending" (an edit), takes the comment out of them in the same step
-- (its "else" branches), and keeps a root listed only while its replies set is not empty. So
-- where transition.lua removes (ZREM from the approved set, the held sets and the replies
-- set, a root unlisted), this script has nothing to remove, and it skips those commands: a
-- comment approved here is added to its approved set and its thread's sets, one held to the
-- held sets, and a rejected one touches none of them.
--
-- Every key the call writes is type-checked before the first write; a batch with one bad key
-- is refused as a whole (the worker then writes its comments one by one with transition.lua,
-- which isolates the culprit). Keys the call does not write (a held comment's approved and
-- thread sets, an approved comment's held set) are not checked. The comment hashes are checked
-- by their own reads: every one is read (HMGET) in a first pass, before any write, so a hash
-- of the wrong type fails the call while nothing is written yet, as a TYPE check would,
-- without the command per comment.
--
-- The worker's stream entries are acknowledged here too (XACK, once the call's transitions
-- ran): in the same call, so a refused call acknowledges nothing, and the batch needs no round
-- trip of its own for them.
--
-- KEYS[1] held zset (by age)   KEYS[2] held zset (by risk)   KEYS[3] pending zset
-- KEYS[4] events stream   KEYS[5] counters hash   KEYS[6] this minute's counters hash
-- KEYS[7] auto-latency list   KEYS[8] held-counts hash (as transition.lua's KEYS[15])
-- KEYS[9] held-articles zset (as transition.lua's KEYS[17])   KEYS[10] the comments stream
-- (whose entries ARGV[6]'s group acknowledges); then per comment i (from 0), at 11 + 6i:
-- comment hash, article approved zset, article held zset, author hash, article thread roots
-- zset, the thread's approved replies zset (as transition.lua's KEYS[13] and KEYS[14]).
-- ARGV[1] decided channel   ARGV[2] events max length (approx.; 0 = untrimmed)   ARGV[3] minute-counter TTL (s)
-- ARGV[4] actor ("auto" or "system")   ARGV[5] the comments' site (a call is one site's: the
-- held counts and the article and author keys are that site's; the event names it, as
-- transition.lua's ARGV[20])   ARGV[6] the consumer group acknowledging entries of KEYS[10]
-- ("" = none); then per comment i, at 7 + 11i: comment id, new status,
-- decision (store.decisions blob), now ms, risk, reason code ("" = none), thread root id ("" = top-level),
-- the revision the decision scored ("" = any; as transition.lua's ARGV[18]: a decision of an
-- older revision than the comment holds is stale), the article id and the creation time (ms)
-- (the submission's, as transition.lua's ARGV[21] and ARGV[22]), the stream entry to acknowledge
-- once its transition ran, applied or not ("" = none). Hash fields: the letters of
-- moderation.keys.CommentField, as in transition.lua.
--
-- Returns one {"ok", "pending"} | {"stale", current} | {"missing", ""} per comment, in order.
local SHARED, SHARED_ARGS, PER_KEY, PER_ARG = 10, 6, 6, 11
local n = (#KEYS - SHARED) / PER_KEY
local seen = {}
local function check(key, letter)
  if seen[key] then
    return nil
  end
  seen[key] = true
  local got = redis.call("TYPE", key)["ok"]
  local want = TYPE_NAMES[letter]
  if got ~= "none" and got ~= want then
    return "WRONGTYPE key " .. key .. " holds a " .. got .. ", expected a " .. want
  end
  return nil
end
local bad = check_types("zzzshhlhzs")
for i = 0, n - 1 do
  local base, a = SHARED + PER_KEY * i, SHARED_ARGS + PER_ARG * i
  local new = ARGV[a + 2]
  bad = bad or check(KEYS[base + 4], "h")
  if new == "approved" then
    bad = bad or check(KEYS[base + 2], "z") or check(KEYS[base + 5], "z")
    if ARGV[a + 7] ~= "" then
      bad = bad or check(KEYS[base + 6], "z") -- a reply: its thread's replies set is written
    end
  elseif new == "held" then
    bad = bad or check(KEYS[base + 3], "z")
  end
end
if bad then
  return redis.error_reply(bad)
end
-- Read pass (the comment hashes' type check, above): status, revision and whether an
-- automatic decision was set aside ("a").
local rows = {}
for i = 0, n - 1 do
  rows[i] = redis.call("HMGET", KEYS[SHARED + PER_KEY * i + 1], "s", "v", "a")
end

local channel, maxlen, actor = ARGV[1], ARGV[2], ARGV[4]
local kind = string.match(actor, "^[^:]+") or actor
local out = {}
local decided_ids, held_age, held_risk = {}, {}, {}
local counters, minute, authors, author_order, latencies = {}, {}, {}, {}, {}
local held_counts, held_articles = {}, {}
local entries = {}
local announced = {}
-- A comment twice in one batch (a redelivery): its second copy sees the status the first set.
local written = {}
local function bump(tally, field, by)
  tally[field] = (tally[field] or 0) + by
end

for i = 0, n - 1 do
  local k, a = SHARED + PER_KEY * i, SHARED_ARGS + PER_ARG * i
  local id, new, decision, now = ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4]
  if ARGV[a + 11] ~= "" then
    entries[#entries + 1] = ARGV[a + 11]
  end
  local row = rows[i]
  local current = written[KEYS[k + 1]] or row[1]
  if not current then
    out[#out + 1] = {"missing", ""}
  elseif current ~= "pending" or (ARGV[a + 8] ~= "" and (row[2] or "0") ~= ARGV[a + 8]) then
    out[#out + 1] = {"stale", current}
  else
    local article, created = ARGV[a + 9], ARGV[a + 10]
    -- As in transition.lua: an automatic decision is the one copy, in "x".
    if row[3] then
      redis.call("HDEL", KEYS[k + 1], "a")
    end
    written[KEYS[k + 1]] = new
    local reason = ARGV[a + 6] ~= "" and ARGV[a + 6] or "unspecified"
    if new == "held" then
      -- [held counts] as in transition.lua: the reason it entered with stays on the comment.
      redis.call("HSET", KEYS[k + 1], "s", new, "x", decision, "u", now, "r", reason)
    else
      redis.call("HSET", KEYS[k + 1], "s", new, "x", decision, "u", now)
    end
    decided_ids[#decided_ids + 1] = id
    -- Only additions (see the top): what transition.lua removes, a pending comment is not in.
    if new == "approved" then
      redis.call("ZADD", KEYS[k + 2], "0", id)
      -- Threads, as in transition.lua: a top-level comment is listed while approved or while
      -- its thread holds an approved reply.
      local root = ARGV[a + 7]
      if root == "" then
        redis.call("ZADD", KEYS[k + 5], "0", id)
      else
        redis.call("ZADD", KEYS[k + 6], "0", id)
        redis.call("ZADD", KEYS[k + 5], "0", root)
      end
    elseif new == "held" then
      held_age[#held_age + 1] = created
      held_age[#held_age + 1] = id
      held_risk[#held_risk + 1] = ARGV[a + 5]
      held_risk[#held_risk + 1] = id
      redis.call("ZADD", KEYS[k + 3], created, id)
      bump(held_articles, article, 1)
      bump(held_counts, "reason:" .. reason, 1)
    end
    local author = KEYS[k + 4]
    if not authors[author] then
      authors[author] = {}
      author_order[#author_order + 1] = author
    end
    bump(authors[author], "pending", -1)
    bump(authors[author], new, 1)
    -- As in transition.lua: the event carries the decision (the archiver records it as made);
    -- a max length of 0 leaves trimming to the archiver (only past what every group read).
    local event = {"id", id, "from", "pending", "to", new, "by", actor, "at", now,
      "reason", ARGV[a + 6], "article", article, "site", ARGV[5], "decision", decision}
    if tonumber(maxlen) > 0 then
      redis.call("XADD", KEYS[4], "MAXLEN", "~", maxlen, "*", unpack(event))
    else
      redis.call("XADD", KEYS[4], "*", unpack(event))
    end
    bump(counters, "decided:" .. new, 1)
    bump(counters, kind .. ":" .. new, 1)
    bump(minute, kind .. ":" .. new, 1)
    if ARGV[a + 6] ~= "" then
      bump(counters, "reason:" .. ARGV[a + 6], 1)
    end
    latencies[#latencies + 1] = int(tonumber(now) - tonumber(created))
    announced[#announced + 1] = decided_record(id, new, now, decision)
    out[#out + 1] = {"ok", "pending"}
  end
end

-- What the batch shares, once. unpack is bounded (Lua's stack), so long lists go in chunks.
local function each_chunk(list, step, fn)
  for first = 1, #list, step do
    fn(unpack(list, first, math.min(first + step - 1, #list)))
  end
end
each_chunk(decided_ids, 500, function(...) redis.call("ZREM", KEYS[3], ...) end)
each_chunk(held_age, 500, function(...) redis.call("ZADD", KEYS[1], ...) end)
each_chunk(held_risk, 500, function(...) redis.call("ZADD", KEYS[2], ...) end)
for _, author in ipairs(author_order) do
  for field, by in pairs(authors[author]) do
    if by ~= 0 then
      redis.call("HINCRBY", author, field, int(by))
    end
  end
end
for field, by in pairs(counters) do
  redis.call("HINCRBY", KEYS[5], field, int(by))
end
for field, by in pairs(held_counts) do
  redis.call("HINCRBY", KEYS[8], field, int(by))
end
for article, by in pairs(held_articles) do
  redis.call("ZINCRBY", KEYS[9], int(by), article)
end
if next(minute) then
  for field, by in pairs(minute) do
    redis.call("HINCRBY", KEYS[6], field, int(by))
  end
  redis.call("EXPIRE", KEYS[6], ARGV[3])
end
if ARGV[6] ~= "" then
  each_chunk(entries, 500, function(...) redis.call("XACK", KEYS[10], ARGV[6], ...) end)
end
if #announced > 0 then
  redis.call("PUBLISH", channel, table.concat(announced))
end
if #latencies > 0 then
  -- transition.lua pushes one sample per comment, newest first: the same order here.
  each_chunk(latencies, 500, function(...) redis.call("LPUSH", KEYS[7], ...) end)
  redis.call("LTRIM", KEYS[7], "0", "999")
end
return out
