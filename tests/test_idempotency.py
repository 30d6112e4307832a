"""Idempotency keys in the store (``store.idempotency``, ``submit.lua``): a replay within the
TTL answers the first comment, generations keep every key for at least the TTL and forget it
after two, sites never share a key, and the client's key never appears in Redis."""

from __future__ import annotations

import asyncio
import hashlib

import pytest
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from moderation.errors import IdempotencyConflict
from moderation.ids import new_id
from moderation.keys import Keys
from moderation.messages import Author, CommentRecord
from moderation.store import compression, idempotency
from moderation.store.comments import Store

DIGEST = hashlib.sha256(b"body").hexdigest()


def record(site: str = "default", text: str = "hello") -> CommentRecord:
    return CommentRecord(
        id=new_id(),
        article_id="a1",
        text=text,
        author=Author("u1", "Reader"),
        created_at=0,
        site=site,
    )


async def redis_time(rds: Redis) -> float:
    s, us = await rds.time()
    return s + us / 1e6


async def test_a_replay_within_the_ttl_answers_the_first_comment(rds: Redis, keys: Keys) -> None:
    store = Store(rds, keys)
    first = await store.submit(record(), DIGEST, "req-1", 3600)
    assert first.created
    again = await store.submit(record(), DIGEST, "req-1", 3600)
    assert (again.comment_id, again.created) == (first.comment_id, False)
    with pytest.raises(IdempotencyConflict) as clash:
        await store.submit(record(text="other"), hashlib.sha256(b"x").hexdigest(), "req-1", 3600)
    assert clash.value.extra == {"comment_id": first.comment_id}
    other = await store.submit(record(), DIGEST, "req-2", 3600)
    assert other.created and other.comment_id != first.comment_id
    assert await rds.xlen(keys.stream) == 2


async def test_generations_keep_a_key_for_at_least_the_ttl(rds: Redis, keys: Keys) -> None:
    """TTL 1 s: the key is answered for (at least) one second after it was written, whatever
    generation boundary falls meanwhile, and forgotten two seconds after, its hash expired."""
    store = Store(rds, keys)
    before = await redis_time(rds)
    first = await store.submit(record(), DIGEST, "rotating", 1)
    after = await redis_time(rds)
    replays = 0
    while await redis_time(rds) < before + 0.98:
        again = await store.submit(record(), DIGEST, "rotating", 1)
        assert again.comment_id == first.comment_id and not again.created
        replays += 1
        await asyncio.sleep(0.05)
    assert replays > 5
    await asyncio.sleep(max(0.0, after + 2.05 - await redis_time(rds)))
    late = await store.submit(record(), DIGEST, "rotating", 1)
    assert late.created and late.comment_id != first.comment_id
    bucket, _ = idempotency.slot("rotating")
    stem = keys.idempotency(bucket)
    names = [k.decode() async for k in rds.scan_iter(match=f"{stem}:*")]
    assert len(names) == 1  # only the newest generation's hash is left
    assert 0 < await rds.pttl(names[0]) <= 2000


async def test_sites_never_share_a_key(rds: Redis, keys: Keys) -> None:
    store = Store(rds, keys)
    a = await store.submit(record("site-a"), DIGEST, "same", 3600)
    b = await store.submit(record("site-b"), DIGEST, "same", 3600)
    assert a.created and b.created and a.comment_id != b.comment_id
    assert (await store.submit(record("site-a"), DIGEST, "same", 3600)).comment_id == a.comment_id
    assert (await store.submit(record("site-b"), DIGEST, "same", 3600)).comment_id == b.comment_id


async def test_the_clients_key_is_never_stored(rds: Redis, keys: Keys) -> None:
    store = Store(rds, keys)
    secret = "client-secret-key-0123"
    await store.submit(record(), DIGEST, secret, 3600)
    async for name in rds.scan_iter(match="*"):
        assert secret.encode() not in name
        if await rds.type(name) == b"hash":
            for field, value in (await rds.hgetall(name)).items():
                assert secret.encode() not in field + compression.plain(value)


async def test_a_bucket_of_the_wrong_type_fails_before_any_write(rds: Redis, keys: Keys) -> None:
    store = Store(rds, keys)
    bucket, _ = idempotency.slot("typed")
    now = int(await redis_time(rds))
    stem = keys.idempotency(bucket)
    # Both generations a call may read (the clock may cross a boundary meanwhile).
    for generation in (now // 3600, now // 3600 + 1):
        await rds.set(f"{stem}:{generation}", "not a hash")
    with pytest.raises(ResponseError):
        await store.submit(record(), DIGEST, "typed", 3600)
    assert await rds.xlen(keys.stream) == 0
