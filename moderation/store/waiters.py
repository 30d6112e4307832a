"""Waiting for decisions without a Redis connection per waiter.

Each API process holds **one** pub/sub subscription (``store.subscription``, shared with the
API key cache) to ``keys.decided_channel``; every
``?wait=`` request registers an ``asyncio.Future`` here and sleeps on it. ``transition.lua``
publishes one *record* after each change and ``transition_batch.lua`` one message holding the
records of its whole batch (one ``PUBLISH`` and one message to parse per batch, not per
comment): ``<id> <status> <updated ms> <decision length> <decision blob>``, records simply
concatenated (the length says where the binary blob ends). The listener resolves the matching
futures with its record (:class:`Published`), so a waiter that holds the comment's submission
(the request that stored it) can answer without reading the comment back. Thousands of
concurrent waiters therefore cost one connection and a dict entry each.

Correctness does not depend on pub/sub delivery: a waiter registers *before* it reads the
status (so a decision landing in between is not missed), and when the subscription drops and
comes back every waiter is woken to re-read the status (decisions published during the gap are
not lost). At its deadline a waiter reads the status one last time.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from moderation.messages import Status
from moderation.store.subscription import Subscription


@dataclass(frozen=True, slots=True)
class Published:
    """What a transition announced: the comment's new status, its ``updated`` time and the
    decision (a ``store.decisions`` blob) as stored."""

    status: Status
    updated_at: int
    decision: bytes


#: Resolved value telling a waiter to re-read the status itself.
RECHECK = "recheck"


def parse_message(data: bytes | str) -> tuple[list[tuple[str, Published | None]], bool]:
    """The records of a message of the decided channel, in order: ``(comment id, what it
    announced)``, the second ``None`` for a record this release cannot read (an unknown
    status); and whether the whole message was read (reading stops at the first malformed
    record: what follows it cannot be told apart)."""
    raw = data.encode() if isinstance(data, str) else data
    out: list[tuple[str, Published | None]] = []
    pos, end = 0, len(raw)
    while pos < end:
        try:
            a = raw.index(b" ", pos)
            b = raw.index(b" ", a + 1)
            c = raw.index(b" ", b + 1)
            d = raw.index(b" ", c + 1)
            stop = d + 1 + int(raw[c + 1 : d])
            updated = int(raw[b + 1 : c])
        except ValueError:
            return out, False
        if stop > end:
            return out, False
        comment_id = raw[pos:a].decode(errors="replace")
        try:
            out.append((comment_id, Published(Status(raw[a + 1 : b].decode()), updated,
                                              raw[d + 1 : stop])))  # fmt: skip
        except ValueError:
            out.append((comment_id, None))
        pos = stop
    return out, bool(out)


def record(comment_id: str, status: str, updated: int, decision: bytes) -> bytes:
    """One record as the scripts write it (the tests' and tools' side of :func:`parse_message`)."""
    head = f"{comment_id} {status} {updated} {len(decision)} ".encode()
    return head + decision


class DecisionWaiters:
    """Waiters on ``channel`` of the process's shared ``subscription`` (which the owner starts
    and stops)."""

    def __init__(self, subscription: Subscription, channel: str) -> None:
        self._waiting: dict[str, set[asyncio.Future[Published | str]]] = {}
        subscription.add(channel, self._dispatch, self._wake_all)

    @property
    def count(self) -> int:
        return sum(len(v) for v in self._waiting.values())

    def _dispatch(self, data: bytes | str) -> None:
        if not self._waiting:
            return
        found, complete = parse_message(data)
        for comment_id, published in found:
            futures = self._waiting.pop(comment_id, ())
            for fut in futures:
                if not fut.done():
                    fut.set_result(RECHECK if published is None else published)
        if not complete:
            # What this release cannot read may have named anyone: every waiter left reads
            # its status again (correctness never rests on a message).
            self._wake_all()

    def _wake_all(self) -> None:
        waiting, self._waiting = self._waiting, {}
        for futures in waiting.values():
            for fut in futures:
                if not fut.done():
                    fut.set_result(RECHECK)

    def _register(self, comment_id: str) -> asyncio.Future[Published | str]:
        fut: asyncio.Future[Published | str] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(comment_id, set()).add(fut)
        return fut

    def _unregister(self, comment_id: str, fut: asyncio.Future[Published | str]) -> None:
        futures = self._waiting.get(comment_id)
        if futures is not None:
            futures.discard(fut)
            if not futures:
                del self._waiting[comment_id]

    def expect(self, comment_id: str) -> asyncio.Future[Published | str]:
        """Register for ``comment_id`` *before* the comment exists (before it is submitted):
        no decision can then land unseen, so :meth:`wait` given this future skips its first
        status read. Pass it to :meth:`wait`, or to :meth:`forget` when there is nothing to
        wait for."""
        return self._register(comment_id)

    def forget(self, comment_id: str, expected: asyncio.Future[Published | str]) -> None:
        self._unregister(comment_id, expected)

    async def wait(
        self,
        comment_id: str,
        timeout_s: float,
        read_status: Callable[[], Awaitable[Status | None]],
        expected: asyncio.Future[Published | str] | None = None,
    ) -> tuple[Status | None, Published | None]:
        """Wait until the comment leaves ``pending`` or ``timeout_s`` passes. Returns the last
        status known (``pending`` at the deadline) and, when the first transition after the
        registration told it, that message (else ``None``: the status was read, or a later
        transition told it, after one that may have replaced the submitted document).
        ``expected``: the future :meth:`expect` registered before the comment was stored,
        pending since (its first status read is skipped: one round trip less)."""
        deadline = time.monotonic() + timeout_s
        fut = expected
        first = True  # the first message after the submission: its document is as submitted
        while True:
            status: Status | None = Status.PENDING
            known = fut is not None
            if fut is None:
                fut = self._register(comment_id)
            try:
                if not known:
                    status = await read_status()
                    if status is not Status.PENDING:
                        return status, None
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return status, None
                try:
                    result = await asyncio.wait_for(fut, remaining)
                except TimeoutError:
                    return await read_status(), None
                if isinstance(result, Published) and result.status is not Status.PENDING:
                    # Only the first transition is sure to have kept the submitted document
                    # (an edit or a deletion replaces it): later ones are read back.
                    return result.status, result if first else None
            finally:
                self._unregister(comment_id, fut)
            fut = None
            first = False
