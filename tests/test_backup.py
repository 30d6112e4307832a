"""Backup and restore, as the README's procedure does it: Redis copied twice (an RDB over the
network with ``redis-cli --rdb``, and its AOF directory), the record dumped with
``moderation db dump`` (pg_dump, or SQLite's online backup); each Redis copy restored into a
fresh redis-server and the record into a fresh database (for PostgreSQL a fresh server) with
``moderation db restore``. Every comment then reads with identical JSON — those still in Redis
and those only the record holds — and the restored archiver writes nothing twice."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from redis.asyncio import Redis as AsyncRedis

from moderation.keys import Keys
from moderation.record import open_record
from moderation.record.schema import audit, comments, decisions
from moderation.settings import Settings
from tests.conftest import (
    ROOT,
    Api,
    RedisServer,
    comment,
    make_settings,
    running_api,
    running_worker,
    settings_env,
    wait_for,
)
from tests.record_support import archive_all, database_url

M = "/v1/moderation"
ARTICLES = ("a/budget", "a/bridge")


async def _cli(settings: Settings, *argv: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    """``moderation ARGV…`` in a child process reading ``settings``."""
    result = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "moderation", *argv],
        env={**os.environ, **settings_env(settings)},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if ok:
        assert result.returncode == 0, result.stderr
    return result


async def _everything(api: Api, ids: list[str]) -> dict[str, bytes]:
    """What the API shows of every comment: the site's and the moderator's view of each, and
    each article's public list in both orders."""
    out = {}
    for cid in ids:
        out[cid] = (await api.client.get(f"/v1/comments/{cid}", headers=api.auth())).content
        r = await api.client.get(f"{M}/comments/{cid}", headers=api.auth("moderator"))
        assert r.status_code == 200, r.text
        out[f"moderator {cid}"] = r.content
    for article in ARTICLES:
        for order in ("oldest", "newest"):
            r = await api.client.get(f"/v1/articles/{article}/comments", params={"order": order})
            out[f"{article} {order}"] = r.content
    return out


async def _row_counts(settings: Settings) -> tuple[int, int, int]:
    record = await open_record(settings, migrate=False)
    try:
        async with record.engine.connect() as conn:
            counts = []
            for table in (comments, decisions, audit):
                query = sa.select(sa.func.count()).select_from(table)
                counts.append(int((await conn.execute(query)).scalar_one()))
    finally:
        await record.close()
    return counts[0], counts[1], counts[2]


@contextlib.asynccontextmanager
async def _fresh_database(
    kind: str, request: pytest.FixtureRequest, tmp: Path
) -> AsyncIterator[str]:
    """An empty database on a fresh server: a new SQLite path, or a private PostgreSQL."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp / 'restored' / 'record.sqlite3'}"
    else:
        yield request.getfixturevalue("private_postgres").url()


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
async def test_backup_restores_every_comment_into_fresh_servers(
    kind: str, request: pytest.FixtureRequest, own_redis: RedisServer, tmp_path: Path
) -> None:
    backup = tmp_path / "backup"
    backup.mkdir()
    async with database_url(kind, tmp_path) as url:
        settings = make_settings(own_redis.url, database_url=url, data_dir=tmp_path)
        record = await open_record(settings)
        redis = AsyncRedis.from_url(own_redis.url)
        keys = Keys(settings.key_prefix)
        try:
            async with running_api(settings) as api, running_worker(settings):
                ids = []
                for i in range(12):
                    body = comment(
                        article=ARTICLES[i % 2],
                        author=f"reader-{i % 3}",
                        text=f"Point {i}: the figures on page {i + 2} need a source.",
                        context={"ip": f"203.0.113.{i + 1}", "user_agent": "Mozilla/5.0"},
                    )
                    r = await api.post_comment(body)
                    assert r.status_code == 202, r.text
                    ids.append(r.json()["id"])

                async def decided() -> bool:
                    for cid in ids:
                        r = await api.client.get(f"/v1/comments/{cid}", headers=api.auth())
                        if r.json()["status"] == "pending":
                            return False
                    return True

                await wait_for(decided, timeout=30)
                status = (
                    await api.client.get(f"/v1/comments/{ids[1]}", headers=api.auth())
                ).json()["status"]
                r = await api.client.post(
                    f"{M}/comments/{ids[1]}/decision",
                    json={"action": "reject", "reason": "spam", "expected_status": status},
                    headers=api.auth("moderator"),
                )
                assert r.status_code == 200, r.text
                await archive_all(settings, record)
                # Three comments live only in the record (as retention leaves them).
                for cid in ids[:6:2]:
                    await redis.delete(keys.comment(cid))
                    for article in ARTICLES:
                        await redis.zrem(keys.approved(article), cid)
                before = await _everything(api, ids)
                counts = await _row_counts(settings)

                # The backup, the services still running: Redis first, then the record (what
                # the record gains meanwhile, the restored archiver writes again, idempotently).
                rdb = await asyncio.to_thread(
                    subprocess.run,
                    ["redis-cli", "-p", str(own_redis.port), "--rdb", str(backup / "dump.rdb")],
                    capture_output=True,
                    timeout=60,
                )
                assert rdb.returncode == 0, rdb.stderr
                await redis.config_set("auto-aof-rewrite-percentage", 0)

                async def no_rewrite() -> bool:
                    info = await redis.info("persistence")
                    return not info["aof_rewrite_in_progress"]

                await wait_for(no_rewrite, timeout=20)
                shutil.copytree(own_redis.dir / "appendonlydir", backup / "appendonlydir")
                await redis.config_set("auto-aof-rewrite-percentage", 100)
                await _cli(settings, "db", "dump", str(backup / "record.dump"))
        finally:
            await redis.aclose()
            await record.close()

    # Restore into fresh servers (the originals are gone).
    own_redis.cleanup()
    async with _fresh_database(kind, request, tmp_path) as restored_url:
        first = True
        for copy in ("rdb", "aof"):
            server = RedisServer(appendonly=copy == "aof")
            if copy == "rdb":
                shutil.copy(backup / "dump.rdb", server.dir / "dump.rdb")
            else:
                shutil.copytree(backup / "appendonlydir", server.dir / "appendonlydir")
            server.start()
            try:
                restored = make_settings(server.url, database_url=restored_url, data_dir=tmp_path)
                if first:
                    await _cli(restored, "db", "restore", str(backup / "record.dump"))
                    first = False
                    # A second restore over a record in use is refused.
                    dump = str(backup / "record.dump")
                    result = await _cli(restored, "db", "restore", dump, ok=False)
                    assert result.returncode == 2 and "new, empty database" in result.stderr
                async with running_api(restored) as api:
                    after = await _everything(api, ids)
                assert after.keys() == before.keys()
                for name in before:
                    assert after[name] == before[name], (copy, name)
                # The restored archiver finds nothing new and writes nothing twice.
                record = await open_record(restored, migrate=False)
                try:
                    await archive_all(restored, record, name="arch-restored")
                finally:
                    await record.close()
                assert await _row_counts(restored) == counts
            finally:
                server.cleanup()
