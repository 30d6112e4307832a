"""Fixtures of the record tests: a database of the test's own on the machine's PostgreSQL
(127.0.0.1:5432, user postgres; created and dropped here) or a fresh SQLite file, migrated."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from redis.asyncio import Redis as AsyncRedis

from moderation.record import Record, open_record
from moderation.settings import Settings
from tests.private_postgres import PrivatePostgres, postgres_bin
from workers.archiver import Archiver

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


async def _pg_admin(sql: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def database_url(kind: str, tmp_path: Path) -> AsyncIterator[str]:
    """A URL of an empty database of this test's own."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'record.sqlite3'}"
        return
    name = f"mod_test_{os.getpid()}_{os.urandom(4).hex()}"
    try:
        await _pg_admin(f'CREATE DATABASE "{name}"')
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.skip(f"PostgreSQL on 127.0.0.1:5432 unavailable: {exc}")
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        await _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
async def record_settings(
    request: pytest.FixtureRequest, settings: Settings, tmp_path: Path
) -> AsyncIterator[Settings]:
    """``settings`` with a fresh, migrated database of each kind."""
    async with database_url(request.param, tmp_path) as url:
        s = settings.with_overrides(database_url=url, data_dir=tmp_path)
        record = await open_record(s)
        await record.close()
        yield s


@pytest.fixture
async def record(record_settings: Settings) -> AsyncIterator[Record]:
    r = await open_record(record_settings, migrate=False)
    yield r
    await r.close()


async def archive_all(settings: Settings, record: Record, name: str = "arch-test") -> int:
    """Run an archiver until both streams are archived; returns the entries it handled."""
    redis = AsyncRedis.from_url(settings.resolved_redis_url())
    try:
        archiver = Archiver(settings, redis, record, name=name)
        await archiver.ensure_groups()
        total = 0
        while n := await archiver._step("0") + await archiver._step(">"):
            total += n
        return total
    finally:
        await redis.aclose()


def archiver_subprocess(env: dict[str, str], root: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "moderation", "archiver"],
        env={**os.environ, **env, "PYTHONUNBUFFERED": "1"},
        cwd=root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    """A PostgreSQL server of the test's own, started (see ``tests.private_postgres``)."""
    bin_dir = postgres_bin()
    if bin_dir is None:
        pytest.skip("no PostgreSQL binaries under /usr/lib/postgresql/*/bin")
    server = PrivatePostgres(bin_dir)
    try:
        server.init()
        server.start()
        yield server
    finally:
        server.cleanup()
