"""Fault scenarios under load: several worker processes killed with SIGKILL again and again
while comments pour in; Redis (AOF ``always``) restarted mid-load.

Every loop is bounded in count and in time; traffic goes to 127.0.0.1 only. ``pytest -m fault``
runs these with the rest of the fault suite.
"""

from __future__ import annotations

import asyncio
import random
import signal
import subprocess
import time
from collections import Counter

import pytest
from redis.asyncio import Redis

from moderation.evaluation.corpus import prose
from moderation.keys import SCORING_GROUP, CommentField, Keys
from moderation.settings import Settings
from tests.conftest import (
    RedisServer,
    comment,
    make_settings,
    running_api,
    running_worker,
    wait_for,
    worker_subprocess,
)

pytestmark = pytest.mark.fault
K = Keys()


async def _audit(rds: Redis, ids: list[str], article: str) -> dict[str, int]:
    """Recount everything from the comments themselves and compare with what was kept."""
    pipe = rds.pipeline(transaction=False)
    for i in ids:
        pipe.hget(K.comment(i), CommentField.STATUS)
    statuses = Counter(s.decode() if s else "missing" for s in await pipe.execute())
    events = await rds.xrange(K.events)
    automatic = Counter(f[b"id"].decode() for _, f in events if f[b"from"] == b"pending")
    pending = await rds.xpending(K.stream, SCORING_GROUP)
    return {
        "accepted": len(ids),
        "missing": statuses["missing"],
        "undecided": statuses["pending"],
        "approved": statuses["approved"],
        "decided_twice": sum(1 for i in ids if automatic[i] > 1),
        "never_decided": sum(1 for i in ids if automatic[i] == 0),
        "approved_set": int(await rds.zcard(K.approved(article))),
        "unacked": int(pending["pending"]),
    }


def _spawn(settings: Settings, n: int) -> subprocess.Popen[bytes]:
    return worker_subprocess(settings, worker_name=f"k{n}", batch_size=16, batch_linger_ms=50)


async def test_workers_killed_every_second_under_load_decide_everything_exactly_once(
    settings: Settings, rds: Redis
) -> None:
    settings = settings.with_overrides(reclaim_idle_ms=1500, max_deliveries=50)
    rng = random.Random(4)
    article = "kill9"
    async with running_api(settings) as api:
        spawned = 0
        procs = []
        for _ in range(3):
            procs.append(_spawn(settings, spawned))
            spawned += 1
        ids: list[str] = []
        kills = 0
        try:
            deadline = time.monotonic() + 25
            next_kill = time.monotonic() + 2.0
            # At least 30 × 10 comments, and on until three kills happened (a slow machine
            # posts them before the third), bounded by the deadline and 80 batches.
            for batch in range(80):
                if time.monotonic() > deadline or (batch >= 30 and kills >= 3):
                    break
                replies = await asyncio.gather(
                    *(
                        api.post_comment(
                            comment(article=article, text=prose(batch * 10 + i), author=f"k{i}")
                        )
                        for i in range(10)
                    )
                )
                assert {r.status_code for r in replies} == {202}
                ids += [r.json()["id"] for r in replies]
                if time.monotonic() >= next_kill:
                    victim = rng.randrange(len(procs))
                    procs[victim].send_signal(signal.SIGKILL)
                    procs[victim].wait(timeout=10)
                    kills += 1
                    procs[victim] = _spawn(settings, spawned)
                    spawned += 1
                    next_kill = time.monotonic() + 1.0
                await asyncio.sleep(0.1)

            async def settled() -> bool:
                got = await _audit(rds, ids, article)
                return got["undecided"] == 0 and got["unacked"] == 0

            await wait_for(settled, timeout=60, interval=0.5)
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
            for proc in procs:
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
    got = await _audit(rds, ids, article)
    print(f"kill -9 under load: {kills} kills, {got}")
    assert kills >= 3
    assert got["missing"] == 0 and got["undecided"] == 0
    assert got["decided_twice"] == 0 and got["never_decided"] == 0
    assert got["approved_set"] == got["approved"]  # counts equal a recount


async def test_redis_restarted_mid_load_with_aof_always_loses_nothing_acknowledged(
    own_redis: RedisServer,
) -> None:
    """Comments posted while Redis goes down and comes back: every 2xx is there afterwards
    (a 503 may or may not have been stored; its retry with the same Idempotency-Key settles
    it), and all of them are decided once."""
    await _restart_mid_load(own_redis, "always")


async def test_redis_restarted_mid_load_with_aof_everysec_measures_the_window() -> None:
    """The same with ``appendfsync everysec``. Redis ``write()``s the AOF before it answers
    either way, so a *process* kill loses nothing here either: what ``everysec`` risks is the
    last second still in the OS page cache when the machine itself dies, which no test on one
    machine can cause. The figure printed is what a process kill loses (expected 0)."""
    server = RedisServer(appendonly=True, appendfsync="everysec")
    server.start()
    try:
        await _restart_mid_load(server, "everysec")
    finally:
        server.cleanup()


async def _restart_mid_load(server: RedisServer, fsync: str) -> None:
    settings = make_settings(server.url)
    article = f"aof-{fsync}"
    accepted: list[str] = []
    refused = 0
    refused_s: list[float] = []
    async with running_api(settings) as api:
        for i in range(120):
            if i == 40:
                assert server.proc is not None
                server.proc.send_signal(signal.SIGKILL)  # no shutdown flush: only the AOF
                server.proc.wait(timeout=10)
            if i == 70:
                server.start()
            started = time.monotonic()
            r = await api.post_comment(
                comment(article=article, text=prose(i), author=f"a{i}"),
                headers={"Idempotency-Key": f"aof-{i}"},
            )
            took = time.monotonic() - started
            if r.status_code in (200, 202):
                accepted.append(r.json()["id"])
            else:
                assert r.status_code == 503 and r.headers["retry-after"]
                refused += 1
                refused_s.append(took)
            await asyncio.sleep(0.01)
    rds = Redis.from_url(server.url)
    try:
        async with running_worker(settings):

            async def settled() -> bool:
                got = await _audit(rds, accepted, article)
                return got["undecided"] == 0

            await wait_for(settled, timeout=30, interval=0.2)
        got = await _audit(rds, accepted, article)
    finally:
        await rds.aclose()
    refused_s.sort()
    p99 = refused_s[int(0.99 * (len(refused_s) - 1))] if refused_s else 0.0
    print(
        f"Redis SIGKILLed mid-load (AOF {fsync}): {got}, 503 answers {refused}, "
        f"503 latency p99 {p99 * 1000:.1f} ms, max {max(refused_s, default=0) * 1000:.1f} ms"
    )
    assert refused >= 20  # the outage was real
    assert got["missing"] == 0
    assert got["decided_twice"] == 0 and got["never_decided"] == 0
    assert got["approved_set"] == got["approved"]
