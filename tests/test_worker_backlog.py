"""Under a backlog the worker reads bigger batches, doubling per full read up to
``batch_size_backlog``, and goes back to ``batch_size`` once the stream is worked off; every
comment is decided exactly once."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from redis.asyncio import Redis

from moderation.keys import Keys
from moderation.settings import Settings
from moderation.store.queue import Entry
from tests.conftest import linear_scorer, wait_for
from tests.test_pipeline_batch import prepare, stream
from workers.scoring import ScoringWorker


class SizedWorker(ScoringWorker):
    """The real worker, noting the size of every batch it hands to the pipeline."""

    sizes: list[int]

    async def process(
        self, entries: Sequence[Entry], sent: asyncio.Future[None] | None = None
    ) -> None:
        self.sizes.append(len(entries))
        await super().process(entries, sent)


async def drain(settings: Settings, rds: Redis, n: int) -> list[int]:
    keys = Keys(settings.key_prefix)
    await prepare(rds, keys, stream(n))
    worker = SizedWorker(settings, rds, linear_scorer(), name="backlog")
    worker.sizes = []
    task = asyncio.create_task(worker.run())
    try:
        await wait_for(lambda: _none_pending(rds, keys), timeout=30)
    finally:
        worker.request_stop()
        await asyncio.wait_for(task, 15)
    assert sum(worker.sizes) == n  # each entry handed over once
    events = await rds.xlen(keys.events)
    assert events == n  # one decision event per comment
    return worker.sizes


async def _none_pending(rds: Redis, keys: Keys) -> bool:
    return await rds.zcard(keys.pending) == 0


async def test_backlog_reads_bigger_batches(settings: Settings, rds: Redis) -> None:
    sizes = await drain(settings.with_overrides(batch_size=8, batch_size_backlog=40), rds, 150)
    assert sizes[0] == 8  # the first read cannot know about the backlog
    # Each full read doubles the next one, up to the backlog size: a short burst is worked off
    # in medium batches, a lasting one in the largest.
    assert sizes[:5] == [8, 16, 32, 40, 40]
    assert all(size <= 40 for size in sizes)


async def test_backlog_below_batch_size_changes_nothing(settings: Settings, rds: Redis) -> None:
    sizes = await drain(settings.with_overrides(batch_size=8, batch_size_backlog=4), rds, 60)
    assert max(sizes) == 8
