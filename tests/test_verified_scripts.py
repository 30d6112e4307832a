"""``codec.execute_verified``: a pipeline's scripts are checked (``SCRIPT EXISTS``) the first
time only, and a server that lost them since is noticed and reloaded, not trusted for ever.

Counted with the real server's ``INFO commandstats``: how many ``SCRIPT`` commands each
execution sent.
"""

from __future__ import annotations

from typing import Any

import pytest
from redis.asyncio import Redis
from redis.exceptions import NoScriptError

from moderation.store.codec import execute_verified, script

KEY = "test:verified:counter"


async def _script_calls(rds: Redis) -> int:
    stats: Any = await rds.info("commandstats")
    # Redis 7 counts each subcommand apart: cmdstat_script|exists, cmdstat_script|load.
    return sum(int(v["calls"]) for k, v in stats.items() if k.startswith("cmdstat_script"))


async def _bump(rds: Redis) -> list[Any]:
    # zcard_many.lua: a read-only script of the store's own, called as the store calls it.
    pipe = rds.pipeline(transaction=False)
    await script(rds, "zcard_many.lua")(keys=[KEY], client=pipe)
    pipe.incr(KEY + ":n")
    return await execute_verified(pipe)


async def test_checked_once_then_sent_straight(rds: Redis) -> None:
    await rds.delete(KEY, KEY + ":n")
    first = await _script_calls(rds)
    assert (await _bump(rds))[1] == 1
    checked = await _script_calls(rds)
    assert checked > first, "the first execution did not check its script"
    for n in range(2, 6):
        assert (await _bump(rds))[1] == n
    assert await _script_calls(rds) == checked, "later executions checked again"


async def test_a_flushed_script_cache_is_noticed_and_reloaded(rds: Redis) -> None:
    await rds.delete(KEY, KEY + ":n")
    await _bump(rds)
    await rds.script_flush()
    # The server no longer holds the script: the execution fails (the caller's fallback
    # reruns the work) and the pool's record is forgotten...
    with pytest.raises(NoScriptError):
        await _bump(rds)
    # ...so the next one checks, loads and runs it.
    before = await _script_calls(rds)
    replies = await _bump(rds)
    assert replies[0] == [0]
    assert await _script_calls(rds) > before


async def test_a_pipeline_without_scripts_runs_as_usual(rds: Redis) -> None:
    await rds.delete(KEY)
    pipe = rds.pipeline(transaction=True)
    pipe.incr(KEY)
    pipe.incr(KEY)
    assert await execute_verified(pipe) == [1, 2]
