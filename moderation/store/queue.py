"""The scoring queue: a Redis Stream read by a consumer group.

Entries carry ``id`` (comment id). A worker reads with ``XREADGROUP``, decides, then
``XACK``s; an entry read but never acked (its worker died) is reclaimed by another worker with
``XAUTOCLAIM`` once idle for ``reclaim_idle_ms``. Each claim increments the entry's delivery
count; past ``max_deliveries`` the entry is dead-lettered instead of processed again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import ResponseError

from moderation.keys import SCORING_GROUP, Keys
from moderation.store.codec import as_str


@dataclass(frozen=True, slots=True)
class Entry:
    entry_id: str
    comment_id: str
    deliveries: int = 1


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
        and Redis is not asked again meanwhile: the read waits on ``until`` itself, then takes
        what arrived in one more ``XREADGROUP`` (none when it was done before the first read
        answered, which then took all there was), so a worker lingers only while its previous
        batch is being decided, never past it, and costs no polling round trips while it
        does. Without it, the read blocks on Redis for the rest of the linger."""
        batch = await self._read_new(count, block_ms)
        if not batch or linger_ms <= 0:
            return batch
        if until is not None:
            if until.done():
                # Done before the read answered: the read took all there was a moment ago, and
                # asking again at once would cost a round trip for nothing (at light load,
                # one round trip of every batch's six).
                return batch
            await asyncio.wait({until}, timeout=linger_ms / 1000)
            if len(batch) < count:
                batch.extend(await self._read_new(count - len(batch), None))
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
        not at all, what is there now)."""
        try:
            reply: Any = await self.redis.xreadgroup(
                SCORING_GROUP,
                self.consumer,
                {self.keys.stream: ">"},
                count=count,
                block=None if block_ms is None else max(block_ms, 1),
            )
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            # The stream or group was deleted under us (e.g. a FLUSHALL): recreate and go on.
            await self.ensure_group()
            return []
        if not reply:
            return []
        return _entries(reply[0][1])

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
