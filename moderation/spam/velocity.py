"""Posting velocity per author and per IP address, and the author's track record.

*Author velocity* reads ``keys.author_comments(author)``, the sorted set of an author's comment
ids by creation time that ``submit.lua`` maintains for every accepted comment (so it cannot
drift from what was posted). *IP velocity* needs its own set (``keys.spam_ip_posts``), written
here for a whole batch before any read, trimmed to the window and expiring. Both count the
*other* comments within ± the window around this one's creation time: a burst of ten arriving
in one batch marks all ten, not only the last, and replayed comments are counted by when they
were written, not when scored.

The track record is the author's per-status tallies (``keys.author``: approved, rejected) kept
by ``transition.lua``; moderators' rejections make an author's next comments suspect.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from redis.asyncio.client import Pipeline

from moderation.keys import Keys
from moderation.messages import CommentRecord
from moderation.store.codec import as_int, as_str

#: Counting stops here: past it, "many" is all the signal needs to say.
MAX_COUNT = 100


def ip_bucket(ip: str) -> str:
    """The unit an address is counted in: itself for IPv4, its /64 network for IPv6 (one
    subscriber usually holds a whole /64 and can pick any address in it)."""
    try:
        address = ipaddress.ip_address(ip.strip())
    except ValueError:
        return ip
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


@dataclass(frozen=True, slots=True)
class VelocitySignals:
    author_rate: int = 0
    ip_rate: int = 0
    author_approved: int = 0
    author_rejected: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "author_rate": self.author_rate,
            "ip_rate": self.ip_rate,
            "author_approved": self.author_approved,
            "author_rejected": self.author_rejected,
        }


class Velocity:
    """Queues its reads and writes on a batch's pipeline; :meth:`parse` reads the replies."""

    def __init__(self, keys: Keys, window_s: int) -> None:
        self.keys = keys
        self.window_ms = int(window_s * 1000)
        self.ttl_s = max(int(window_s) * 2, 60)

    def queue_writes(self, pipe: Pipeline, records: Sequence[CommentRecord]) -> int:
        """Queue the recording of every comment's IP address; returns the number of replies.

        Queued for the whole batch before any read, so comments of one batch see each other
        (as they see each other in the author sets, written when they were accepted).
        """
        replies = 0
        for record in records:
            ip = record.context.ip if record.context else None
            if ip:
                t, key = record.created_at, self.keys.spam_ip_posts(ip_bucket(ip))
                pipe.zadd(key, {record.id: t})
                pipe.zremrangebyscore(key, "-inf", f"({t - self.window_ms}")
                pipe.expire(key, self.ttl_s)
                replies += 3
        return replies

    def queue(self, pipe: Pipeline, record: CommentRecord) -> int:
        """Queue one comment's reads; returns how many replies they will produce."""
        t, w = record.created_at, self.window_ms
        pipe.zrange(
            self.keys.author_comments(record.author.id),
            t + w,
            t - w,
            byscore=True,
            desc=True,
            offset=0,
            num=MAX_COUNT + 1,
        )
        pipe.hmget(self.keys.author(record.author.id), ["approved", "rejected"])
        ip = record.context.ip if record.context else None
        if ip:
            key = self.keys.spam_ip_posts(ip_bucket(ip))
            pipe.zrange(key, t + w, t - w, byscore=True, desc=True, offset=0, num=MAX_COUNT + 1)
            return 3
        return 2

    def parse(self, record: CommentRecord, replies: list[Any]) -> VelocitySignals:
        """Read the replies of :meth:`queue` (in order) for ``record``."""
        author_ids, tallies = replies[0], replies[1]
        approved, rejected = (as_int(v) for v in tallies)
        return VelocitySignals(
            author_rate=_others(author_ids, record.id),
            ip_rate=_others(replies[2], record.id) if len(replies) == 3 else 0,
            author_approved=max(approved, 0),
            author_rejected=max(rejected, 0),
        )


def _others(ids: Any, own: str) -> int:
    if not isinstance(ids, list):
        return 0
    return min(sum(1 for i in ids if as_str(i) != own), MAX_COUNT)
