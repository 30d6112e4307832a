"""The archiver against a database that crashes and restarts mid-run, while a scoring worker
and the archiver are ``kill -9``ed: every comment, decision and audit entry reaches the record
exactly once. The database is a private PostgreSQL (``tests.private_postgres``) that the test
stops with ``pg_ctl -m immediate`` (a crash: recovery from the WAL at the next start), never
the machine's shared server."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from moderation.record import open_record
from moderation.record.schema import audit, comments, decisions
from tests.conftest import (
    ROOT,
    Api,
    RedisServer,
    comment,
    make_settings,
    running_api,
    settings_env,
    wait_for,
    worker_subprocess,
)
from tests.private_postgres import PrivatePostgres
from tests.record_support import archiver_subprocess

M = "/v1/moderation"


async def _post(api: Api, ids: list[str], n: int) -> None:
    for _ in range(n):
        i = len(ids)
        body = comment(article=f"a/{i % 3}", author=f"u{i % 5}", text=f"Reply {i} on the vote.")
        r = await api.post_comment(body)
        assert r.status_code == 202, r.text
        ids.append(r.json()["id"])


def _kill(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)


@pytest.mark.fault
@pytest.mark.slow
async def test_database_crash_and_kill_9_lose_and_duplicate_nothing(
    private_postgres: PrivatePostgres, own_redis: RedisServer, tmp_path: Path
) -> None:
    settings = make_settings(
        own_redis.url,
        database_url=private_postgres.url(),
        data_dir=tmp_path,
        batch_size=4,
        archiver_batch_size=5,
    )
    record = await open_record(settings)  # the schema, before anything starts
    env = settings_env(settings)
    procs: list[subprocess.Popen[bytes]] = []
    ids: list[str] = []
    rejected: list[str] = []

    async def archived() -> int:
        async with record.engine.connect() as conn:
            return int(
                (await conn.execute(sa.select(sa.func.count()).select_from(comments))).scalar_one()
            )

    try:
        async with running_api(settings) as api:

            async def stats() -> dict[str, object]:
                r = await api.client.get("/v1/stats", headers=api.auth("admin"))
                return dict(r.json())

            await _post(api, ids, 30)
            procs += [worker_subprocess(settings), archiver_subprocess(env, ROOT)]

            async def some_archived() -> bool:
                return await archived() >= 5

            await wait_for(some_archived, timeout=60, interval=0.1)

            # The database crashes while comments keep arriving and being decided; a moderator
            # rejects some (audit entries); the scoring worker is killed during the outage.
            private_postgres.stop("immediate")
            await record.engine.dispose()  # the test's own pooled connections died with it
            await _post(api, ids, 15)
            _kill(procs[0])
            procs.append(worker_subprocess(settings))

            async def decided(cid: str) -> str | None:
                r = await api.client.get(f"/v1/comments/{cid}", headers=api.auth())
                status = str(r.json()["status"])
                return None if status == "pending" else status

            for cid in ids[-15:-10]:
                # Approved, or held: the spam check may find these short replies alike.
                status = await wait_for(lambda cid=cid: decided(cid), timeout=60, interval=0.1)
                if status not in ("approved", "held"):
                    continue
                r = await api.client.post(
                    f"{M}/comments/{cid}/decision",
                    json={"action": "reject", "reason": "spam", "expected_status": status},
                    headers=api.auth("moderator"),
                )
                assert r.status_code == 200, r.text
                rejected.append(cid)
            assert rejected
            await asyncio.sleep(1.5)  # the archiver fails and retries meanwhile
            backlog = (await stats())["archiver"]["backlog"]  # type: ignore[index]
            # Waiting in Redis, not lost: 5 automatic decisions, and a decision and an audit
            # entry for each rejection.
            assert backlog >= 5 + 2 * len(rejected)
            private_postgres.start()

            # The archiver is killed once it is writing again, mid-run.
            async def caught_up_some() -> bool:
                return await archived() >= 35

            await wait_for(caught_up_some, timeout=60, interval=0.1)
            _kill(procs[1])
            await _post(api, ids, 15)
            procs.append(archiver_subprocess(env, ROOT))

            async def everything_archived() -> bool:
                s = await stats()
                return (
                    s["queue"]["undecided"] == 0  # type: ignore[index]
                    and s["archiver"] == {"backlog": 0}
                )

            started = time.monotonic()
            await wait_for(everything_archived, timeout=120, interval=0.2)
            elapsed = time.monotonic() - started
            print(f"\n{len(rejected)} rejected; caught up {elapsed:.1f} s after the last kill")
            views = {}
            for cid in ids:
                r = await api.client.get(f"/v1/comments/{cid}", headers=api.auth())
                views[cid] = r.json()["status"]
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()

    try:
        async with record.engine.connect() as conn:
            rows = (await conn.execute(sa.select(comments.c.id, comments.c.status))).all()
            per_comment = (
                await conn.execute(
                    sa.select(decisions.c.comment_id, decisions.c.actor, sa.func.count()).group_by(
                        decisions.c.comment_id, decisions.c.actor
                    )
                )
            ).all()
            audit_rows = (await conn.execute(sa.select(audit))).all()
    finally:
        await record.close()
    assert len(ids) == 60
    assert sorted(r.id for r in rows) == sorted(ids)  # every comment, once
    assert {r.id: r.status for r in rows} == views
    assert {views[c] for c in rejected} == {"rejected"}
    auto = {c: n for c, actor, n in per_comment if actor == "auto"}
    human = {c: n for c, actor, n in per_comment if actor != "auto"}
    assert auto == dict.fromkeys(ids, 1)  # one automatic decision each, none twice
    assert human == dict.fromkeys(rejected, 1)
    assert len(audit_rows) == len(rejected)
