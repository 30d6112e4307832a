"""The record: migrations, the archiver's idempotent writes, trimming only what was archived,
and its backlog in stats — against a real PostgreSQL database and a real SQLite file."""

from __future__ import annotations

import asyncio
import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa
from redis.asyncio import Redis as AsyncRedis

from moderation.keys import ARCHIVE_GROUP, WEBHOOK_GROUP, Keys
from moderation.record import Record
from moderation.record.database import head
from moderation.record.schema import audit, comments, decisions, metadata
from moderation.settings import Settings
from moderation.store.trim import trim_acknowledged
from tests.conftest import ROOT, comment, running_api, running_worker, settings_env, wait_for
from tests.record_support import archive_all
from workers.archiver import Archiver

M = "/v1/moderation"


async def _rows(record: Record, table: sa.Table) -> list[sa.Row[tuple[object, ...]]]:
    async with record.engine.connect() as conn:
        return list((await conn.execute(sa.select(table))).all())


async def test_migrations_create_the_schema_and_are_idempotent(record: Record) -> None:
    assert await record.revision() == head()
    await record.upgrade()  # a second run changes nothing
    assert await record.revision() == head()

    def columns(conn: sa.Connection) -> dict[str, set[str]]:
        inspector = sa.inspect(conn)
        return {t: {c["name"] for c in inspector.get_columns(t)} for t in metadata.tables}

    async with record.engine.connect() as conn:
        found = await conn.run_sync(columns)
    assert found == {name: set(t.columns.keys()) for name, t in metadata.tables.items()}


async def test_every_comment_decision_and_action_is_archived_once(
    record_settings: Settings, record: Record, rds: AsyncRedis
) -> None:
    settings = record_settings
    async with running_api(settings) as api, running_worker(settings):
        ids = []
        for i in range(12):
            r = await api.post_comment(comment(text=f"Thoughtful remark number {i} on the budget."))
            ids.append(r.json()["id"])

        async def all_decided() -> bool:
            for cid in ids:
                r = await api.client.get(f"/v1/comments/{cid}", headers=api.auth())
                if r.json()["status"] == "pending":
                    return False
            return True

        await wait_for(all_decided, timeout=30)
        # A moderator reverses one decision: a second transition and an audit entry. Twelve
        # like remarks by one author in a second may be approved or held as spam (timing
        # signals): reject from whichever status the first reached.
        first = (await api.client.get(f"/v1/comments/{ids[0]}", headers=api.auth())).json()
        r = await api.client.post(
            f"{M}/comments/{ids[0]}/decision",
            json={"action": "reject", "reason": "spam", "expected_status": first["status"]},
            headers=api.auth("moderator"),
        )
        assert r.status_code == 200, r.text

        assert await archive_all(settings, record) >= 14
        got = {r.id: r for r in await _rows(record, comments)}
        assert set(got) == set(ids)
        views = {}
        for c in ids:
            views[c] = (await api.client.get(f"/v1/comments/{c}", headers=api.auth())).json()
        assert got[ids[0]].status == "rejected"
        assert all(got[c].status == views[c]["status"] for c in ids)
        assert all(got[c].text == views[c]["text"] for c in ids)
        dec = await _rows(record, decisions)
        assert sorted((d.comment_id, d.from_status) for d in dec) == sorted(
            [(c, "pending") for c in ids] + [(ids[0], first["status"])]
        )
        assert {d.actor for d in dec if d.status == "rejected"} == {views[ids[0]]["decided_by"]}
        entries = await _rows(record, audit)
        assert [(e.action, e.target) for e in entries] == [("comment.reject", ids[0])]

        # Every entry delivered again (a lost acknowledgement): nothing changes.
        keys = Keys(settings.key_prefix)
        for stream in (keys.events, keys.audit):
            await rds.xgroup_setid(stream, ARCHIVE_GROUP, "0")
        assert await archive_all(settings, record, name="second") >= 14
        assert len(await _rows(record, comments)) == 12
        assert len(await _rows(record, decisions)) == 13
        assert len(await _rows(record, audit)) == 1
        assert {r.id: r.status for r in await _rows(record, comments)} == {
            c: got[c].status for c in ids
        }

        r = await api.client.get("/v1/stats", headers=api.auth("admin"))
        assert r.json()["archiver"] == {"backlog": 0}


async def test_an_older_event_never_rolls_a_comment_back(
    record_settings: Settings, record: Record, rds: AsyncRedis
) -> None:
    settings = record_settings
    keys = Keys(settings.key_prefix)
    async with running_api(settings) as api, running_worker(settings):
        cid = (await api.post_comment(comment())).json()["id"]

        async def decided() -> bool:
            r = await api.client.get(f"/v1/comments/{cid}", headers=api.auth())
            return bool(r.json()["status"] != "pending")

        await wait_for(decided, timeout=20)
        r = await api.client.post(
            f"{M}/comments/{cid}/decision",
            json={"action": "reject", "reason": "toxic", "expected_status": "approved"},
            headers=api.auth("moderator"),
        )
        assert r.status_code == 200, r.text
    # Archive the newest event first, then the older one (as a reclaim could).
    await rds.xgroup_create(keys.events, ARCHIVE_GROUP, id="0", mkstream=True)
    events = await rds.xrange(keys.events)

    archiver = Archiver(settings, rds, record, name="x")
    await archiver.handle([events[-1]], [])
    await archiver.handle([events[0]], [])
    (row,) = await _rows(record, comments)
    assert row.status == "rejected"
    assert len(await _rows(record, decisions)) == 2


async def test_trimming_keeps_what_any_group_has_not_acknowledged(rds: AsyncRedis) -> None:
    stream = "mod:test:trim"
    for i in range(50):
        await rds.xadd(stream, {"n": i})
    await rds.xgroup_create(stream, ARCHIVE_GROUP, id="0")
    await rds.xgroup_create(stream, WEBHOOK_GROUP, id="0")
    # The archiver read and acknowledged 40; the webhook sender read 30 and acknowledged 20.
    got = await rds.xreadgroup(ARCHIVE_GROUP, "a", {stream: ">"}, count=40)
    await rds.xack(stream, ARCHIVE_GROUP, *[e[0] for e in got[0][1]])
    got = await rds.xreadgroup(WEBHOOK_GROUP, "w", {stream: ">"}, count=30)
    await rds.xack(stream, WEBHOOK_GROUP, *[e[0] for e in got[0][1][:20]])
    oldest_unacked = got[0][1][20][0]

    assert await trim_acknowledged(rds, stream, keep=0) == 20
    first = (await rds.xrange(stream, count=1))[0][0]
    assert first == oldest_unacked
    # ``keep`` wins when it keeps more.
    await rds.xack(stream, WEBHOOK_GROUP, *[e[0] for e in got[0][1][20:]])
    assert await trim_acknowledged(rds, stream, keep=25) == 5
    assert await rds.xlen(stream) == 25
    await rds.delete(stream)


def _cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **settings_env(settings)}
    return subprocess.run(
        [sys.executable, "-m", "moderation", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_export_writes_the_decisions_of_a_date_range(
    record_settings: Settings, record: Record, tmp_path: Path
) -> None:
    settings = record_settings
    async with running_api(settings) as api, running_worker(settings):
        cid = (await api.post_comment(comment())).json()["id"]

        async def decided() -> bool:
            r = await api.client.get(f"/v1/comments/{cid}", headers=api.auth())
            return bool(r.json()["status"] != "pending")

        await wait_for(decided, timeout=20)
    await archive_all(settings, record)
    for fmt in ("jsonl", "csv"):
        args = ("export", "--from", "2000-01-01", "--to", "2100-01-01", "--format", fmt)
        done = await asyncio.to_thread(_cli, settings, *args, "-o", str(tmp_path / f"x.{fmt}"))
        assert done.returncode == 0, done.stderr
    (line,) = (tmp_path / "x.jsonl").read_text().splitlines()
    assert json.loads(line)["comment_id"] == cid
    assert json.loads(line)["from_status"] == "pending"
    rows = list(csv.DictReader((tmp_path / "x.csv").open()))
    assert [r["comment_id"] for r in rows] == [cid]
    # Nothing in another range; a reversed range is refused with a clear message.
    done = await asyncio.to_thread(
        _cli, settings, "export", "--from", "2001-01-01", "--to", "2001-02-01"
    )
    assert done.returncode == 0 and done.stdout == ""
    done = await asyncio.to_thread(
        _cli, settings, "export", "--from", "2100-01-01", "--to", "2000-01-01"
    )
    assert done.returncode == 2 and "--to must be after --from" in done.stderr
