"""``take.lua``: a read of the comment stream that finds entries waiting takes them with their
comments (document and status) in the same round trip, and the pipeline decides them without
reading them again; what the script does not read (an id key encoding would change, a key of
the wrong type, a blocking read's entries) is read the usual way, with the same outcome."""

from __future__ import annotations

import asyncio

import msgspec
from redis.asyncio import Redis

from moderation.keys import SCORING_GROUP, CommentField, Keys
from moderation.messages import Status
from moderation.pipeline.batch import BatchPipeline
from moderation.settings import Settings
from moderation.store.codec import lua_source
from moderation.store.comments import Store
from moderation.store.queue import CommentQueue
from tests.conftest import linear_scorer
from tests.test_pipeline_batch import stream


async def _submit(rds: Redis, n: int) -> list[str]:
    store = Store(rds, Keys())
    records = stream(n)
    for record in records:
        await store.submit(record, "", None, 0)
    return [r.id for r in records]


async def _submit_more(rds: Redis, n: int) -> list[str]:
    store = Store(rds, Keys())
    records = [msgspec.structs.replace(r, id=f"d{r.id[1:]}") for r in stream(n)]
    for record in records:
        await store.submit(record, "", None, 0)
    return [r.id for r in records]


async def _stored(rds: Redis, comment_id: str) -> tuple[bytes, bytes]:
    doc, status = await rds.hmget(Keys().comment(comment_id), CommentField.DOC, CommentField.STATUS)
    return doc, status


async def test_under_a_backlog_waiting_entries_come_with_their_comments(rds: Redis) -> None:
    queue = CommentQueue(rds, Keys(), "t")
    await queue.ensure_group()
    ids = await _submit(rds, 5)
    # No backlog known yet: a blocking read, entries without their comments.
    first = await queue.read(2, 100, 0)
    assert [(e.comment_id, e.row) for e in first] == [(ids[0], None), (ids[1], None)]
    await rds.script_load(lua_source("take.lua"))  # loaded before the count starts
    await rds.config_resetstat()
    # It came back full: the next reads take what waits with its comments, one call each.
    second = await queue.read(2, 100, 0)
    third = await queue.read(2, 100, 0)
    assert [e.comment_id for e in second + third] == ids[2:]
    for entry in second + third:
        assert entry.row == await _stored(rds, entry.comment_id)
        assert entry.row[1] == Status.PENDING.value.encode()
    stats = await rds.info("commandstats")
    assert stats["cmdstat_xreadgroup"]["calls"] == 2  # inside the script calls
    assert stats["cmdstat_evalsha"]["calls"] == 2
    # Taken means delivered: the group's pending list holds them, as after an XREADGROUP.
    pending = await rds.xpending_range(Keys().stream, SCORING_GROUP, "-", "+", 10)
    assert [p["consumer"] for p in pending] == [b"t"] * 5
    # The last read was short: the stream is drained, so the next one blocks at once.
    ids += await _submit_more(rds, 1)
    fourth = await queue.read(2, 100, 0)
    assert [(e.comment_id, e.row) for e in fourth] == [(ids[5], None)]


async def test_a_blocking_reads_entries_are_read_with_the_rest_of_the_batch(
    rds: Redis,
) -> None:
    queue = CommentQueue(rds, Keys(), "t")
    await queue.ensure_group()
    done = asyncio.Event()

    async def arrivals() -> None:
        await asyncio.sleep(0.05)
        await _submit(rds, 1)  # wakes the blocking read: taken without its comment
        await asyncio.sleep(0.05)
        store = Store(rds, Keys())
        await store.submit(stream(2)[1], "", None, 0)  # arrives while the read lingers
        await asyncio.sleep(0.05)
        done.set()

    task = asyncio.create_task(arrivals())
    in_flight = asyncio.ensure_future(done.wait())
    entries = await queue.read(32, 2000, 10_000, until=in_flight)
    await task
    assert [e.comment_id for e in entries] == ["c00000", "c00001"]
    # The fill read took the second with its comment and read the first's.
    for entry in entries:
        assert entry.row == await _stored(rds, entry.comment_id)


async def test_what_the_script_cannot_read_is_read_by_the_pipeline(
    rds: Redis, settings: Settings
) -> None:
    keys = Keys()
    await _submit(rds, 3)
    # An id that key encoding changes, and one whose key is not a hash.
    await rds.xadd(keys.stream, {"id": "odd:id"})
    await rds.set(keys.comment("c09999"), "not a hash")
    await rds.xadd(keys.stream, {"id": "c09999"})
    queue = CommentQueue(rds, keys, "t")
    await queue.ensure_group()
    first = await queue.read(1, 100, 0)  # full: a backlog, so the next read is the script's
    rest = await queue.read(32, 100, 0)
    assert [e.comment_id for e in rest] == ["c00001", "c00002", "odd:id", "c09999"]
    assert [e.row is not None for e in rest] == [True, True, False, False]
    entries = first + rest
    pipeline = BatchPipeline(settings, rds, linear_scorer(), consumer="t")
    try:
        result = await pipeline.process(entries)
    finally:
        pipeline.close()
    # As before the script: the two comments decided, the unknown id acknowledged, the poison
    # key's entry left for retry (then dead-lettered), its neighbours unharmed.
    assert (result.decided, result.acked, result.retry) == (3, 4, 1)
    for comment_id in ("c00000", "c00001", "c00002"):
        status = (await _stored(rds, comment_id))[1]
        assert status != Status.PENDING.value.encode()
    pending = await rds.xpending_range(keys.stream, SCORING_GROUP, "-", "+", 10)
    assert len(pending) == 1


async def test_a_deleted_group_is_made_again(rds: Redis) -> None:
    keys = Keys()
    queue = CommentQueue(rds, keys, "t")
    await queue.ensure_group()
    await rds.xgroup_destroy(keys.stream, SCORING_GROUP)
    assert await queue.read(32, 10, 0) == []
    groups = await rds.xinfo_groups(keys.stream)
    assert [g["name"] for g in groups] == [SCORING_GROUP.encode()]


async def test_a_full_batch_does_not_wait_for_the_batch_in_flight(rds: Redis) -> None:
    """Under a backlog the worker decides the next batch beside the one in flight: a read
    that finds a full batch returns it, with its comments, however long the linger and
    whether or not the batch in flight is done; a short one still lingers for it."""
    queue = CommentQueue(rds, Keys(), "t")
    await queue.ensure_group()
    ids = await _submit(rds, 5)
    never: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    # The first read blocks (no backlog known yet) and finds a full batch: loaded, not held.
    first = await asyncio.wait_for(queue.read(2, 100, 60_000, until=never), timeout=30)
    # Full again: now taken with the comments in one call.
    second = await asyncio.wait_for(queue.read(2, 100, 60_000, until=never), timeout=30)
    assert [e.comment_id for e in first + second] == ids[:4]
    for entry in first + second:
        assert entry.row == await _stored(rds, entry.comment_id)
    # One left: a short batch lingers until the batch in flight is done.
    last = asyncio.ensure_future(queue.read(2, 100, 60_000, until=never))
    await asyncio.sleep(0.2)
    assert not last.done()
    never.set_result(None)
    assert [e.comment_id for e in await asyncio.wait_for(last, timeout=30)] == ids[4:]
