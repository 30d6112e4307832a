"""Waiting for decisions without a Redis connection per waiter.

Each API process holds **one** pub/sub subscription (``store.subscription``, shared with the
API key cache) to ``keys.decided_channel``; every
``?wait=`` request registers an ``asyncio.Future`` here and sleeps on it. ``transition.lua``
publishes ``<id> <status>`` after each change; the listener resolves the matching futures.
Thousands of concurrent waiters therefore cost one connection and a dict entry each.

Correctness does not depend on pub/sub delivery: a waiter registers *before* it reads the
status (so a decision landing in between is not missed), and when the subscription drops and
comes back every waiter is woken to re-read the status (decisions published during the gap are
not lost). At its deadline a waiter reads the status one last time.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from moderation.messages import Status
from moderation.store.subscription import Subscription

#: Resolved value telling a waiter to re-read the status itself.
RECHECK = "recheck"


class DecisionWaiters:
    """Waiters on ``channel`` of the process's shared ``subscription`` (which the owner starts
    and stops)."""

    def __init__(self, subscription: Subscription, channel: str) -> None:
        self._waiting: dict[str, set[asyncio.Future[str]]] = {}
        subscription.add(channel, self._dispatch, self._wake_all)

    @property
    def count(self) -> int:
        return sum(len(v) for v in self._waiting.values())

    def _dispatch(self, data: bytes | str) -> None:
        text = data.decode() if isinstance(data, bytes) else data
        comment_id, _, status = text.partition(" ")
        for fut in self._waiting.pop(comment_id, ()):
            if not fut.done():
                fut.set_result(status)

    def _wake_all(self) -> None:
        waiting, self._waiting = self._waiting, {}
        for futures in waiting.values():
            for fut in futures:
                if not fut.done():
                    fut.set_result(RECHECK)

    def _register(self, comment_id: str) -> asyncio.Future[str]:
        fut: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(comment_id, set()).add(fut)
        return fut

    def _unregister(self, comment_id: str, fut: asyncio.Future[str]) -> None:
        futures = self._waiting.get(comment_id)
        if futures is not None:
            futures.discard(fut)
            if not futures:
                del self._waiting[comment_id]

    def expect(self, comment_id: str) -> asyncio.Future[str]:
        """Register for ``comment_id`` *before* the comment exists (before it is submitted):
        no decision can then land unseen, so :meth:`wait` given this future skips its first
        status read. Pass it to :meth:`wait`, or to :meth:`forget` when there is nothing to
        wait for."""
        return self._register(comment_id)

    def forget(self, comment_id: str, expected: asyncio.Future[str]) -> None:
        self._unregister(comment_id, expected)

    async def wait(
        self,
        comment_id: str,
        timeout_s: float,
        read_status: Callable[[], Awaitable[Status | None]],
        expected: asyncio.Future[str] | None = None,
    ) -> Status | None:
        """Wait until the comment leaves ``pending`` or ``timeout_s`` passes; returns the last
        status read (``pending`` at the deadline). ``expected``: the future :meth:`expect`
        registered before the comment was stored, pending since (its first status read is
        skipped: one round trip less)."""
        deadline = time.monotonic() + timeout_s
        fut = expected
        while True:
            status: Status | None = Status.PENDING
            known = fut is not None
            if fut is None:
                fut = self._register(comment_id)
            try:
                if not known:
                    status = await read_status()
                    if status is not Status.PENDING:
                        return status
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return status
                try:
                    result = await asyncio.wait_for(fut, remaining)
                except TimeoutError:
                    return await read_status()
                if result not in (RECHECK, Status.PENDING.value):
                    try:
                        return Status(result)
                    except ValueError:
                        pass
            finally:
                self._unregister(comment_id, fut)
            fut = None
