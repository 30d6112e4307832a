"""A batch's shared spam state in one script call: near duplicates, velocity, author tallies.

:meth:`SharedState.queue` queues one ``lua/spam_batch.lua`` call on the batch's pipeline; it
records every comment's IP address, indexes the comments that are long enough to compare
(:mod:`.duplicates`) and reads, per comment, its near-duplicate candidates, its author's and
IP's posting velocity (:mod:`.velocity`) and its author's tallies. :meth:`SharedState.parse`
turns the reply into per-comment candidates and :class:`~.velocity.VelocitySignals`.

Keys are passed once per batch however many comments share them (an author, an IP, a band's
MinHash band's bucket), so the script checks each key's type, and trims and expires each
once per batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.commands.core import AsyncScript

from moderation.keys import Keys
from moderation.messages import CommentRecord
from moderation.spam.duplicates import CANDIDATES_PER_BAND, DuplicateIndex, Probe
from moderation.spam.velocity import MAX_COUNT, Velocity, VelocitySignals
from moderation.store.codec import as_int, script
from moderation.store.pseudonyms import Pseudonyms


@dataclass(frozen=True, slots=True)
class SharedSignals:
    """What the shared state says about one comment."""

    #: Ids of other comments sharing an LSH bucket within the window (to be confirmed).
    candidates: list[Any]
    velocity: VelocitySignals


class _KeyTable:
    """Distinct keys in first-use order, with the type letter ``check_types`` checks."""

    def __init__(self) -> None:
        self.names: dict[str, int] = {}
        self.types: list[str] = []

    def add(self, name: str, kind: str) -> int:
        position = self.names.get(name)
        if position is None:
            position = self.names[name] = len(self.names) + 1  # Lua counts from 1
            self.types.append(kind)
        return position


class SharedState:
    def __init__(
        self, redis: Redis, keys: Keys, duplicates: DuplicateIndex, velocity: Velocity
    ) -> None:
        self.keys = keys
        self.duplicates = duplicates
        self.velocity = velocity
        self._script: AsyncScript = script(redis, "spam_batch.lua")
        self.pseudonyms = Pseudonyms(redis, keys)

    async def queue(
        self, pipe: Pipeline, records: Sequence[CommentRecord], probes: Sequence[Probe | None]
    ) -> None:
        """Queue the batch's call (one reply). ``probes[i]`` is ``records[i]``'s signature to
        index, ``None`` for a text too short to compare."""
        keys = _KeyTable()
        rows: list[list[Any]] = []
        signatures: list[bytes] = []
        indexed = [p for p in probes if p is not None]
        stored = dict(
            zip((p.comment_id for p in indexed), self.duplicates.remember(indexed), strict=True)
        )
        secret = await self.pseudonyms.secret()
        for record, probe in zip(records, probes, strict=True):
            author = record.author.id
            ip_key = self.velocity.ip_key(record, secret)
            row: list[Any] = [
                record.id,
                record.created_at,
                keys.add(self.keys.author_comments(author), "-"),
                keys.add(self.keys.author(author), "-"),
                keys.add(ip_key, "z") if ip_key else 0,
                0,
            ]
            if probe is not None:
                row[5] = keys.add(self.keys.spam_signature(probe.comment_id), "x")
                signatures.append(stored[probe.comment_id])
                row.extend(keys.add(key, "z") for key in self.duplicates.band_keys(probe))
            rows.append(row)
        await self._script(
            keys=list(keys.names),
            args=[
                "".join(keys.types),
                self.duplicates.window_ms,
                self.duplicates.ttl_s,
                CANDIDATES_PER_BAND,
                self.velocity.window_ms,
                self.velocity.ttl_s,
                MAX_COUNT,
                msgspec.msgpack.encode(rows),
                *signatures,
            ],
            client=pipe,
        )

    @staticmethod
    def parse(reply: Sequence[Any]) -> list[SharedSignals]:
        """The per-comment signals of the reply of :meth:`queue`, in the records' order."""
        return [
            SharedSignals(
                list(candidates or []),
                VelocitySignals(
                    author_rate=as_int(author_rate),
                    ip_rate=as_int(ip_rate),
                    author_approved=max(as_int(approved), 0),
                    author_rejected=max(as_int(rejected), 0),
                ),
            )
            for candidates, author_rate, ip_rate, approved, rejected in reply
        ]
