-- Take the next entries of the comment stream for one consumer of the scoring group, and read
-- each one's comment in the same call: one round trip where XREADGROUP and then the comments'
-- HMGET took two, on every busy batch's way to its decision (moderation.store.queue).
--
-- KEYS[1]   the comment stream
-- ARGV[1]   the consumer group     ARGV[2] the consumer
-- ARGV[3]   entries to take at most (0: take none, only read the comments below)
-- ARGV[4]   the comment hashes' key prefix ("<prefix>:comment:")
-- ARGV[5..] ids of comments taken earlier without their comment (by a blocking XREADGROUP,
--           which a script cannot make) to read now as well
--
-- Never blocks. Returns {entries, rows}:
--   entries  one {entry id, comment id, document, status} per entry taken, oldest first;
--   rows     one {document, status} per ARGV[5..] id, in order.
-- A document or status the comment lacks is false. A comment this script does not read comes
-- back without the two (entry {entry id, comment id}; row {}) and the caller reads it itself:
-- an id that key encoding would change (one holding % : { or }: moderation.keys.part; our ids
-- never do) or a key of the wrong type (whose error then surfaces where it is read, as before,
-- after the entries are taken: a script's error would leave them delivered but unreported).
-- The only write is XREADGROUP's own (the group's pending list); a NOGROUP error is raised
-- before it.

local function read(id)
  if string.find(id, "[%%:{}]") then
    return nil
  end
  local row = redis.pcall("HMGET", ARGV[4] .. id, "d", "s")
  if type(row) == "table" and row.err then
    return nil
  end
  return row
end

local entries = {}
local count = tonumber(ARGV[3])
if count > 0 then
  local got = redis.call("XREADGROUP", "GROUP", ARGV[1], ARGV[2], "COUNT", count,
    "STREAMS", KEYS[1], ">")
  if got then
    for i, entry in ipairs(got[1][2]) do
      local fields, id = entry[2], ""
      for f = 1, #fields, 2 do
        if fields[f] == "id" then
          id = fields[f + 1]
        end
      end
      local row = read(id)
      if row then
        entries[i] = {entry[1], id, row[1], row[2]}
      else
        entries[i] = {entry[1], id}
      end
    end
  end
end

local rows = {}
for i = 5, #ARGV do
  rows[i - 4] = read(ARGV[i]) or {}
end
return {entries, rows}
