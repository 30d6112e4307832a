"""Automatic linger: an idle worker takes a lone comment at once, and lingers for a fuller batch
only while the previous batch is still being decided (``batch_linger_auto``)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from redis.asyncio import Redis

from moderation.keys import CommentField, Keys
from moderation.messages import Status
from moderation.settings import Settings
from moderation.store.comments import Store
from moderation.store.queue import CommentQueue, Entry
from tests.conftest import Api, comment, linear_scorer, running_worker, wait_for
from tests.test_pipeline_batch import prepare, stream
from workers.scoring import ScoringWorker


async def _post_and_wait(api: Api, author: str) -> int:
    reply = await api.post_comment(comment(author=author), wait=1.5)
    assert reply.status_code in (201, 202), reply.text
    return reply.status_code


async def test_an_idle_worker_does_not_linger(api: Api, settings: Settings) -> None:
    # A linger far past the wait: only a worker that skips it decides within the wait.
    tuned = settings.with_overrides(batch_size=32, batch_linger_ms=4000, batch_linger_auto=True)
    async with running_worker(tuned, name="eager"):
        assert await _post_and_wait(api, "u-eager") == 201


async def test_a_fixed_linger_holds_a_lone_comment(api: Api, settings: Settings) -> None:
    tuned = settings.with_overrides(batch_size=32, batch_linger_ms=4000, batch_linger_auto=False)
    async with running_worker(tuned, name="patient"):
        assert await _post_and_wait(api, "u-patient") == 202


async def test_a_read_lingers_only_until_it_is_told_to_stop(rds: Redis) -> None:
    keys = Keys()
    queue = CommentQueue(rds, keys, "t")
    await queue.ensure_group()
    await rds.xadd(keys.stream, {"id": "c1"})
    done = asyncio.Event()

    async def later() -> None:
        await asyncio.sleep(0.05)
        await rds.xadd(keys.stream, {"id": "c2"})  # arrives while the read lingers
        await asyncio.sleep(0.1)
        done.set()  # the previous batch is written: the read must return now

    started = time.monotonic()
    task = asyncio.create_task(later())
    in_flight = asyncio.ensure_future(done.wait())  # stands for the worker's batch in flight
    entries = await queue.read(32, 100, 10_000, until=in_flight)
    await task
    assert [e.comment_id for e in entries] == ["c1", "c2"]
    assert time.monotonic() - started < 5  # far short of the 10 s linger
    # Already told to stop: it takes what is there and does not linger at all.
    await rds.xadd(keys.stream, {"id": "c3"})
    assert [e.comment_id for e in await queue.read(32, 100, 10_000, until=in_flight)] == ["c3"]


async def test_a_read_whose_batch_in_flight_is_already_done_asks_redis_once(rds: Redis) -> None:
    """The batch in flight finished before the blocking read answered: that read took all there
    was, so no second XREADGROUP follows it (one round trip of a light-load batch's few)."""
    keys = Keys()
    queue = CommentQueue(rds, keys, "t")
    await queue.ensure_group()
    await rds.xadd(keys.stream, {"id": "c1"})
    finished = asyncio.get_running_loop().create_future()
    finished.set_result(None)
    await rds.config_resetstat()
    entries = await queue.read(32, 100, 10_000, until=finished)
    assert [e.comment_id for e in entries] == ["c1"]
    stats = await rds.info("commandstats")
    assert stats["cmdstat_xreadgroup"]["calls"] == 1


class HeldWorker(ScoringWorker):
    """The real worker whose first batch, once decided and written, stays in flight until
    ``release`` is set (as a batch whose write's round trip is slow would)."""

    release: asyncio.Event
    batches: list[list[str]]

    async def process(
        self, entries: Sequence[Entry], sent: asyncio.Future[None] | None = None
    ) -> None:
        self.batches.append([e.comment_id for e in entries])
        await super().process(entries, sent)
        if len(self.batches) == 1:
            await self.release.wait()


async def test_the_next_batch_does_not_wait_for_the_write_in_flight(
    settings: Settings, rds: Redis
) -> None:
    """The linger ends once the batch in flight is decided, not once its write is answered: a
    comment arriving meanwhile is decided while that batch is still in flight, far inside a
    linger that would otherwise hold it (10 s)."""
    keys = Keys(settings.key_prefix)
    first, second = stream(2)
    await prepare(rds, keys, [first])
    tuned = settings.with_overrides(batch_size=32, batch_linger_ms=10_000, batch_linger_auto=True)
    worker = HeldWorker(tuned, rds, linear_scorer(), name="held")
    worker.release, worker.batches = asyncio.Event(), []
    task = asyncio.create_task(worker.run())
    try:
        await wait_for(lambda: _decided(rds, keys, first.id), timeout=10)
        await Store(rds, keys).submit(second, "", None, 0)
        await wait_for(lambda: _decided(rds, keys, second.id), timeout=5)
        assert worker.batches == [[first.id], [second.id]]
        assert not worker.release.is_set()  # the first batch was in flight all along
    finally:
        worker.release.set()
        worker.request_stop()
        await asyncio.wait_for(task, 15)


async def _decided(rds: Redis, keys: Keys, comment_id: str) -> bool:
    status = await rds.hget(keys.comment(comment_id), CommentField.STATUS)
    return status not in (None, Status.PENDING.value.encode())
