"""Concurrent submissions merged into one ``submit.lua`` call decide and write exactly what the
same submissions made one after another do: idempotency keys reused inside the call, flood
control consumed in turn, closed and expired articles, trusted authors; a key of the wrong type
fails only its own comment (real ``redis-server``, ``Store.submit`` as the API calls it)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from moderation.errors import IdempotencyConflict
from moderation.ids import new_id
from moderation.keys import Keys
from moderation.messages import Author, CommentRecord, Context
from moderation.store import idempotency
from moderation.store.admission import Admission
from moderation.store.comments import Store, SubmitResult

ADMISSION = Admission(
    closed_field="closed",
    close_after_field="close_after_days",
    author_interval_ms=60_000,
    author_burst=2,
    ip_interval_ms=60_000,
    ip_burst=1,
)
TTL = 3_600

#: (article, author, IP, idempotency key, body digest): the comments of one merged call.
PLAN: list[tuple[str, str, str, str | None, str]] = [
    ("open", "ann", "10.0.0.1", "k1", "body-1"),
    ("open", "ann", "10.0.0.1", "k1", "body-1"),  # a replay of the first: its id, not stored
    ("open", "bob", "10.0.0.2", "k2", "body-2"),
    ("open", "bob", "10.0.0.2", "k2", "body-other"),  # the key reused with another body: 409
    ("open", "ann", "10.0.0.3", None, "body-3"),  # ann's second: her burst of 2 is used up
    ("open", "ann", "10.0.0.3", None, "body-4"),  # ann's third: refused (author)
    ("shut", "cid", "10.0.0.4", None, "body-5"),  # a closed article
    ("old", "dan", "10.0.0.4", None, "body-6"),  # older than its "close after 1 day"
    ("open", "eve", "10.0.0.4", None, "body-7"),
    ("open", "fay", "10.0.0.4", None, "body-8"),  # the IP's second comment: refused (ip)
    ("open", "vip", "10.0.0.4", None, "body-9"),  # trusted: no limit, not even the IP's
    ("fresh", "gus", "10.0.0.5", None, "body-10"),  # its article's first comment: first seen
    ("fresh", "hal", "10.0.0.6", "k3", "body-11"),
]


async def _prepare(rds: Redis, keys: Keys) -> None:
    await rds.hset(keys.article_settings("shut"), "closed", "1")
    await rds.hset(keys.article_settings("old"), "close_after_days", "1")
    await rds.hset(keys.article("old"), "published", "1000")
    await rds.hset(keys.author("vip"), "state", "trusted")


def _record(
    article: str, author: str, created: int, ip: str | None = None, comment_id: str = ""
) -> CommentRecord:
    return CommentRecord(
        id=comment_id or new_id(created),
        article_id=article,
        text=f"A comment on {article} by {author}.",
        author=Author(id=author, name=author.title()),
        site="default",
        created_at=created,
        context=Context(ip=ip) if ip else None,
    )


def _records(now: int) -> list[CommentRecord]:
    return [
        _record(article, author, now + i, ip) for i, (article, author, ip, _, _) in enumerate(PLAN)
    ]


async def _submit(store: Store, record: CommentRecord, i: int) -> SubmitResult | str:
    _, _, ip, idem, body = PLAN[i]
    try:
        return await store.submit(record, body, idem, TTL, ADMISSION, ip)
    except IdempotencyConflict:
        return "conflict"


async def _evalshas(rds: Redis) -> int:
    stats = await rds.info("commandstats")
    return int(stats.get("cmdstat_evalsha", {}).get("calls", 0))


def _outcome(result: SubmitResult | str, ids: dict[str, int]) -> Any:
    if isinstance(result, str):
        return result
    refusal = result.refusal
    if refusal is not None:
        return (refusal.kind.value, refusal.limit, refusal.reason, refusal.retry_after_ms > 0)
    return ("new" if result.created else "replay", ids.get(result.comment_id))


async def _state(rds: Redis, keys: Keys, records: list[CommentRecord]) -> dict[str, Any]:
    """Everything the submissions wrote, with ids as positions in ``records`` (each run has its
    own ids) and times left out where a run's clock shows (flood state, stream ids)."""
    at = {r.id: i for i, r in enumerate(records)}

    def pos(raw: bytes) -> int:
        return at.get(raw.decode(), -1)  # -1: the warm-up comment

    state: dict[str, Any] = {}
    for i, r in enumerate(records):
        row = await rds.hgetall(keys.comment(r.id))
        state[f"comment {i}"] = {k.decode(): v for k, v in row.items()}
    state["stream"] = [pos(f[b"id"]) for _, f in await rds.xrange(keys.stream)]
    state["pending"] = [
        (pos(m), s) for m, s in await rds.zrange(keys.pending, 0, -1, withscores=True)
    ]
    for author in sorted({p[1] for p in PLAN}):
        state[f"author {author}"] = await rds.hgetall(keys.author(author))
        state[f"comments of {author}"] = [
            pos(m) for m in await rds.zrange(keys.author_comments(author), 0, -1)
        ]
        state[f"flood {author}"] = await rds.exists(keys.flood("author", author))
    state["counters"] = await rds.hgetall(keys.counters)
    minute = [k async for k in rds.scan_iter(match=f"{keys.prefix}:stats:minute:*")]
    state["minute counters"] = sorted([sorted((await rds.hgetall(k)).items()) for k in minute])
    buckets = [k async for k in rds.scan_iter(match=f"{keys.scope}:idem:*")]
    values = [v for k in buckets for v in (await rds.hgetall(k)).values()]
    state["idempotency"] = sorted((v[:8], at.get(idempotency.split(v)[1], -1)) for v in values)
    for article in ("open", "fresh", "old", "shut"):
        row = await rds.hgetall(keys.article(article))
        state[f"article {article}"] = sorted(row)  # field names: the times are the run's own
    return state


async def test_a_merged_call_decides_as_separate_calls_do(rds: Redis) -> None:
    merged, single = Keys("merged"), Keys("single")
    results: dict[str, list[Any]] = {}
    states: dict[str, dict[str, Any]] = {}
    for keys in (merged, single):
        await _prepare(rds, keys)
        store = Store(rds, keys)
        # Warm up: the script loaded, the IP pseudonyms' secret read (the submissions below
        # then reach the batcher in the same turn of the loop).
        warm = _record("warm", "warm", 1_799_999_999_000, "192.0.2.1")
        await store.submit(warm, "warm", None, TTL, ADMISSION, "192.0.2.1")
        await rds.delete(keys.flood("author", "warm"))
        records = _records(now=1_800_000_000_000)
        await rds.config_resetstat()
        if keys is merged:
            got = await asyncio.gather(*(_submit(store, r, i) for i, r in enumerate(records)))
            # The API's concurrent submissions: one script call for all of them.
            assert await _evalshas(rds) == 1
        else:
            got = [await _submit(store, r, i) for i, r in enumerate(records)]
            assert await _evalshas(rds) == len(records)
        ids = {r.id: i for i, r in enumerate(records)}
        results[keys.prefix] = [_outcome(g, ids) for g in got]
        states[keys.prefix] = await _state(rds, keys, records)

    assert results["merged"] == results["single"]
    assert results["merged"] == [
        ("new", 0),
        ("replay", 0),
        ("new", 2),
        "conflict",
        ("new", 4),
        ("limited", "author", "", True),
        ("closed", "", "closed", False),
        ("closed", "", "expired", False),
        ("new", 8),
        ("limited", "ip", "", True),
        ("new", 10),
        ("new", 11),
        ("new", 12),
    ]
    assert states["merged"] == states["single"]
    assert states["merged"]["stream"] == [-1, 0, 2, 4, 8, 10, 11, 12]
    assert states["merged"]["counters"][b"accepted"] == b"8"  # 7 and the warm-up
    assert states["merged"]["counters"][b"rate_limited"] == b"2"
    assert states["merged"]["article fresh"] == [b"first_seen"]


@pytest.mark.parametrize("admission", [Admission(), ADMISSION], ids=["no checks", "flood control"])
async def test_a_key_of_the_wrong_type_fails_only_its_own_comment(
    rds: Redis, admission: Admission
) -> None:
    """Found by a ``TYPE``, or (flood control on) by the read of the author's standing."""
    keys = Keys(f"poison{int(admission.author_limited)}")
    store = Store(rds, keys)
    await rds.set(keys.author("squatter"), "not a hash")
    await rds.set(keys.comment("01KAXD6Y8V3N9TQ2J5ZB7W4H1Q"), "not a hash either")
    warm = _record("a", "w", 1)
    await store.submit(warm, "warm", None, TTL)
    authors = ["ann", "squatter", "bob", "cid", "dan"]
    records = [
        _record("a", author, i + 1, comment_id="01KAXD6Y8V3N9TQ2J5ZB7W4H1Q" if i == 3 else "")
        for i, author in enumerate(authors)
    ]
    got = await asyncio.gather(
        *(store.submit(r, f"body-{i}", None, TTL, admission) for i, r in enumerate(records)),
        return_exceptions=True,
    )
    assert [type(g).__name__ for g in got] == [
        "SubmitResult",
        "ResponseError",
        "SubmitResult",
        "ResponseError",
        "SubmitResult",
    ]
    assert isinstance(got[1], ResponseError) and "WRONGTYPE" in str(got[1])
    # The refused merged call wrote nothing; the comments sent again one by one were stored
    # once each, and the culprits not at all.
    for i in (0, 2, 4):
        assert await rds.hget(keys.comment(records[i].id), "s") == b"pending"
    assert await rds.exists(keys.comment(records[1].id)) == 0
    assert await rds.get(keys.comment(records[3].id)) == b"not a hash either"
    assert await rds.xlen(keys.stream) == 4  # the warm-up and three
    assert await rds.hget(keys.counters, "accepted") == b"4"
    assert await rds.zcard(keys.author_comments("squatter")) == 0


@pytest.mark.parametrize("n", [1, 2, 64, 65, 150])
async def test_batches_of_any_size_store_every_comment_once(rds: Redis, n: int) -> None:
    keys = Keys(f"size{n}")
    store = Store(rds, keys)
    records = [_record(f"a{i % 7}", f"u{i % 5}", i + 1) for i in range(n)]
    got = await asyncio.gather(
        *(store.submit(r, f"b{i}", f"k{i}", TTL) for i, r in enumerate(records))
    )
    assert [g.comment_id for g in got] == [r.id for r in records]
    assert all(g.created for g in got)
    assert await rds.xlen(keys.stream) == n
    assert await rds.zcard(keys.pending) == n
    assert await rds.hget(keys.counters, "accepted") == str(n).encode()
    assert sum([int(await rds.hget(keys.author(f"u{j}"), "pending") or 0) for j in range(5)]) == n
    # Replayed, in one merged call again: every key answers with its own comment.
    again = await asyncio.gather(
        *(store.submit(r, f"b{i}", f"k{i}", TTL) for i, r in enumerate(records))
    )
    assert [(g.comment_id, g.created) for g in again] == [(r.id, False) for r in records]
    assert await rds.xlen(keys.stream) == n
