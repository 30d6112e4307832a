"""The record under faults: a scoring worker and the archiver killed with SIGKILL and restarted;
every comment reaches the record exactly once, with exactly one automatic decision."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest
import sqlalchemy as sa
from redis.asyncio import Redis as AsyncRedis

from moderation.record import Record, open_record
from moderation.record.schema import comments, decisions
from moderation.settings import Settings
from tests.conftest import (
    ROOT,
    comment,
    free_port,
    running_api,
    running_worker,
    settings_env,
    wait_for,
    worker_subprocess,
)
from tests.record_support import archiver_subprocess
from workers.archiver import Archiver

N = 60


@pytest.mark.slow
async def test_kill_9_of_worker_and_archiver_loses_and_duplicates_nothing(
    record_settings: Settings, record: Record
) -> None:
    settings = record_settings.with_overrides(batch_size=4, archiver_batch_size=5)
    env = settings_env(settings)
    procs = []
    try:
        async with running_api(settings) as api:
            ids = []
            for i in range(N):
                r = await api.post_comment(comment(text=f"Comment {i} about the council budget."))
                ids.append(r.json()["id"])
            worker = worker_subprocess(settings)
            archiver = archiver_subprocess(env, ROOT)
            procs += [worker, archiver]

            async def stats() -> dict[str, object]:
                r = await api.get_as_a_client_would("/v1/stats", role="admin")
                assert r.status_code == 200, r.text
                return dict(r.json())

            async def some_decided() -> bool:
                s = await stats()
                return int(s["queue"]["undecided"]) < N - 5  # type: ignore[index]

            await wait_for(some_decided, timeout=60)
            worker.send_signal(signal.SIGKILL)
            archiver.send_signal(signal.SIGKILL)
            worker.wait(10)
            archiver.wait(10)
            await asyncio.sleep(0.2)
            worker = worker_subprocess(settings)
            archiver = archiver_subprocess(env, ROOT)
            procs += [worker, archiver]

            async def everything_archived() -> bool:
                s = await stats()
                return (
                    s["queue"]["undecided"] == 0  # type: ignore[index]
                    and s["archiver"] == {"backlog": 0}
                )

            await wait_for(everything_archived, timeout=120, interval=0.2)
            views = {}
            for cid in ids:
                r = await api.get_as_a_client_would(f"/v1/comments/{cid}")
                assert r.status_code == 200, r.text
                views[cid] = r.json()
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(15)
            except Exception:
                p.kill()

    async with record.engine.connect() as conn:
        rows = (await conn.execute(sa.select(comments.c.id, comments.c.status))).all()
        auto = (
            await conn.execute(
                sa.select(decisions.c.comment_id, sa.func.count())
                .where(decisions.c.from_status == "pending")
                .group_by(decisions.c.comment_id)
            )
        ).all()
    assert sorted(r.id for r in rows) == sorted(ids)
    assert {r.id: r.status for r in rows} == {c: v["status"] for c, v in views.items()}
    assert sorted(c for c, _ in auto) == sorted(ids)
    assert {n for _, n in auto} == {1}


async def test_the_archiver_heartbeat_file_says_whether_it_can_write(
    settings: Settings, tmp_path: Path
) -> None:
    """The compose health check's file: touched while the archiver writes, not while the
    database refuses what it read."""
    beat = tmp_path / "heartbeat"
    down = f"postgresql://postgres@127.0.0.1:{free_port()}/nothing"  # nobody listens there
    s = settings.with_overrides(heartbeat_file=str(beat), heartbeat_interval_s=0.1, block_ms=50)
    async with running_api(s) as api, running_worker(s):
        r = await api.post_comment(comment(), wait=10)
        assert r.json()["status"] == "approved"
    redis = AsyncRedis.from_url(s.resolved_redis_url())
    try:
        for url, healthy in ((down, False), (f"sqlite:///{tmp_path / 'record.sqlite3'}", True)):
            record = await open_record(s.with_overrides(database_url=url), migrate=healthy)
            archiver = Archiver(s, redis, record, name="beat")
            task = asyncio.create_task(archiver.run())
            await asyncio.sleep(0.5)
            beat.unlink(missing_ok=True)  # what the first (empty) step touched
            await asyncio.sleep(1.5)
            archiver.request_stop()
            await asyncio.wait_for(task, 10)
            await record.close()
            assert beat.exists() == healthy, url
    finally:
        await redis.aclose()
