"""What PostgreSQL's files keep after an erasure, as the README says: the author's old row
versions stay in the table's (and the full-text index's) pages until ``VACUUM`` reclaims them;
after ``VACUUM FULL`` and a checkpoint no data file holds them, while the WAL still does until
its segments are recycled. Read from the files of a private server (``tests.private_postgres``)."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from moderation.record import open_record
from tests.conftest import RedisServer, make_settings, running_api, running_worker, wait_for
from tests.private_postgres import PrivatePostgres
from tests.record_support import archive_all

NAME = "Ulla Vandersnoot"
WORD = "quagswaggle"


def _files_holding(root: Path, needle: str) -> list[str]:
    data = needle.encode()
    return sorted(
        str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and data in p.read_bytes()
    )


@pytest.mark.slow
async def test_postgresql_pages_after_erasure_vacuum_full_and_checkpoint(
    private_postgres: PrivatePostgres, own_redis: RedisServer, tmp_path: Path
) -> None:
    # Autovacuum off: what lingers is what the test says, not what a vacuum happened to clear.
    private_postgres.stop()
    private_postgres.start("autovacuum=off")
    settings = make_settings(own_redis.url, database_url=private_postgres.url(), data_dir=tmp_path)
    record = await open_record(settings)
    data = private_postgres.data
    try:
        async with running_api(settings) as api, running_worker(settings):
            ids = []
            for i in range(3):
                body = {
                    "article_id": "a/pages",
                    "text": f"Point {i}: the {WORD} survey was never published.",
                    "author": {"id": "ulla", "name": NAME},
                }
                ids.append((await api.post_comment(body)).json()["id"])

            async def decided() -> bool:
                for cid in ids:
                    r = await api.client.get(f"/v1/comments/{cid}", headers=api.auth())
                    if r.json()["status"] == "pending":
                        return False
                return True

            await wait_for(decided, timeout=30)
            await archive_all(settings, record)
            r = await api.client.post(
                "/v1/moderation/authors/ulla/forget", headers=api.auth("admin")
            )
            assert r.status_code == 200 and r.json()["record_comments"] == 3, r.text

        async def checkpoint(*statements: str) -> None:
            async with record.engine.connect() as conn:
                conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
                for statement in (*statements, "CHECKPOINT"):
                    await conn.execute(sa.text(statement))

        await checkpoint()
        lingering = _files_holding(data / "base", WORD)
        async with record.engine.connect() as conn:
            files = dict(
                (
                    await conn.execute(
                        sa.text("SELECT pg_relation_filepath(oid), relname FROM pg_class")
                    )
                ).all()
            )
        lingering = [files.get(f"base/{path}", path) for path in lingering]
        assert lingering, "the dead row versions are expected in the table's pages"
        await checkpoint("VACUUM FULL")
        assert _files_holding(data / "base", WORD) == []
        assert _files_holding(data / "base", NAME) == []
        assert _files_holding(data / "global", NAME) == []
        assert _files_holding(data / "pg_wal", WORD), "the WAL keeps them until recycled"
        print(f"\nbefore VACUUM FULL the text was in {lingering}; after it, in no data file")
    finally:
        await record.close()
