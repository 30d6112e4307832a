-- Move one comment from an expected status to a new one, atomically and idempotently.
--
-- Every status change of the service (automatic decision, dead letter, moderator action) goes
-- through this script, so the comment's status, its membership of the article's approved set
-- (the source of counts), the held queues, the event stream and the counters can never disagree.
-- A call whose expected status no longer holds changes nothing and reports the current status:
-- a redelivered stream entry or a second moderator's click is harmless.
--
-- KEYS[1] comment hash   KEYS[2] article approved zset   KEYS[3] held zset (by age)
-- KEYS[4] held zset (by risk)   KEYS[5] pending zset   KEYS[6] events stream
-- KEYS[7] counters hash   KEYS[8] this minute's counters hash   KEYS[9] auto-latency list
-- KEYS[10] article held zset   KEYS[11] author hash   KEYS[12] human-latency list
-- KEYS[13] article thread roots zset   KEYS[14] the thread's approved replies zset (of the
-- comment's root; of the comment itself when it is top-level)
-- ARGV[1] comment id   ARGV[2] expected statuses, comma-separated   ARGV[3] new status
-- ARGV[4] decision (store.decisions blob)   ARGV[5] now ms   ARGV[6] risk (held order)   ARGV[7] decided channel
-- ARGV[8] actor: "auto" | "system" | "moderator:<name>" | "admin:<name>"
-- ARGV[9] events max length (approx.; 0 = untrimmed: the archiver trims, see workers/archiver)
-- ARGV[10] minute-counter TTL (s)   ARGV[11] reason code for counters ("" = none)
--
-- Returns {"ok", previous status} | {"stale", current status} | {"missing", ""}.
--
-- Optional audit entry of a moderator's action, appended only when the transition applies (so
-- an action and its audit record cannot disagree): ARGV[12] entry JSON ("" = none)
-- ARGV[13] audit stream max length (0 = untrimmed)   ARGV[14] index list cap
-- ARGV[15] position in KEYS of the audit stream; the index lists follow it to the end of KEYS.
-- ARGV[16] the thread's root comment id ("" = the comment is top-level).
--
-- KEYS[15] held-counts hash (per article, per reason; see "held counts" below).
-- KEYS[16] the comment stream (an edit queues the new revision for its automatic decision).
-- KEYS[17] held-articles zset (article id -> its held comments; see "held counts" below).
--
-- Site-side changes (#11): ARGV[17] a replacement submission document ("" = keep it): the
-- edited text of a new revision, or the erased document of a deleted comment.
-- ARGV[18] the revision the caller read ("" = any): a decision scored on an older text than
-- the comment now holds is stale, so each revision gets its own automatic decision.
-- ARGV[19] the revision the comment moves to ("" = unchanged).
-- ARGV[20] the comment's site (its article, author and held-counts keys are that site's; the
-- event names it, so webhooks and the archiver know whose comment moved).
-- ARGV[21] the comment's article id   ARGV[22] its creation time (ms): the submission's, read by
-- the caller (CommentRef); the hash does not repeat them. The hash's fields are
-- moderation.keys.CommentField's letters: d doc, s status, u updated, x decision,
-- a auto decision, r held reason, v revision.
-- "deleted" is terminal: no call moves a comment out of it. "pending" as the new status is an
-- edit: the comment re-enters the pending set and the stream, hidden until decided again.
local bad = check_types("hzzzzshhlzhlzzhsz")
if not bad and ARGV[12] and ARGV[12] ~= "" then
  local first = tonumber(ARGV[15])
  bad = check_types("s" .. string.rep("l", #KEYS - first), first)
end
if bad then
  return redis.error_reply(bad)
end
local current = redis.call("HGET", KEYS[1], "s")
if not current then
  return {"missing", ""}
end
local allowed = false
for status in string.gmatch(ARGV[2], "[^,]+") do
  if status == current then
    allowed = true
  end
end
local revision = ARGV[18] or ""
if not allowed or current == "deleted"
    or (revision ~= "" and (redis.call("HGET", KEYS[1], "v") or "0") ~= revision) then
  return {"stale", current}
end

local id, new, now, actor = ARGV[1], ARGV[3], ARGV[5], ARGV[8]
local article, created = ARGV[21], ARGV[22]
-- Counters aggregate by kind of actor ("moderator"), not by person.
local kind = string.match(actor, "^[^:]+") or actor
local previous_update = tonumber(redis.call("HGET", KEYS[1], "u") or now)
-- One copy of a decision: "x" (decision) holds the automatic one until a person's replaces
-- it; then the automatic one moves to "a" (auto decision; "" when there was none), where it
-- stays.
if kind == "auto" or kind == "system" then
  redis.call("HDEL", KEYS[1], "a")
elseif redis.call("HEXISTS", KEYS[1], "a") == 0 then
  redis.call("HSET", KEYS[1], "a", redis.call("HGET", KEYS[1], "x") or "")
end
redis.call("HSET", KEYS[1], "s", new, "x", ARGV[4], "u", now)
if ARGV[17] and ARGV[17] ~= "" then
  redis.call("HSET", KEYS[1], "d", ARGV[17])
end
if ARGV[19] and ARGV[19] ~= "" then
  redis.call("HSET", KEYS[1], "v", ARGV[19])
end
if new == "pending" then
  -- An edit: the new revision waits for its own automatic decision (a new stream entry; an
  -- older entry still in flight is refused by the revision check above or finds it decided).
  redis.call("ZADD", KEYS[5], now, id)
  redis.call("XADD", KEYS[16], "*", "id", id)
else
  redis.call("ZREM", KEYS[5], id)
end

if new == "approved" then
  redis.call("ZADD", KEYS[2], 0, id)
else
  redis.call("ZREM", KEYS[2], id)
end
-- Threads: a top-level comment is listed while approved or while its thread holds an
-- approved reply (a hidden parent keeps its approved replies reachable).
local root = ARGV[16] or ""
if root == "" then
  if new == "approved" then
    redis.call("ZADD", KEYS[13], 0, id)
  elseif redis.call("ZCARD", KEYS[14]) == 0 then
    redis.call("ZREM", KEYS[13], id)
  end
elseif new == "approved" then
  redis.call("ZADD", KEYS[14], 0, id)
  redis.call("ZADD", KEYS[13], 0, root)
else
  redis.call("ZREM", KEYS[14], id)
  if redis.call("ZCARD", KEYS[14]) == 0 and not redis.call("ZSCORE", KEYS[2], root) then
    redis.call("ZREM", KEYS[13], root)
  end
end
if new == "held" then
  redis.call("ZADD", KEYS[3], created, id)
  redis.call("ZADD", KEYS[4], ARGV[6], id)
  redis.call("ZADD", KEYS[10], created, id)
else
  redis.call("ZREM", KEYS[3], id)
  redis.call("ZREM", KEYS[4], id)
  redis.call("ZREM", KEYS[10], id)
end
-- [held counts] Held comments per article and per primary reason move with the comment, in
-- this same script, so the queue's counts cost O(1) in its size and cannot drift. The reason a
-- comment entered with is kept on it, so leaving takes off exactly what entering added.
if current == "held" then
  local reason = redis.call("HGET", KEYS[1], "r") or "unspecified"
  if redis.call("HINCRBY", KEYS[15], "reason:" .. reason, -1) <= 0 then
    redis.call("HDEL", KEYS[15], "reason:" .. reason)
  end
  if tonumber(redis.call("ZINCRBY", KEYS[17], -1, article)) <= 0 then
    redis.call("ZREM", KEYS[17], article)
  end
end
if new == "held" then
  local reason = ARGV[11] ~= "" and ARGV[11] or "unspecified"
  redis.call("HSET", KEYS[1], "r", reason)
  redis.call("ZINCRBY", KEYS[17], 1, article)
  redis.call("HINCRBY", KEYS[15], "reason:" .. reason, 1)
end
-- [/held counts]

-- The author's per-status tallies move with the comment (their history cannot drift either).
redis.call("HINCRBY", KEYS[11], current, -1)
redis.call("HINCRBY", KEYS[11], new, 1)

-- The event carries the decision so the archiver records each one as it was made (#12).
-- ARGV[9] = 0: untrimmed here; the archiver trims only what every group acknowledged.
local event = {"id", id, "from", current, "to", new, "by", actor, "at", now, "reason", ARGV[11],
  "article", article, "site", ARGV[20] or "",
  "decision", ARGV[4]}
if tonumber(ARGV[9]) > 0 then
  redis.call("XADD", KEYS[6], "MAXLEN", "~", ARGV[9], "*", unpack(event))
else
  redis.call("XADD", KEYS[6], "*", unpack(event))
end

redis.call("HINCRBY", KEYS[7], "decided:" .. new, 1)
redis.call("HINCRBY", KEYS[7], kind .. ":" .. new, 1)
redis.call("HINCRBY", KEYS[8], kind .. ":" .. new, 1)
if ARGV[11] ~= "" then
  redis.call("HINCRBY", KEYS[7], "reason:" .. ARGV[11], 1)
end
redis.call("EXPIRE", KEYS[8], ARGV[10])
if current == "pending" and new ~= "pending" and new ~= "deleted" then
  redis.call("LPUSH", KEYS[9], tonumber(now) - tonumber(created))
  redis.call("LTRIM", KEYS[9], 0, 999)
elseif current == "held" and kind ~= "auto" and kind ~= "system" then
  -- Human time-to-decision: from entering the held queue to a person's decision.
  redis.call("LPUSH", KEYS[12], tonumber(now) - previous_update)
  redis.call("LTRIM", KEYS[12], 0, 999)
end

-- Its record: a waiter holding the comment's submission can answer from this alone.
redis.call("PUBLISH", ARGV[7], decided_record(id, new, now, ARGV[4]))

if ARGV[12] and ARGV[12] ~= "" then
  local first = tonumber(ARGV[15])
  local entry
  if tonumber(ARGV[13]) > 0 then
    entry = redis.call("XADD", KEYS[first], "MAXLEN", "~", ARGV[13], "*",
      "doc", ARGV[12], "from", current, "to", new)
  else
    entry = redis.call("XADD", KEYS[first], "*", "doc", ARGV[12], "from", current, "to", new)
  end
  for i = first + 1, #KEYS do
    redis.call("LPUSH", KEYS[i], entry)
    redis.call("LTRIM", KEYS[i], 0, tonumber(ARGV[14]) - 1)
  end
end
return {"ok", current}
