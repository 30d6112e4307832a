"""A batch's shared spam state in one script call: near duplicates, velocity, author tallies.

:meth:`SharedState.queue` queues one ``lua/spam_batch.lua`` call on the batch's pipeline; it
records every comment's IP address, indexes the comments that are long enough to compare
(:mod:`.duplicates`) and reads, per comment, its near-duplicate candidates, its author's and
IP's posting velocity (:mod:`.velocity`) and its author's tallies. :meth:`SharedState.parse`
turns the reply into per-comment candidates and :class:`~.velocity.VelocitySignals`.

Keys are passed once per batch however many comments share them (an author, an IP, a time
shard of the near-duplicate index), so the script checks each key's type once, trims and
expires each IP set once, and reads and writes each shard once per batch.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.commands.core import AsyncScript

from moderation.keys import Keys
from moderation.messages import CommentRecord
from moderation.spam.duplicates import DuplicateIndex
from moderation.spam.lsh import (
    _DEPTH,
    BUCKET_CAP,
    CANDIDATES_PER_BAND,
    FIRST_GENERATION,
    FOLD_RATE,
    GROWTH,
    TRIM_AT,
    Lookup,
    generation,
    grouped_entries,
    lookup,
    parse_shards,
    probe_blob,
    select,
    wanted_groups,
)
from moderation.spam.minhash import Probe
from moderation.spam.velocity import MAX_COUNT, Velocity, VelocitySignals, ip_member
from moderation.store.codec import as_int, script
from moderation.store.pseudonyms import Pseudonyms


@dataclass(frozen=True, slots=True)
class SharedSignals:
    """What the shared state says about one comment."""

    #: Other comments sharing an LSH bucket within the window (to be confirmed): each its ref
    #: (``minhash.comment_ref``) and its shard's index.
    candidates: list[tuple[bytes, int]]
    velocity: VelocitySignals


#: The ARGV position (Lua counts from 1) of the first grouped entries, then probes
#: (``lua/spam_batch.lua``).
_FIRST_GROUPED_ARG = 16


@dataclass(frozen=True, slots=True)
class Queued:
    """What :meth:`SharedState.parse` needs of a queued batch: the comments looked up, the
    groups read in each shard (in the order of their ``HMGET``s), and how many replies the
    batch has in the pipeline (the ``HMGET``s, then the script's)."""

    lookups: list[Lookup | None]
    asked: dict[int, list[str]]
    #: Per shard written, the batch's comments indexed there (at most).
    written: dict[int, int]

    @property
    def replies(self) -> int:
        return len(self.asked) + 1


#: Shards whose last generation a worker remembers (a few are live at a time).
_KNOWN_SHARDS = 64


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
        # Per shard, its comments when this process last wrote or read it: the groups to ask
        # for (the script reads those of other generations itself) and where the next batch's
        # entries go (the script checks); and its oldest generation with groups then.
        self._counts: dict[int, int] = {}
        self._folded: dict[int, int] = {}

    async def queue(
        self, pipe: Pipeline, records: Sequence[CommentRecord], probes: Sequence[Probe | None]
    ) -> Queued:
        """Queue the batch's reads and call on ``pipe``, a transaction (``MULTI``: the reads
        must see the index as the script finds it); :meth:`parse` takes their replies
        (``Queued.replies`` of them, first in the pipeline) and what this returns. ``probes[i]``
        is ``records[i]``'s signature to index, ``None`` for a text too short to compare."""
        keys = _KeyTable()
        rows: list[list[Any]] = []
        blobs: list[bytes] = []
        indexed = [p for p in probes if p is not None]
        stored = dict(
            zip((p.comment_id for p in indexed), self.duplicates.remember(indexed), strict=True)
        )
        geometry = self.duplicates.geometry
        # Every shard a compared comment reads (± the window) or writes (its own): the LSH
        # hash of each, and the signature hash of those written.
        written = {geometry.shard(p.created_ms) for p in indexed}
        shards = sorted({s for p in indexed for s in geometry.around(p.created_ms)} | written)
        lookups: list[Lookup | None] = [
            None if p is None else lookup(p.created_ms, p.comment_id, p.signature) for p in probes
        ]
        counts = self._counts
        folded = self._folded
        known = {s: (folded.get(s, 0), generation(n - 1)) for s, n in counts.items() if n > 0}
        asked = wanted_groups(geometry, lookups, known)
        grouped = grouped_entries(geometry, lookups, counts)
        first_probe = _FIRST_GROUPED_ARG + len(grouped)
        grouped_arg = {s: _FIRST_GROUPED_ARG + i for i, s in enumerate(grouped)}
        plan = [
            [
                s,
                keys.add(geometry.lsh_key(s), "h"),
                keys.add(geometry.signature_key(s), "h") if s in written else 0,
                known[s][1] if s in asked else -1,
                grouped_arg.get(s, 0),
                known[s][0] if s in asked else 0,
            ]
            for s in shards
        ]
        # The groups as they are before the batch, read at C speed (not through the script)
        # in the same transaction, just before it.
        for s, names in asked.items():
            pipe.hmget(geometry.lsh_key(s), names)
        secret = await self.pseudonyms.secret()
        for record, probe, looked in zip(records, probes, lookups, strict=True):
            author = record.author.id
            site_keys = self.keys.for_site(record.site)  # an author is one site's
            ip_key = self.velocity.ip_key(record, secret)
            row: list[Any] = [
                record.id,
                record.created_at,
                keys.add(site_keys.author_comments(author), "-"),
                keys.add(site_keys.author(author), "-"),
                keys.add(ip_key, "z") if ip_key else 0,
                0,
                ip_member(record.id) if ip_key else "",
            ]
            if looked is not None and probe is not None:
                t, ref, keys5, fks = looked
                row[5] = first_probe + len(blobs)
                offset = t - geometry.shard(t) * geometry.width_ms
                blobs.append(probe_blob(ref, offset, keys5, fks, stored[probe.comment_id]))
            rows.append(row)
        await self._script(
            keys=list(keys.names),
            args=[
                "".join(keys.types),
                geometry.window_ms,
                geometry.width_ms,
                geometry.margin_ms,
                self.velocity.window_ms,
                self.velocity.ttl_s,
                MAX_COUNT,
                FIRST_GENERATION,
                GROWTH,
                _DEPTH,
                TRIM_AT,
                BUCKET_CAP,
                FOLD_RATE,
                msgspec.msgpack.encode(rows),
                msgspec.msgpack.encode(plan),
                *grouped.values(),
                *blobs,
            ],
            client=pipe,
        )
        per_shard = Counter(geometry.shard(x[0]) for x in lookups if x is not None)
        return Queued(lookups, asked, dict(per_shard))

    def parse(self, replies: Sequence[Any], queued: Queued) -> list[SharedSignals]:
        """The per-comment signals from the replies of what :meth:`queue` queued (it returned
        ``queued``), in the records' order: the candidates are picked here from the index's
        groups read (:func:`~.lsh.select`), as if each comment had been looked up in
        turn."""
        *got, (rows, extra) = replies
        read = dict(zip(queued.asked, zip(queued.asked.values(), got, strict=True), strict=True))
        shards = parse_shards(extra, read)
        if len(self._counts) > _KNOWN_SHARDS:
            self._counts.clear()
            self._folded.clear()
        for s, (n, folded, _) in shards.items():
            self._counts[s] = n + queued.written.get(s, 0)
            self._folded[s] = folded
        candidates = select(
            self.duplicates.geometry, shards, queued.lookups, CANDIDATES_PER_BAND, sequential=True
        )
        return [
            SharedSignals(
                found,
                VelocitySignals(
                    author_rate=as_int(author_rate),
                    ip_rate=as_int(ip_rate),
                    author_approved=max(as_int(approved), 0),
                    author_rejected=max(as_int(rejected), 0),
                ),
            )
            for found, (author_rate, ip_rate, approved, rejected) in zip(
                candidates, rows, strict=True
            )
        ]
