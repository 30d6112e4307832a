"""Concurrent calls of one Lua script coalesced into pipelines: one pool checkout, one write
and one read for every call that arrives while the previous batch is in flight.

Under load the API has dozens of ``POST /v1/comments`` handlers waiting on ``submit.lua`` at
once. Sent one by one, each call pays redis-py's whole per-command path (pool checkout with its
lock and timeout, retry wrapper, a socket write and a read, the event-loop wake-ups): far more
CPU than the script's own packing and reply. :class:`ScriptBatcher` queues the calls and lets one
drainer task send whatever is queued as a single pipeline (``transaction=False``: each script
stays its own atomic step, nothing waits for anything else), then hands every caller its own
reply or its own error. An idle API loses nothing: a lone call is sent at the next turn of the
event loop, in a batch of one.

Failure semantics are the client's own (``moderation.store.client``): the pipeline runs on a
pooled connection with the same timeouts, fail-fast pause and one retry of a broken
connection, and an error that fails the batch fails each call in it, as it would have failed
each call sent alone. A script error (``WRONGTYPE``…) fails only its own call. A caller that is
cancelled while its call is queued or in flight does not cancel the batch: the others still get
their replies (its own call may still run, as a cancelled single call may have).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError

#: Calls sent in one pipeline at most (a larger backlog goes out in several).
MAX_BATCH = 128

_Call = tuple[Sequence[Any], Sequence[Any], "asyncio.Future[Any]"]


class ScriptBatcher:
    """``await batcher(keys, args)``: the reply of ``script`` run with ``keys`` and ``args``,
    sent in a pipeline with the calls queued beside it (see the module docstring).

    One drainer at a time: while a batch is in flight the next one gathers, so batches grow
    with the load and the number of round trips does not.
    """

    def __init__(self, redis: Redis, script: AsyncScript, max_batch: int = MAX_BATCH) -> None:
        self.redis = redis
        self.script = script
        self.max_batch = max_batch
        self._queue: list[_Call] = []
        self._drainer: asyncio.Task[None] | None = None
        #: Whether this batcher made sure Redis has the script (once, before its first batch:
        #: a batch of EVALSHAs that all answer NOSCRIPT would cost a second round trip).
        self._loaded = False

    async def __call__(self, keys: Sequence[Any], args: Sequence[Any]) -> Any:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.append((keys, args, future))
        if self._drainer is None or self._drainer.done():
            self._drainer = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        while self._queue:
            batch = self._queue[: self.max_batch]
            del self._queue[: self.max_batch]
            try:
                await self._send(batch)
            except asyncio.CancelledError:  # the loop is shutting down: nothing will be sent
                for _, _, future in batch + self._queue:
                    future.cancel()
                self._queue.clear()
                raise
            except Exception as exc:  # every caller of the batch hears of it
                for _, _, future in batch:
                    if not future.done():
                        future.set_exception(exc)

    async def _send(self, batch: list[_Call]) -> None:
        replies = await self._pipeline(batch)
        missing = [i for i, r in enumerate(replies) if isinstance(r, NoScriptError)]
        if missing:
            # Redis lost its script cache (a restart, SCRIPT FLUSH): none of these ran. Load
            # the script once and send them again.
            self.script.sha = await self.redis.script_load(self.script.script)
            again = await self._pipeline([batch[i] for i in missing])
            for i, reply in zip(missing, again, strict=True):
                replies[i] = reply
        for (_, _, future), reply in zip(batch, replies, strict=True):
            if future.done():  # its caller was cancelled
                continue
            if isinstance(reply, Exception):
                future.set_exception(reply)
            else:
                future.set_result(reply)

    async def _pipeline(self, batch: list[_Call]) -> list[Any]:
        if not self._loaded:
            self.script.sha = await self.redis.script_load(self.script.script)
            self._loaded = True
        sha = self.script.sha
        pipe = self.redis.pipeline(transaction=False)
        for keys, args, _ in batch:
            pipe.evalsha(sha, len(keys), *keys, *args)
        replies: list[Any] = await pipe.execute(raise_on_error=False)
        return replies
