"""Trimming a stream, never past what a consumer group has not acknowledged.

``trim_acknowledged`` removes the oldest entries of a stream while keeping (a) every entry some
consumer group has not yet read or acknowledged and (b) at least ``keep`` newest entries (live
views replay recent events; the audit page reads recent entries). A group's floor is its oldest
pending entry (``XPENDING``), else its last delivered id; the stream is cut below the lowest
floor of all groups with ``XTRIM MINID``. The work is bounded: one call looks at most at
``max_scan`` entries beyond ``keep``, so trimming often keeps each call small.
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis

from moderation.store.codec import as_str


def id_tuple(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


async def acknowledged_floor(redis: Redis, stream: str) -> str | None:
    """The lowest id any group still needs (``None``: no group reads the stream)."""
    groups: Any = await redis.xinfo_groups(stream)
    floors: list[str] = []
    for g in groups:
        name = as_str(g["name"])
        pending = int(g.get("pending", 0))
        if pending:
            summary: Any = await redis.xpending(stream, name)
            floors.append(as_str(summary["min"]))
        else:
            # Everything up to the last delivered entry is acknowledged; keep that entry (MINID
            # keeps ids >= the floor), which also keeps a group created at "$" satisfied.
            floors.append(as_str(g.get("last-delivered-id", "0-0")))
    return min(floors, key=id_tuple) if floors else None


async def trim_acknowledged(redis: Redis, stream: str, *, keep: int, max_scan: int = 10_000) -> int:
    """Trim ``stream`` as described above; returns the number of entries removed."""
    length = int(await redis.xlen(stream))
    excess = length - max(keep, 0)
    if excess <= 0:
        return 0
    floor = await acknowledged_floor(redis, stream)
    n = min(excess, max_scan)
    rows: Any = await redis.xrange(stream, "-", "+", count=n + 1)
    # The first entry to keep for ``keep``'s sake (none: every entry scanned may go).
    cut = as_str(rows[n][0]) if len(rows) > n else None
    if floor is not None and (cut is None or id_tuple(floor) < id_tuple(cut)):
        cut = floor
    if cut is None:
        return int(await redis.xtrim(stream, maxlen=max(keep, 0), approximate=False))
    return int(await redis.xtrim(stream, minid=cut, approximate=False))
