"""Idempotency keys in the store (``store.idempotency``, ``submit.lua``): a replay within the
TTL answers the first comment, generations keep every key for at least the TTL and forget it
at most a generation (a quarter of the TTL) later, sites never share a key, and the client's
key never appears in Redis."""

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


def test_generations_are_a_quarter_of_the_ttl() -> None:
    assert idempotency.generations(86_400) == (21_600, 4)
    assert idempotency.generations(10) == (3, 4)  # 12 s read: at least the 10
    assert idempotency.generations(3) == (1, 3)
    assert idempotency.generations(1) == (1, 1)
    assert idempotency.generations(0) == (1, 1)


async def test_a_key_is_read_back_across_generations_and_kept_a_span_past_its_ttl(
    rds: Redis, keys: Keys
) -> None:
    """TTL 4 s: generations of 1 s, four of them read. The key is answered after the clock has
    crossed at least three generation boundaries (so older generations are read), and its
    hash expires at most one generation past the TTL (not a whole TTL, as two generations of
    a TTL each did)."""
    store = Store(rds, keys)
    before = await redis_time(rds)
    first = await store.submit(record(), DIGEST, "quarters", 4)
    bucket, _ = idempotency.slot("quarters")
    names = [k.decode() async for k in rds.scan_iter(match=f"{keys.idempotency(bucket)}:*")]
    assert len(names) == 1
    assert 3_000 < await rds.pttl(names[0]) <= 5_000
    await asyncio.sleep(max(0.0, before + 3.5 - await redis_time(rds)))
    again = await store.submit(record(), DIGEST, "quarters", 4)
    assert (again.comment_id, again.created) == (first.comment_id, False)
    # The replay wrote nothing: still the one generation's hash.
    assert len([k async for k in rds.scan_iter(match=f"{keys.idempotency(bucket)}:*")]) == 1


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
    # The generation a call reads first (a quarter of the TTL: the clock may cross a boundary
    # meanwhile, so the next one too).
    span, _ = idempotency.generations(3600)
    for generation in (now // span, now // span + 1):
        await rds.set(f"{stem}:{generation}", "not a hash")
    with pytest.raises(ResponseError):
        await store.submit(record(), DIGEST, "typed", 3600)
    assert await rds.xlen(keys.stream) == 0
