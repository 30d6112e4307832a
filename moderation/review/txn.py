"""Optimistic read-modify-write (WATCH/MULTI/EXEC) for audited edits.

An edit reads the current state, computes the new one and queues its writes **and its audit
entry** in one MULTI; if anything watched changed meanwhile, it runs again on the new state. So
the "before" an audit entry records is exactly what the edit replaced.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import WatchError

from moderation.errors import ServiceUnavailable

S = TypeVar("S")
R = TypeVar("R")

#: Tries before giving up under sustained contention (in practice one or two suffice).
ATTEMPTS = 20


async def watched(
    redis: Redis,
    watch: Sequence[str],
    read: Callable[[Pipeline], Awaitable[S]],
    write: Callable[[Pipeline, S], Awaitable[R]],
) -> R:
    """``read`` runs on the watching connection; ``write`` queues commands after MULTI."""
    async with redis.pipeline(transaction=True) as pipe:
        for _ in range(ATTEMPTS):
            try:
                await pipe.watch(*watch)
                state = await read(pipe)
                pipe.multi()  # type: ignore[no-untyped-call]
                result = await write(pipe, state)
                await pipe.execute()
                return result
            except WatchError:
                continue
    raise ServiceUnavailable("the edit kept conflicting with concurrent edits; try again")
