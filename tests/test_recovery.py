"""Nothing accepted is lost: killed workers, redelivery, poison messages, SIGTERM, restarts."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Sequence

import pytest
from redis.asyncio import Redis

from moderation.evaluation.corpus import prose
from moderation.keys import SCORING_GROUP, CommentField, Keys
from moderation.messages import ModelInfo
from moderation.settings import Settings
from tests.conftest import (
    Api,
    RedisServer,
    comment,
    linear_scorer,
    make_settings,
    running_api,
    running_worker,
    wait_for,
    worker_subprocess,
)

K = Keys()


async def _statuses(rds: Redis, ids: list[str]) -> list[str]:
    pipe = rds.pipeline(transaction=False)
    for i in ids:
        pipe.hget(K.comment(i), CommentField.STATUS)
    return [s.decode() for s in await pipe.execute()]


async def _decision_events(rds: Redis) -> Counter[str]:
    """How many transitions out of ``pending`` each comment had (must be exactly one)."""
    events = await rds.xrange(K.events)
    return Counter(f[b"id"].decode() for _, f in events if f[b"from"] == b"pending")


async def _pending_count(rds: Redis) -> int:
    info = await rds.xpending(K.stream, SCORING_GROUP)
    return int(info["pending"])


async def _post_many(api: Api, n: int, article: str = "r1", offset: int = 0) -> list[str]:
    replies = await asyncio.gather(
        *(
            api.post_comment(
                comment(article=article, text=prose(offset + i), author=f"r{offset + i}")
            )
            for i in range(n)
        )
    )
    assert all(r.status_code == 202 for r in replies)
    return [r.json()["id"] for r in replies]


async def _dead_workers_pending(rds: Redis, consumer: str) -> int:
    rows = await rds.xpending_range(K.stream, SCORING_GROUP, "-", "+", 1000, consumer)
    return len(rows)


@pytest.mark.fault
async def test_worker_killed_mid_batch_is_recovered_exactly_once(
    api: Api, settings: Settings, rds: Redis
) -> None:
    ids = await _post_many(api, 12)
    # A worker that reads the batch and then lingers for more: SIGKILL it while it holds the
    # 12 entries read but unacknowledged.
    proc = worker_subprocess(
        settings,
        worker_name="doomed",
        batch_size=100,
        batch_linger_ms=30_000,
        batch_linger_auto=False,
    )
    try:
        await wait_for(lambda: _dead_workers_pending(rds, "doomed"), timeout=30)
        assert await _dead_workers_pending(rds, "doomed") == 12
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert set(await _statuses(rds, ids)) == {"pending"}

    async with running_worker(settings, name="rescuer") as rescuer:

        async def all_decided() -> bool:
            # The decisions are written, then acknowledged and counted: wait for the count too.
            return "pending" not in await _statuses(rds, ids) and rescuer.processed >= 12

        await wait_for(all_decided, timeout=20)
        assert rescuer.processed == 12
    assert set(await _statuses(rds, ids)) == {"approved"}
    events = await _decision_events(rds)
    assert all(events[i] == 1 for i in ids)
    assert await _pending_count(rds) == 0
    assert await rds.zcard(K.approved("r1")) == 12
    counts = await api.client.get("/v1/counts", params={"article": "r1"})
    assert counts.json()["counts"]["r1"] == 12
    assert int(await rds.hget(K.counters, "decided:approved")) == 12


async def test_redelivered_entries_change_nothing(api: Api, settings: Settings, rds: Redis) -> None:
    async with running_worker(settings) as worker:
        ids = await _post_many(api, 5)

        async def done() -> bool:
            return set(await _statuses(rds, ids)) == {"approved"}

        await wait_for(done)
        before = await rds.hgetall(K.counters)
        # The same comments arrive again (as after a crash between decision and XACK).
        for i in ids:
            await rds.xadd(K.stream, {"id": i})
        await wait_for(lambda: _stream_drained(rds))
    assert worker.processed == 5  # read once stopped: counted after its acknowledgement
    assert await rds.hgetall(K.counters) == before
    assert all(n == 1 for n in (await _decision_events(rds)).values())
    assert await rds.zcard(K.approved("r1")) == 5


async def _stream_drained(rds: Redis) -> bool:
    groups = await rds.xinfo_groups(K.stream)
    last = (await rds.xrevrange(K.stream, count=1))[0][0]
    return bool(groups[0]["last-delivered-id"] == last and groups[0]["pending"] == 0)


@pytest.mark.fault
async def test_poison_message_is_dead_lettered_and_held(
    api: Api, settings: Settings, rds: Redis
) -> None:
    good = await _post_many(api, 3, offset=100)
    poison = (await api.post_comment(comment(article="r1", text="poison"))).json()["id"]
    # Corrupt the stored document: every attempt to process it fails.
    await rds.hset(K.comment(poison), CommentField.DOC, b"\x00not json")
    s = settings.with_overrides(max_deliveries=2, reclaim_idle_ms=150, reclaim_interval_s=0.05)
    async with running_worker(s) as worker:

        async def poison_settled() -> bool:
            return (await _statuses(rds, [poison]))[0] != "pending"

        await wait_for(poison_settled, timeout=20)
        assert worker.dead_lettered == 1
    assert await _statuses(rds, good) == ["approved"] * 3
    assert (await _statuses(rds, [poison])) == ["held"]
    dead = await rds.xrange(K.dead_letters)
    assert len(dead) == 1
    fields = dead[0][1]
    assert fields[b"id"].decode() == poison
    assert int(fields[b"deliveries"]) == 3
    assert await rds.zscore(K.held, poison) is not None
    assert await _pending_count(rds) == 0
    assert await rds.zcard(K.approved("r1")) == 3


async def test_dead_letter_reason_is_visible(api: Api, settings: Settings, rds: Redis) -> None:
    cid = (await api.post_comment(comment(text="will fail to score"))).json()["id"]
    # Simulate a worker that read the entry and died repeatedly: claim it max_deliveries times.
    for n in range(3):
        await rds.xreadgroup(SCORING_GROUP, f"ghost{n}", {K.stream: ">"}, count=10)
        await rds.xclaim(
            K.stream, SCORING_GROUP, f"ghost{n}", 0, [e[0] for e in await rds.xrange(K.stream)]
        )
    s = settings.with_overrides(max_deliveries=3, reclaim_idle_ms=0, reclaim_interval_s=0.05)
    async with running_worker(s):
        await wait_for(lambda: _is(rds, cid, "held"), timeout=10)
    got = (await api.client.get(f"/v1/comments/{cid}", headers=api.auth())).json()
    assert got["status"] == "held"
    assert got["decided_by"] == "system"
    assert got["reasons"][0]["code"] == "dead_letter"
    assert "held for a moderator" in got["reasons"][0]["message"]


async def _is(rds: Redis, cid: str, status: str) -> bool:
    return (await rds.hget(K.comment(cid), CommentField.STATUS)) == status.encode()


@pytest.mark.fault
async def test_sigterm_finishes_the_batch_in_hand(api: Api, settings: Settings, rds: Redis) -> None:
    ids = await _post_many(api, 8)
    proc = worker_subprocess(
        settings,
        worker_name="graceful",
        batch_size=100,
        batch_linger_ms=3000,
        batch_linger_auto=False,
    )
    try:
        await wait_for(lambda: _dead_workers_pending(rds, "graceful"), timeout=30)
        assert await rds.exists(K.worker("graceful"))
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(proc.wait, 20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert code == 0
    assert set(await _statuses(rds, ids)) == {"approved"}
    assert await _pending_count(rds) == 0
    assert not await rds.exists(K.worker("graceful"))
    assert await rds.zscore(K.workers, "graceful") is None


@pytest.mark.fault
async def test_accepted_comments_survive_a_redis_restart(own_redis: RedisServer) -> None:
    settings = make_settings(own_redis.url)
    async with running_api(settings) as api:
        ids = [
            (await api.post_comment(comment(article="aof", text=prose(i), author=f"k{i}"))).json()[
                "id"
            ]
            for i in range(10)
        ]
    own_redis.stop()  # SIGTERM: redis flushes its append-only file
    own_redis.start()
    rds = Redis.from_url(own_redis.url)
    try:
        async with running_worker(settings):

            async def all_done() -> bool:
                return set(await _statuses(rds, ids)) == {"approved"}

            await wait_for(all_done, timeout=20)
        assert await rds.zcard(K.approved("aof")) == 10
    finally:
        await rds.aclose()


def test_worker_refuses_unknown_settings() -> None:
    import os
    import sys

    env = {**os.environ, "MODERATION_BATCHSIZE": "3"}
    out = subprocess.run(
        [sys.executable, "-m", "moderation", "worker"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2
    assert "MODERATION_BATCHSIZE" in out.stderr


@pytest.mark.fault
async def test_an_entry_whose_write_fails_is_isolated_and_the_worker_lives(
    api: Api, settings: Settings, rds: Redis
) -> None:
    """A comment whose transition the script refuses (here: its author hash replaced by a
    string behind the service's back) does not sink its batch: the neighbours are decided, the
    culprit is retried, then dead-lettered (its hold refused too, it stays recorded there), and
    the same worker goes on deciding new comments."""
    good = await _post_many(api, 4, offset=300)
    bad = (await api.post_comment(comment(article="r1", author="wrecked", text="hi"))).json()["id"]
    await rds.delete(K.author("wrecked"))
    await rds.set(K.author("wrecked"), "not a hash")
    s = settings.with_overrides(max_deliveries=2, reclaim_idle_ms=150, reclaim_interval_s=0.05)
    async with running_worker(s) as worker:

        async def settled() -> bool:
            return await rds.xlen(K.dead_letters) == 1 and await _pending_count(rds) == 0

        await wait_for(settled, timeout=20)
        assert await _statuses(rds, good) == ["approved"] * 4
        later = await _post_many(api, 2, offset=400)

        async def later_done() -> bool:
            return await _statuses(rds, later) == ["approved"] * 2

        await wait_for(later_done)
        assert worker.dead_lettered == 1
    dead = await rds.xrange(K.dead_letters)
    assert dead[0][1][b"id"].decode() == bad
    assert all(n == 1 for n in (await _decision_events(rds)).values())


class _HangingScorer:
    """The linear model, except that it blocks on any batch holding ``HANG`` until the test
    releases it: a model stuck in native code on one input, as far as the worker can tell.
    ``delay_s`` slows every batch (a batch long in the model when SIGTERM arrives)."""

    def __init__(self, release: threading.Event, delay_s: float = 0.0) -> None:
        self.inner = linear_scorer()
        self.release = release
        self.delay_s = delay_s
        self.started = threading.Event()

    @property
    def info(self) -> ModelInfo:
        return self.inner.info

    @property
    def labels(self) -> tuple[str, ...]:
        return self.inner.labels

    def score(self, texts: Sequence[str]) -> list[dict[str, float]]:
        self.started.set()
        if any("HANG" in t.upper() for t in texts):
            self.release.wait(60)  # bounded: the test always sets it on the way out
        time.sleep(self.delay_s)
        return self.inner.score(texts)


@pytest.mark.fault
async def test_a_hanging_scorer_times_out_the_culprit_is_dead_lettered_and_the_worker_lives(
    api: Api, settings: Settings, rds: Redis
) -> None:
    good = await _post_many(api, 6, offset=500)
    stuck = (await api.post_comment(comment(article="r1", text="hang here"))).json()["id"]
    s = settings.with_overrides(
        scoring_timeout_s=0.5, max_deliveries=2, reclaim_idle_ms=200, reclaim_interval_s=0.05
    )
    release = threading.Event()
    try:
        async with running_worker(s, scorer=_HangingScorer(release)) as worker:

            async def settled() -> bool:
                return await rds.xlen(K.dead_letters) == 1 and await _pending_count(rds) == 0

            started = time.monotonic()
            await wait_for(settled, timeout=30)
            took = time.monotonic() - started
            assert await _statuses(rds, good) == ["approved"] * 6
            assert await _statuses(rds, [stuck]) == ["held"]
            # The worker lives: its heartbeat is there and a fresh thread scores new comments.
            assert await rds.exists(K.worker(worker.name))
            later = await _post_many(api, 3, offset=600)

            async def later_done() -> bool:
                return await _statuses(rds, later) == ["approved"] * 3

            await wait_for(later_done)
            abandoned = worker.pipeline.scoring_thread.abandoned
            assert abandoned == 3  # the batch, the culprit alone, its one redelivery
    finally:
        release.set()
    dead = await rds.xrange(K.dead_letters)
    assert dead[0][1][b"id"].decode() == stuck
    assert int(dead[0][1][b"deliveries"]) == 3
    assert all(n == 1 for n in (await _decision_events(rds)).values())
    print(f"hanging scorer: culprit held after {took:.2f}s, {abandoned} threads abandoned")


@pytest.mark.fault
async def test_stop_while_the_model_scores_finishes_and_acks_the_batch(
    api: Api, settings: Settings, rds: Redis
) -> None:
    """SIGTERM's handler is ``request_stop``: asked to stop while a batch is inside the model,
    the worker finishes that batch, acknowledges it and unregisters; nothing stays pending."""
    ids = await _post_many(api, 12, offset=700)
    scorer = _HangingScorer(threading.Event(), delay_s=1.0)
    async with running_worker(settings, name="stopping", scorer=scorer) as worker:
        await asyncio.to_thread(scorer.started.wait, 10)
        worker.request_stop()
    assert set(await _statuses(rds, ids)) == {"approved"}
    assert await _pending_count(rds) == 0
    assert not await rds.exists(K.worker("stopping"))
