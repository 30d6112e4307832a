"""The record under faults: a scoring worker and the archiver killed with SIGKILL and restarted;
every comment reaches the record exactly once, with exactly one automatic decision."""

from __future__ import annotations

import asyncio
import signal

import pytest
import sqlalchemy as sa

from moderation.record import Record
from moderation.record.schema import comments, decisions
from moderation.settings import Settings
from tests.conftest import ROOT, comment, running_api, settings_env, wait_for, worker_subprocess
from tests.record_support import archiver_subprocess

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
                r = await api.client.get("/v1/stats", headers=api.auth("admin"))
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
                r = await api.client.get(f"/v1/comments/{cid}", headers=api.auth())
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
