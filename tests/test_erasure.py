"""Erasure (``POST /v1/moderation/authors/{id}/forget``, ``moderation forget-author``): after it,
no Redis key or value, no AOF file (rewritten) and no row of any table in the record (PostgreSQL
and SQLite; for SQLite the database file itself) holds the author's name, e-mail, IP address,
user agent or text, and no search, moderator page (from either tier) or export shows them —
while counts stay exact, the comments still read (anonymised) and another author's comments
are untouched."""

from __future__ import annotations

import asyncio
import io
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from redis.asyncio import Redis as AsyncRedis

from moderation.cli.record import export
from moderation.keys import Keys
from moderation.record import open_record
from moderation.settings import Settings
from moderation.spam.minhash import decode_stored, party_key
from moderation.store import compression
from tests.conftest import (
    RedisServer,
    make_settings,
    running_api,
    running_worker,
    settings_env,
    wait_for,
)
from tests.moderation_support import sign_in
from tests.record_support import archive_all, database_url

M = "/v1/moderation"
NAME = "Erin Quinlan-Zed"
EMAIL = "erin.zed@example.org"
IP = "198.51.100.77"
AGENT = "ErinAgent/9.9"
WORD = "zebraquokka"
NEEDLES = [NAME, EMAIL, IP, AGENT, WORD]


async def _redis_dump(redis: AsyncRedis) -> bytes:
    """Every key name and every value of every key, as one byte string."""
    out = bytearray()
    async for key in redis.scan_iter(count=1000):
        out += key + b"\n"
        kind = (await redis.type(key)).decode()
        value: Any
        if kind == "hash":
            # Stored documents are compressed: read them as their readers do, or a scan for
            # personal data would find nothing whether it is there or not.
            value = {f: compression.plain(v) for f, v in (await redis.hgetall(key)).items()}
        elif kind == "string":
            value = await redis.get(key)
        elif kind == "zset":
            value = await redis.zrange(key, 0, -1, withscores=True)
        elif kind == "list":
            value = await redis.lrange(key, 0, -1)
        elif kind == "set":
            value = await redis.smembers(key)
        elif kind == "stream":
            value = await redis.xrange(key, "-", "+")
        else:
            raise AssertionError(f"unexpected type {kind} of {key!r}")
        out += repr(value).encode() + b"\n"
    return bytes(out)


async def _sql_dump(url: str, settings: Settings) -> str:
    """Every row of every table of the record (the FTS5 shadow tables included)."""
    record = await open_record(settings, migrate=False)
    out = []
    try:
        async with record.engine.connect() as conn:
            names = await conn.run_sync(lambda c: sa.inspect(c).get_table_names())
            assert "comments" in names
            for name in names:
                rows = (await conn.execute(sa.text(f'SELECT * FROM "{name}"'))).all()
                out.append(f"{name}: {rows!r}")
    finally:
        await record.close()
    return "\n".join(out)


async def _signatures_of(redis: AsyncRedis, keys: Keys, author: str) -> int:
    """Stored MinHash signatures of ``author``'s comments (each value holds its author's
    ``party_key``)."""
    n, mine = 0, party_key(author)
    async for key in redis.scan_iter(f"{keys.prefix}:spam:sig:*"):
        for v in await redis.hvals(key):
            known = decode_stored(v)
            n += known is not None and known.author_key == mine
    return n


def _found(haystack: str | bytes) -> list[str]:
    text = haystack.decode("utf-8", "replace") if isinstance(haystack, bytes) else haystack
    return [n for n in NEEDLES if n.lower() in text.lower()]


def _files_found(directory: Path, pattern: str) -> dict[str, list[str]]:
    """The needles found in the bytes of each file matching ``pattern`` (none must match)."""
    paths = [p for p in directory.glob(pattern) if p.is_file()]
    assert paths, f"no file {pattern} in {directory}"
    return {str(p): found for p in paths if (found := _found(p.read_bytes()))}


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
async def test_forget_author_leaves_no_trace(
    kind: str, own_redis: RedisServer, tmp_path: Path
) -> None:
    async with database_url(kind, tmp_path) as url:
        settings = make_settings(
            own_redis.url,
            database_url=url,
            data_dir=tmp_path,
            flood_ip_interval_s=0.001,
            flood_ip_burst=1000,
            flood_author_interval_s=0.001,
            flood_author_burst=1000,
        )
        record = await open_record(settings)
        redis = AsyncRedis.from_url(own_redis.url)
        keys = Keys(settings.key_prefix)
        try:
            async with running_api(settings) as api, running_worker(settings):
                ids: dict[str, list[str]] = {"erin": [], "other": []}
                for i in range(4):
                    for author, name in (("erin", NAME), ("other", "Olga Other")):
                        body = {
                            "article_id": "a/erase",
                            "text": f"Reply {i} about the budget"
                            + (f" with {WORD} in it." if author == "erin" else "."),
                            "author": {"id": author, "name": name}
                            | ({"email": EMAIL} if author == "erin" else {}),
                            "context": {
                                "ip": IP if author == "erin" else "192.0.2.10",
                                "user_agent": AGENT if author == "erin" else "Mozilla/5.0",
                            },
                        }
                        r = await api.post_comment(body)
                        assert r.status_code == 202, r.text
                        ids[author].append(r.json()["id"])

                async def decided() -> bool:
                    for cid in ids["erin"] + ids["other"]:
                        r = await api.client.get(f"/v1/comments/{cid}", headers=api.auth())
                        if r.json()["status"] == "pending":
                            return False
                    return True

                await wait_for(decided, timeout=30)
                # Everything is archived before the erasure: both tiers hold the author's data.
                await archive_all(settings, record)
                assert _found(await _redis_dump(redis)) == NEEDLES  # the scan can find them
                # The near-duplicate signatures hold a digest of their author (time-sharded hashes).
                assert await _signatures_of(redis, keys, "erin") == 4
                assert set(_found(await _sql_dump(url, settings))) >= {NAME, WORD}

                counts = await redis.hgetall(keys.author("erin"))
                approved = await redis.zcard(keys.approved("a/erase"))
                r = await api.client.post(f"{M}/authors/erin/forget", headers=api.auth("moderator"))
                assert r.status_code == 403
                r = await api.client.post(f"{M}/authors/erin/forget", headers=api.auth("admin"))
                assert r.status_code == 200, r.text
                assert r.json()["redis_comments"] == 4
                assert r.json()["record_comments"] == 4
                await archive_all(settings, record)  # the audit entry reaches the record

                # Nothing in Redis, its AOF (rewritten), or any table.
                assert _found(await _redis_dump(redis)) == []
                assert await _signatures_of(redis, keys, "erin") == 0
                assert await _signatures_of(redis, keys, "other") == 4
                await redis.bgrewriteaof()

                async def rewritten() -> bool:
                    info = await redis.info("persistence")
                    return not info["aof_rewrite_in_progress"] and not info["aof_rewrite_scheduled"]

                await asyncio.sleep(0.2)
                await wait_for(rewritten, timeout=20)
                assert _files_found(own_redis.dir, "**/*aof*") == {}
                assert _found(await _sql_dump(url, settings)) == []
                if kind == "sqlite":  # the database file and its WAL, free pages included
                    assert _files_found(tmp_path, "record.sqlite3*") == {}

                # Counts exact; the comments still read, anonymised; the other author intact.
                assert await redis.hgetall(keys.author("erin")) == counts
                assert await redis.zcard(keys.approved("a/erase")) == approved
                one = (
                    await api.client.get(f"/v1/comments/{ids['erin'][0]}", headers=api.auth())
                ).json()
                assert one["text"] == "[erased]"
                assert one["author"]["name"] == "[erased]"
                other = (
                    await api.client.get(f"/v1/comments/{ids['other'][0]}", headers=api.auth())
                ).json()
                assert other["text"] == "Reply 0 about the budget."
                assert other["author"]["name"] == "Olga Other"
                audit = (
                    await api.client.get(
                        f"{M}/audit",
                        params={"target_type": "author", "target": "erin"},
                        headers=api.auth("moderator"),
                    )
                ).json()["entries"]
                assert audit[0]["action"] == "author.forget"
                assert audit[0]["detail"]["redis_comments"] == 4

                # Nor in anything either store returns: search, the author's history, the
                # moderator's pages (one comment read from the record alone), the export.
                shown = [
                    (
                        await api.client.get(
                            f"{M}/search", params=params, headers=api.auth("moderator")
                        )
                    ).text
                    for params in ({"q": WORD}, {"author": "erin"}, {"q": "Reply budget"})
                ]
                assert f'"{ids["erin"][0]}"' in shown[1]  # the comments are found, erased
                await redis.delete(keys.comment(ids["erin"][1]))  # only the record has it
                await sign_in(api.client, api.moderator_key)
                for path in (
                    "/moderate/authors/erin",
                    *(f"/moderate/comments/{cid}" for cid in ids["erin"]),
                    f"{M}/authors/erin",
                    *(f"{M}/comments/{cid}" for cid in ids["erin"]),
                ):
                    r = await api.client.get(path, headers=api.auth("moderator"))
                    assert r.status_code == 200, (path, r.text[:200])
                    shown.append(r.text)
                out = io.StringIO()
                assert await export(settings, 0, 2**62, "jsonl", out) > 0
                shown.append(out.getvalue())
                assert _found("\n".join(shown)) == []

                # The command line does the same, for the other author.
                proc = await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "moderation",
                    "forget-author",
                    "other",
                    env={**os.environ, **settings_env(settings)},
                    stdout=asyncio.subprocess.PIPE,
                )
                out, _ = await proc.communicate()
                assert proc.returncode == 0
                result = json.loads(out)
                assert result["author_id"] == "other"
                assert (result["redis_comments"], result["record_comments"]) == (4, 4)
                assert result["keys_deleted"] >= 2  # the flood keys of the author and address
                gone = (
                    await api.client.get(f"/v1/comments/{ids['other'][0]}", headers=api.auth())
                ).json()
                assert gone["text"] == "[erased]"
        finally:
            await redis.aclose()
            await record.close()
