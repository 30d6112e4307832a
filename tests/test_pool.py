"""The supervised worker pool (workers/pool.py, ``moderation worker --processes N``).

Real processes against a real redis-server: a killed worker is restarted and the stream
drained; SIGTERM to the pool leaves nothing pending; four processes with a ``kill -9`` every
second decide every comment exactly once.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager

from redis.asyncio import Redis

from moderation.evaluation.corpus import prose
from moderation.ids import new_id
from moderation.keys import SCORING_GROUP, CommentField, Keys
from moderation.messages import Author, CommentRecord
from moderation.settings import Settings
from moderation.store.comments import Store
from tests.conftest import ROOT, settings_env, wait_for
from tests.test_recovery import _decision_events, _pending_count
from workers.pool import Pool

K = Keys()


def _env(settings: Settings) -> dict[str, str]:
    return {
        **os.environ,
        **settings_env(settings.with_overrides(scorer="zero")),
        "PYTHONUNBUFFERED": "1",
    }


async def _fill(rds: Redis, n: int, run: str) -> list[str]:
    store = Store(rds, K)
    now = int(time.time() * 1000)
    records = [
        CommentRecord(
            id=new_id(now + i),
            article_id=f"{run}-a{i % 13}",
            text=prose(i),
            author=Author(id=f"{run}-u{i}", name="Reader"),
            created_at=now + i,
            site="test",
        )
        for i in range(n)
    ]
    for i in range(0, n, 100):
        await asyncio.gather(*(store.submit(r, "", None, 0) for r in records[i : i + 100]))
    return [r.id for r in records]


@contextmanager
def running_pool(pool: Pool) -> Iterator[threading.Thread]:
    thread = threading.Thread(target=pool.run, kwargs={"poll_s": 0.05}, daemon=True)
    thread.start()
    try:
        yield thread
    finally:
        pool.request_stop()
        thread.join(timeout=60)


async def _all_decided(rds: Redis, ids: list[str]) -> bool:
    return await rds.zcard(K.pending) == 0 and len(await _decision_events(rds)) >= len(ids)


async def test_the_pool_restarts_a_killed_worker_and_drains_the_stream(
    settings: Settings, rds: Redis
) -> None:
    pool = Pool(2, base_name="pool-t1", env=_env(settings), backoff_s=0.1)
    with running_pool(pool):
        await wait_for(lambda: _count(rds, 2), timeout=60)
        victim = pool.pids[0]
        os.kill(victim, signal.SIGKILL)
        await wait_for(lambda: _true(pool.restarts >= 1 and len(pool.pids) == 2), timeout=30)
        assert victim not in pool.pids
        ids = await _fill(rds, 300, "t1")
        await wait_for(lambda: _all_decided(rds, ids), timeout=60)
    assert set((await _decision_events(rds)).values()) == {1}
    assert await _pending_count(rds) == 0


async def test_sigterm_to_the_pool_leaves_nothing_pending(settings: Settings, rds: Redis) -> None:
    ids = await _fill(rds, 2000, "t2")
    proc = subprocess.Popen(  # noqa: ASYNC220 - a child the test signals, not awaited I/O
        [sys.executable, "-m", "moderation", "worker", "--processes", "2"],
        env={**_env(settings), "MODERATION_WORKER_NAME": "pool-t2"},
        cwd=ROOT,
    )
    try:
        # Stop in the middle of the drain: both workers hold batches.
        await wait_for(lambda: _some_decided(rds, 100), timeout=60)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert await _pending_count(rds) == 0  # every batch in hand was finished and acked
    assert await rds.zcard(K.workers) == 0  # each worker unregistered
    decided = await _decision_events(rds)
    assert set(decided.values()) == {1}
    assert 0 < len(decided) <= len(ids)


async def test_four_processes_killed_repeatedly_decide_every_comment_exactly_once(
    settings: Settings, rds: Redis
) -> None:
    ids = await _fill(rds, 3000, "t3")
    pool = Pool(4, base_name="pool-t3", env=_env(settings), backoff_s=0.1)
    kills = 0
    with running_pool(pool):
        await wait_for(lambda: _count(rds, 4), timeout=60)
        # A kill -9 every second, at most six, while the stream drains.
        while kills < 6 and await rds.zcard(K.pending):
            await asyncio.sleep(1.0)
            if pool.pids:
                os.kill(pool.pids[kills % len(pool.pids)], signal.SIGKILL)
                kills += 1
        await wait_for(lambda: _all_decided(rds, ids), timeout=120)
        await wait_for(lambda: _no_pending_entries(rds), timeout=30)
    decided = await _decision_events(rds)
    assert kills >= 1
    assert len(decided) == len(ids)
    assert set(decided.values()) == {1}  # never twice
    statuses = {s async for s in _statuses(rds, ids)}
    assert "pending" not in statuses


async def _statuses(rds: Redis, ids: list[str]) -> AsyncIterator[str]:
    for i in range(0, len(ids), 500):
        pipe = rds.pipeline(transaction=False)
        for cid in ids[i : i + 500]:
            pipe.hget(K.comment(cid), CommentField.STATUS)
        for status in await pipe.execute():
            yield status.decode()


async def _count(rds: Redis, n: int) -> bool:
    return bool(await rds.zcard(K.workers) >= n)


async def _true(value: bool) -> bool:
    return value


async def _some_decided(rds: Redis, n: int) -> bool:
    return len(await _decision_events(rds)) >= n


async def _no_pending_entries(rds: Redis) -> bool:
    info = await rds.xpending(K.stream, SCORING_GROUP)
    return int(info["pending"]) == 0
