"""``ScriptBatcher`` (moderation.store.batching) against a real redis-server: concurrent calls
go out together and each caller gets its own reply or its own error; a lost script cache and a
cancelled caller leave the rest of the batch unharmed; ``submit.lua`` gets its constants baked
in (``lua_table``) and refuses anything but plain values."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import DataError, ResponseError

from moderation.store.admission import Admission, lua_table, submit_constants
from moderation.store.batching import MergedScriptBatcher, ScriptBatcher

# Echoes its key and argument; fails (a script error) when the key holds a list.
ECHO = """
if redis.call("TYPE", KEYS[1])["ok"] == "list" then
  return redis.error_reply("WRONGTYPE " .. KEYS[1])
end
redis.call("INCR", "batching:calls")
return {KEYS[1], ARGV[1]}
"""


async def _evalshas(rds: Redis) -> int:
    stats = await rds.info("commandstats")
    return int(stats.get("cmdstat_evalsha", {}).get("calls", 0))


async def test_concurrent_calls_share_round_trips_and_get_their_own_replies(rds: Redis) -> None:
    batcher = ScriptBatcher(rds, rds.register_script(ECHO))
    await rds.config_resetstat()
    replies = await asyncio.gather(*(batcher([f"batching:k{i}"], [i]) for i in range(200)))
    assert replies == [[f"batching:k{i}".encode(), str(i).encode()] for i in range(200)]
    assert await rds.get("batching:calls") == b"200"
    assert await _evalshas(rds) == 200  # every call ran once, none answered NOSCRIPT


async def test_a_script_error_fails_only_its_own_call(rds: Redis) -> None:
    batcher = ScriptBatcher(rds, rds.register_script(ECHO))
    await rds.rpush("batching:list", "x")
    results = await asyncio.gather(
        batcher(["batching:a"], ["1"]),
        batcher(["batching:list"], ["2"]),
        batcher(["batching:b"], ["3"]),
        return_exceptions=True,
    )
    assert results[0] == [b"batching:a", b"1"]
    assert isinstance(results[1], ResponseError) and "WRONGTYPE" in str(results[1])
    assert results[2] == [b"batching:b", b"3"]


async def test_a_flushed_script_cache_is_reloaded(rds: Redis) -> None:
    batcher = ScriptBatcher(rds, rds.register_script(ECHO))
    assert await batcher(["batching:c"], ["1"]) == [b"batching:c", b"1"]
    await rds.script_flush()
    replies = await asyncio.gather(*(batcher([f"batching:d{i}"], [i]) for i in range(5)))
    assert replies == [[f"batching:d{i}".encode(), str(i).encode()] for i in range(5)]


async def test_a_cancelled_caller_does_not_cancel_the_others(rds: Redis) -> None:
    batcher = ScriptBatcher(rds, rds.register_script(ECHO))
    calls = [asyncio.create_task(batcher([f"batching:e{i}"], [i])) for i in range(10)]
    await asyncio.sleep(0)  # queued, the drainer not yet run
    calls[3].cancel()
    results = await asyncio.gather(*calls, return_exceptions=True)
    assert isinstance(results[3], asyncio.CancelledError)
    assert [r for i, r in enumerate(results) if i != 3] == [
        [f"batching:e{i}".encode(), str(i).encode()] for i in range(10) if i != 3
    ]
    # The batcher still works afterwards.
    assert await batcher(["batching:f"], ["x"]) == [b"batching:f", b"x"]


async def test_a_connection_error_fails_every_call_of_the_batch() -> None:
    dead = Redis(port=1, socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0))  # no listener
    batcher = ScriptBatcher(dead, dead.register_script(ECHO))
    results = await asyncio.gather(
        *(batcher([f"k{i}"], [i]) for i in range(3)), return_exceptions=True
    )
    assert all(isinstance(r, Exception) for r in results)
    await dead.aclose()


def test_lua_table_bakes_plain_constants_only() -> None:
    table = lua_table(submit_constants(Admission(closed_field="closed"), 86_400))
    assert table.startswith(
        '{idem_span = 21600, idem_spans = 4, minute_ttl = 7200, closed = "closed",'
    )
    with pytest.raises(ValueError):
        lua_table({"closed": 'x" .. redis.call("FLUSHALL") .. "'})
    with pytest.raises(ValueError):
        lua_table({"bad name": 1})
    with pytest.raises(ValueError):
        lua_table({"flag": True})


async def test_an_argument_redis_cannot_take_fails_only_its_own_call(rds: Redis) -> None:
    batcher = ScriptBatcher(rds, rds.register_script(ECHO))
    results = await asyncio.gather(
        batcher(["batching:g"], ["\ud800"]),  # a lone surrogate: not encodable
        batcher(["batching:h"], ["ok"]),
        return_exceptions=True,
    )
    assert isinstance(results[0], DataError)
    assert results[1] == [b"batching:h", b"ok"]


# Takes any number of calls (one key and one argument each); refuses the whole call, before it
# writes, when a key holds a list; else one reply per call.
ECHO_MANY = """
for i = 1, #KEYS do
  if redis.call("TYPE", KEYS[i])["ok"] == "list" then
    return redis.error_reply("WRONGTYPE " .. KEYS[i])
  end
end
local out = {}
for i = 1, #KEYS do
  redis.call("INCR", "batching:many")
  out[i] = {KEYS[i], ARGV[i]}
end
return out
"""


async def test_merged_calls_go_out_as_one_script_call_each_with_its_own_reply(rds: Redis) -> None:
    batcher = MergedScriptBatcher(rds, rds.register_script(ECHO_MANY), keys_per_call=1)
    await batcher(["batching:warm"], ["w"])  # loads the script
    await rds.config_resetstat()
    replies = await asyncio.gather(*(batcher([f"batching:m{i}"], [i]) for i in range(200)))
    assert replies == [[f"batching:m{i}".encode(), str(i).encode()] for i in range(200)]
    assert await _evalshas(rds) == 4  # 64 + 64 + 64 + 8: MAX_MERGED calls a script call
    assert await rds.get("batching:many") == b"201"
    with pytest.raises(ValueError, match="takes 1 keys"):
        await batcher(["a", "b"], ["x"])


async def test_a_refused_merged_call_is_sent_again_call_by_call(rds: Redis) -> None:
    batcher = MergedScriptBatcher(rds, rds.register_script(ECHO_MANY), keys_per_call=1)
    await rds.rpush("batching:poison", "x")
    results = await asyncio.gather(
        batcher(["batching:n1"], ["1"]),
        batcher(["batching:poison"], ["2"]),
        batcher(["batching:n3"], ["\ud800"]),  # not encodable: fails on its own too
        batcher(["batching:n4"], ["4"]),
        return_exceptions=True,
    )
    assert results[0] == [b"batching:n1", b"1"]
    assert isinstance(results[1], ResponseError) and "WRONGTYPE" in str(results[1])
    assert isinstance(results[2], DataError)
    assert results[3] == [b"batching:n4", b"4"]
    assert await rds.get("batching:many") == b"2"  # each good call ran once


async def test_a_merged_call_survives_a_flushed_script_cache(rds: Redis) -> None:
    batcher = MergedScriptBatcher(rds, rds.register_script(ECHO_MANY), keys_per_call=1)
    assert await batcher(["batching:o"], ["1"]) == [b"batching:o", b"1"]
    await rds.script_flush()
    replies = await asyncio.gather(*(batcher([f"batching:p{i}"], [i]) for i in range(5)))
    assert replies == [[f"batching:p{i}".encode(), str(i).encode()] for i in range(5)]
