"""Concurrent calls of one Lua script coalesced: one pool checkout, one write and one read for
every call that arrives while the previous batch is in flight. :class:`ScriptBatcher` sends them
as a pipeline of calls; :class:`MergedScriptBatcher` as one call of a script that takes many
calls' keys and arguments at once.

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

from hiredis import pack_command
from redis.asyncio import Redis
from redis.commands.core import AsyncScript
from redis.exceptions import DataError, NoScriptError, ResponseError

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
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        drainer = self._drainer
        if drainer is not None and drainer.get_loop() is not loop:
            # Used from a new event loop (tests run one per test): the old one is gone, and
            # with it any call still queued there.
            self._queue = [call for call in self._queue if call[2].get_loop() is loop]
            drainer = None
        self._queue.append((keys, args, future))
        if drainer is None or drainer.done():
            self._drainer = loop.create_task(self._drain())
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

    async def _load(self) -> None:
        """Load the script (its SHA1 set on ``script``): once before the first batch, and again
        after Redis answered ``NOSCRIPT`` (a restart, ``SCRIPT FLUSH``)."""
        self.script.sha = await self.redis.script_load(self.script.script)
        self._loaded = True

    async def _send(self, batch: list[_Call]) -> None:
        if not self._loaded:
            await self._load()
        calls: list[tuple[_Call, bytes]] = []
        for call in batch:
            try:
                calls.append((call, self._pack(call)))
            except (TypeError, ValueError) as exc:  # an argument Redis cannot take: this call
                if not call[2].done():
                    call[2].set_exception(DataError(f"invalid script argument: {exc}"))
        replies = await self._pipeline([packed for _, packed in calls])
        missing = [i for i, r in enumerate(replies) if isinstance(r, NoScriptError)]
        if missing:
            # Redis lost its script cache (a restart, SCRIPT FLUSH): none of these ran. Load
            # the script once and send them again.
            await self._load()
            again = await self._pipeline([self._pack(calls[i][0]) for i in missing])
            for i, reply in zip(missing, again, strict=True):
                replies[i] = reply
        for ((_, _, future), _), reply in zip(calls, replies, strict=True):
            if future.done():  # its caller was cancelled
                continue
            if isinstance(reply, Exception):
                future.set_exception(reply)
            else:
                future.set_result(self._one(reply))

    def _one(self, reply: Any) -> Any:
        """A call's own reply out of what its script answered to it alone."""
        return reply

    def _pack(self, call: _Call) -> bytes:
        # hiredis packs str, bytes and int in C: no per-argument encoding in Python.
        keys, args, _ = call
        return bytes(pack_command(("EVALSHA", self.script.sha, len(keys), *keys, *args)))

    async def _pipeline(self, packed: list[bytes]) -> list[Any]:
        """The packed commands written at once on one pooled connection; their replies in
        order, a script's error in place of its reply. A broken connection is retried as the
        client's retry policy says (as redis-py's own pipelines are)."""
        if not packed:
            return []
        pool = self.redis.connection_pool
        connection = await pool.get_connection()  # type: ignore[no-untyped-call]
        try:
            replies: list[Any] = await connection.retry.call_with_retry(
                lambda: _exchange(connection, packed),
                lambda _error: connection.disconnect(),
            )
        finally:
            await pool.release(connection)
        return replies


async def _exchange(connection: Any, packed: list[bytes]) -> list[Any]:
    await connection.send_packed_command(packed)
    replies: list[Any] = []
    try:
        for _ in packed:
            try:
                replies.append(await connection.read_response())
            except ResponseError as exc:  # this script's error; the next reply follows
                replies.append(exc)
    except BaseException:
        # Replies still on the socket would go to the connection's next user: drop it.
        await connection.disconnect(nowait=True)
        raise
    return replies


#: Calls merged into one script call at most: the script holds Redis while it runs (tens of
#: microseconds a call), so a huge backlog goes out in several calls, one round trip.
MAX_MERGED = 64


class MergedScriptBatcher(ScriptBatcher):
    """``await batcher(keys, args)``, like :class:`ScriptBatcher`, for a script that takes any
    number of calls at once: each call's ``keys`` (always ``keys_per_call`` of them) and
    ``args`` follow the previous call's, and the script answers with a list of one reply per
    call, in order (``lua/submit.lua``). Concurrent calls go out as one script call, so Redis
    runs the script, and the script its once-per-call work (its clock, type checks of the
    keys the calls share, counters and expiries), once for all of them.

    The script must decide each call as separate calls made in the same order would, and must
    refuse a batch (an error reply) before it writes anything. A refused batch, or one with an
    argument Redis cannot take, is sent again as separate calls in a pipeline (each a batch of
    one), so only the culprit fails, with its own error.
    """

    def __init__(
        self,
        redis: Redis,
        script: AsyncScript,
        keys_per_call: int,
        max_batch: int = MAX_MERGED,
    ) -> None:
        super().__init__(redis, script, max_batch)
        self.keys_per_call = keys_per_call

    async def __call__(self, keys: Sequence[Any], args: Sequence[Any]) -> Any:
        # A call of another shape would shift every later call's keys in a merged call.
        if len(keys) != self.keys_per_call:
            raise ValueError(f"a call takes {self.keys_per_call} keys, not {len(keys)}")
        return await super().__call__(keys, args)

    async def _send(self, batch: list[_Call]) -> None:
        if len(batch) > 1:
            if not self._loaded:
                await self._load()
            try:
                reply = await self._merged(batch)
            except (TypeError, ValueError):  # an argument Redis cannot take: find whose
                reply = None
            if isinstance(reply, list) and len(reply) == len(batch):
                for (_, _, future), one in zip(batch, reply, strict=True):
                    if not future.done():  # else its caller was cancelled
                        future.set_result(one)
                return
            # Refused (nothing written): each call on its own, so only the culprit fails.
        await super()._send(batch)

    async def _merged(self, batch: list[_Call]) -> Any:
        keys = [key for call in batch for key in call[0]]
        args = [arg for call in batch for arg in call[1]]

        def pack() -> bytes:
            command = ("EVALSHA", self.script.sha, len(keys), *keys, *args)
            return bytes(pack_command(command))

        reply = (await self._pipeline([pack()]))[0]
        if isinstance(reply, NoScriptError):  # Redis lost its script cache: load, send again
            await self._load()
            reply = (await self._pipeline([pack()]))[0]
        return reply

    def _one(self, reply: Any) -> Any:
        return reply[0]
