"""The scoring queue: a Redis Stream read by a consumer group.

Entries carry ``id`` (comment id). A worker reads with ``XREADGROUP`` (a blocking one when
the stream is idle; otherwise ``take.lua``, which also reads each entry's comment: one round
trip instead of two on a busy batch's way to its decision), decides, then ``XACK``s; an
entry read but never acked (its worker died) is reclaimed by another worker with
``XAUTOCLAIM`` once idle for ``reclaim_idle_ms``. Each claim increments the entry's delivery
count; past ``max_deliveries`` the entry is dead-lettered instead of processed again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import ResponseError

from moderation.keys import SCORING_GROUP, Keys
from moderation.store.codec import as_str, script


@dataclass(frozen=True, slots=True)
class Entry:
    """A stream entry; ``row``: its comment's document and status as read with it (either
    ``None`` where the comment lacks it), ``None`` when not read yet (the pipeline then reads
    it: ``Store.load_pending``)."""

    entry_id: str
    comment_id: str
    deliveries: int = 1
    row: tuple[Any, Any] | None = None


def _entries(raw: Sequence[Any]) -> list[Entry]:
    out = []
    for entry_id, fields in raw:
        if fields is None:  # deleted entry still listed in the PEL
            continue
        comment_id = fields.get(b"id") or fields.get("id") or b""
        out.append(Entry(as_str(entry_id), as_str(comment_id)))
    return out


async def ensure_group(redis: Redis, keys: Keys) -> None:
    """Create the scoring consumer group (and the stream) if absent.

    The group starts at id 0 so comments accepted before any worker existed are scored.
    """
    try:
        await redis.xgroup_create(keys.stream, SCORING_GROUP, id="0", mkstream=True)
    except ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


class CommentQueue:
    def __init__(self, redis: Redis, keys: Keys, consumer: str) -> None:
        self.redis = redis
        self.keys = keys
        self.consumer = consumer
        self._claim_cursor = "0-0"
        self._take = script(redis, "take.lua")
        self._prefix = keys.comment("")
        #: The last read came back full: entries are likely waiting.
        self._backlog = False

    async def ensure_group(self) -> None:
        await ensure_group(self.redis, self.keys)

    async def read(
        self,
        count: int,
        block_ms: int,
        linger_ms: int,
        until: asyncio.Future[Any] | None = None,
    ) -> list[Entry]:
        """Up to ``count`` new entries: block up to ``block_ms`` for the first, then wait at most
        ``linger_ms`` more for the batch to fill (a fuller batch scores faster per comment).

        With ``until`` (the worker's batch in flight), the linger ends as soon as it is done,
        and Redis is not asked again meanwhile: the read blocks for the first entries
        (``XREADGROUP``), waits on ``until`` itself, then takes what arrived meanwhile and reads
        the comments of all of them in one ``take.lua`` call, so a worker lingers only while
        its previous batch is being decided, never past it, costs no polling round trips while
        it does, and the batch it returns needs no round trip more to load. A full batch
        does not wait at all: under a backlog (the last read came back full) it is taken with
        its comments by one ``take.lua`` call and returned at once, to be decided beside the
        batch in flight (two in flight at most: the worker awaits the older). Already done
        (nothing in flight), the read is :meth:`_read_new`'s: what is waiting, with its
        comments while the stream has a backlog. Without ``until``, the read blocks on Redis
        for the rest of the linger."""
        if until is not None and not until.done() and linger_ms > 0:
            # Under a backlog what waits is taken with its comments at once; otherwise
            # blocking first costs nothing: what it takes is loaded with the rest.
            batch = await self._take_more([], count) if self._backlog else []
            if not batch:
                batch = await self._block(count, block_ms)
                if not batch:
                    self._backlog = False
                    return batch
            if len(batch) < count and not until.done():
                # A full batch does not wait: it is decided beside the one in flight, whose
                # waits on Redis its CPU work then fills (under a backlog, one worker decided
                # about 11% more a second so, bench/pipeline.py).
                await asyncio.wait({until}, timeout=linger_ms / 1000)
            batch = await self._take_more(batch, count - len(batch))
            self._backlog = len(batch) >= count
            return batch
        batch = await self._read_new(count, block_ms)
        if not batch or linger_ms <= 0 or until is not None:
            # Nothing in flight (``until`` done): what was there is taken, and asking again at
            # once would cost a round trip for nothing (at light load, one of every batch's few).
            return batch
        deadline = time.monotonic() + linger_ms / 1000
        while len(batch) < count:
            remaining_ms = int((deadline - time.monotonic()) * 1000)
            if remaining_ms < 1:
                break
            more = await self._read_new(count - len(batch), remaining_ms)
            if not more:
                break
            batch.extend(more)
        return batch

    async def _read_new(self, count: int, block_ms: int | None) -> list[Entry]:
        """Up to ``count`` new entries, blocking up to ``block_ms`` for the first (``None``:
        not at all, what is there now). While the stream has a backlog (the last read came
        back full) what is there is taken with its comments (``take.lua``); otherwise, and
        when that finds none, a blocking ``XREADGROUP`` (a script cannot block) waits, whose
        entries come without theirs: at light load, asking first would cost a round trip
        for nothing on every batch."""
        if block_ms is not None and not self._backlog:
            got = await self._block(count, block_ms)
        else:
            got = await self._take_more([], count)
            if not got and block_ms is not None:
                got = await self._block(count, block_ms)
        self._backlog = len(got) >= count
        return got

    async def _block(self, count: int, block_ms: int) -> list[Entry]:
        """Up to ``count`` new entries, without their comments, blocking up to ``block_ms``
        for the first."""
        try:
            reply: Any = await self.redis.xreadgroup(
                SCORING_GROUP,
                self.consumer,
                {self.keys.stream: ">"},
                count=count,
                block=max(block_ms, 1),
            )
        except ResponseError as exc:
            await self._regroup(exc)
            return []
        if not reply:
            return []
        return _entries(reply[0][1])

    async def _regroup(self, exc: ResponseError) -> None:
        """Re-raise ``exc`` unless it says the stream or group is gone (deleted under us, e.g.
        by a FLUSHALL): then recreate them, and the read returns what it had."""
        if "NOGROUP" not in str(exc):
            raise exc
        await self.ensure_group()

    async def _take_more(self, taken: list[Entry], count: int) -> list[Entry]:
        """``taken`` with the comments of those read without theirs, and up to ``count`` new
        entries with theirs, in one ``take.lua`` call."""
        unread = [i for i, e in enumerate(taken) if e.row is None]
        if count <= 0 and not unread:
            return taken
        try:
            reply: Any = await self._take(
                keys=[self.keys.stream],
                args=[
                    SCORING_GROUP,
                    self.consumer,
                    max(count, 0),
                    self._prefix,
                    *(taken[i].comment_id for i in unread),
                ],
            )
        except ResponseError as exc:
            await self._regroup(exc)
            return taken
        new, rows = reply
        out = list(taken)
        for i, row in zip(unread, rows, strict=True):
            if row:
                out[i] = replace(out[i], row=(row[0], row[1]))
        for entry in new:
            entry_id, comment_id = as_str(entry[0]), as_str(entry[1])
            row = (entry[2], entry[3]) if len(entry) > 2 else None
            out.append(Entry(entry_id, comment_id, row=row))
        return out

    async def reclaim(self, min_idle_ms: int, count: int) -> tuple[list[Entry], list[str]]:
        """Claim entries idle longer than ``min_idle_ms`` from any consumer.

        Returns the claimed entries with their delivery counts (after this claim) and the ids of
        entries whose stream data was deleted (to be acked and forgotten).
        """
        reply = await self.redis.xautoclaim(
            self.keys.stream,
            SCORING_GROUP,
            self.consumer,
            min_idle_time=min_idle_ms,
            start_id=self._claim_cursor,
            count=count,
        )
        self._claim_cursor = as_str(reply[0])
        entries = _entries(reply[1])
        deleted = [as_str(i) for i in reply[2]] if len(reply) > 2 else []
        if not entries:
            return [], deleted
        # One XPENDING over the claimed range gives every entry's delivery count.
        pending = await self.redis.xpending_range(
            self.keys.stream,
            SCORING_GROUP,
            min=entries[0].entry_id,
            max=entries[-1].entry_id,
            count=len(entries) * 4 + 16,
            consumername=self.consumer,
        )
        counts = {as_str(p["message_id"]): int(p["times_delivered"]) for p in pending}
        return [
            Entry(e.entry_id, e.comment_id, counts.get(e.entry_id, 1)) for e in entries
        ], deleted

    def ack(self, pipe: Pipeline, entry_ids: Sequence[str]) -> None:
        """Queue an XACK on a pipeline (so it travels with the decisions it acknowledges)."""
        if entry_ids:
            pipe.xack(self.keys.stream, SCORING_GROUP, *entry_ids)

    async def ack_now(self, entry_ids: Sequence[str]) -> None:
        if entry_ids:
            await self.redis.xack(self.keys.stream, SCORING_GROUP, *entry_ids)

    def dead_letter(self, pipe: Pipeline, entry: Entry, error: str) -> None:
        pipe.xadd(
            self.keys.dead_letters,
            {
                "entry": entry.entry_id,
                "id": entry.comment_id,
                "deliveries": entry.deliveries,
                "consumer": self.consumer,
                "error": error[:500],
                "at": int(time.time() * 1000),
            },
            maxlen=100_000,
            approximate=True,
        )
