"""Worker facts: the one record a scoring worker writes about itself and stats read back.

A worker keeps a hash (``Keys.worker``) holding these fields, rewritten on every heartbeat and
expiring when beats stop; its ``processed`` field is also incremented in the same round trip as
each batch's decisions. ``Keys.workers`` scores worker names by their last beat, so a worker that
died keeps showing (stale, then ``gone``) for a while after its hash expired.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import msgspec
from redis.asyncio import Redis

from moderation.keys import Keys
from moderation.store.codec import as_int, as_str

#: The hash field a batch's decisions increment (see ``pipeline.batch.AfterWrite``).
PROCESSED = "processed"


class WorkerFacts(msgspec.Struct, kw_only=True):
    """What one scoring worker reports about itself."""

    name: str
    host: str = ""
    pid: int = 0
    model: str = ""
    model_version: str = ""
    device: str = ""
    runtime: str = ""
    degraded: bool = False
    batch_size: int = 0
    last_batch: int = 0
    processed: int = 0
    dead_lettered: int = 0
    started_at: float = 0.0
    last_beat: float = 0.0
    #: The worker's hash has expired: only its last beat is known.
    gone: bool = False

    def to_hash(self) -> dict[str, str | int | float]:
        """The fields as the heartbeat writes them (``gone`` is never written; ``processed``
        is left to the increments, so a beat cannot overwrite a batch's count)."""
        out: dict[str, str | int | float] = {}
        for field in self.__struct_fields__:
            if field in ("gone", PROCESSED):
                continue
            value = getattr(self, field)
            out[field] = int(value) if isinstance(value, bool) else value
        return out

    @classmethod
    def from_hash(cls, name: str, raw: Mapping[Any, Any]) -> WorkerFacts:
        """Facts from an ``HGETALL`` reply (missing or malformed fields take their defaults)."""
        data = {as_str(k): as_str(v) for k, v in raw.items()}

        def number(key: str) -> float:
            try:
                return float(data.get(key, 0) or 0)
            except ValueError:
                return 0.0

        return cls(
            name=name,
            host=data.get("host", ""),
            pid=as_int(data.get("pid")),
            model=data.get("model", ""),
            model_version=data.get("model_version", ""),
            device=data.get("device", ""),
            runtime=data.get("runtime", ""),
            degraded=data.get("degraded") == "1",
            batch_size=as_int(data.get("batch_size")),
            last_batch=as_int(data.get("last_batch")),
            processed=as_int(data.get(PROCESSED)),
            dead_lettered=as_int(data.get("dead_lettered")),
            started_at=number("started_at"),
            last_beat=number("last_beat"),
        )

    @classmethod
    def departed(cls, name: str, last_beat: float) -> WorkerFacts:
        """A worker whose hash expired: it stopped beating long ago without unregistering."""
        return cls(name=name, last_beat=last_beat, gone=True)


async def load_facts(
    redis: Redis, keys: Keys, seen: Sequence[tuple[str, float]]
) -> list[WorkerFacts]:
    """The facts of workers ``(name, last beat)`` in one round trip; a worker whose hash has
    expired (it stopped beating long ago) is reported as departed."""
    if not seen:
        return []
    pipe = redis.pipeline(transaction=False)
    for name, _ in seen:
        pipe.hgetall(keys.worker(name))
    return [
        WorkerFacts.from_hash(name, raw) if raw else WorkerFacts.departed(name, beat)
        for (name, beat), raw in zip(seen, await pipe.execute(), strict=True)
    ]
