"""Batch-level writes keep every effect of the per-comment ones.

The same stream (same ids, texts, authors, times) is decided twice on a clean Redis: once with
one ``transition.lua`` call per comment (``batch_writes=False``, the reference path), once with
``transition_batch.lua``; every effect is snapshotted and compared: comment hashes, counts
(approved sets), held queues, author tallies, events, counters, latency samples, the decided
channel's messages. Then: a batch with a poison key falls back to entry-by-entry and only the
poisoned comment is left for retry.
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

import msgspec
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from moderation.keys import SCORING_GROUP, CommentField, Keys
from moderation.messages import Author, CommentRecord, Context, Decision, Status
from moderation.pipeline.batch import BatchPipeline
from moderation.settings import Settings
from moderation.store import decisions, waiters
from moderation.store.codec import as_str
from moderation.store.comments import Store, now_ms
from moderation.store.queue import CommentQueue
from moderation.store.transitions import AutoDecision, CommentRef
from tests.conftest import linear_scorer

BASE_MS = 1_700_000_000_000

TEXTS = [
    "Thanks for the budget story, the numbers look right.",
    "You are a complete idiot and a moron, shut up.",
    "Buy cheap pills now http://spam.example/x http://spam.example/y http://bit.ly/z",
    "A thoughtful reply about the harbour plans and the council.",
    "Great match report today, well written.",
    "This is totally forbiddenword in the middle.",
]


def stream(n: int) -> list[CommentRecord]:
    """A varied stream: civil, toxic, link spam, a banned word, a banned author, repeats."""
    out = []
    for i in range(n):
        out.append(
            CommentRecord(
                id=f"c{i:05d}",
                article_id=f"art{i % 5}",
                text=TEXTS[i % len(TEXTS)] + ("" if i % 3 else f" ({i})"),
                author=Author(id=f"u{i % 7}", name="Reader"),
                created_at=BASE_MS + i * 1000,
                site="default",
                context=Context(ip=f"10.0.0.{i % 4}", page_loaded_at=BASE_MS + i * 1000 - 30_000),
            )
        )
    return out


async def prepare(rds: Redis, keys: Keys, records: list[CommentRecord]) -> None:
    await rds.flushall()
    await rds.hset(keys.author("u6"), "state", "banned")
    await rds.sadd(keys.words("banned"), "forbiddenword")
    await rds.set(keys.words_version, os.urandom(8).hex())
    store = Store(rds, keys)
    for record in records:
        await store.submit(record, "", None, 0)


def revised(record: CommentRecord, now: int) -> CommentRecord:
    """``record``'s first edit: revision 1, as a site's edit stores it."""
    return msgspec.structs.replace(
        record, text=record.text + " (edited)", revision=1, edited_at=now
    )


async def decide_then_edit(
    store: Store,
    record: CommentRecord,
    first: Status,
    now: int,
    *,
    risk: float = 0.0,
    reason_code: str = "",
) -> None:
    """``record`` decided ``first`` out of pending, then edited back to pending (the transition
    ``store.revisions.edit`` makes, storing :func:`revised`); both transitions applied."""
    ref = CommentRef.of(record)
    decided = Decision(status=first, by="auto", decided_at=now)
    result = await store.transition(
        ref, [Status.PENDING], decided, actor="auto", risk=risk, reason_code=reason_code
    )
    assert result.applied
    back = Decision(status=Status.PENDING, by="site", decided_at=now)
    result = await store.transition(ref, [first], back, actor="site", replace=revised(record, now))
    assert result.applied


async def decide_all(settings: Settings, rds: Redis, *, batch_writes: bool) -> list[bytes]:
    """Drain the stream in batches of 8; returns the decided channel's messages."""
    keys = Keys(settings.key_prefix)
    pubsub = rds.pubsub()
    await pubsub.subscribe(keys.decided_channel)
    pipeline = BatchPipeline(
        settings, rds, linear_scorer(), consumer="t", batch_writes=batch_writes
    )
    queue = CommentQueue(rds, keys, "t")
    await queue.ensure_group()
    try:
        while entries := await queue.read(8, 10, 0):
            result = await pipeline.process(entries)
            assert result.retry == 0
    finally:
        pipeline.close()
    messages: list[bytes] = []
    quiet = 0
    while quiet < 3:  # until three empty polls in a row (the subscribe reply comes first)
        m = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.1)
        quiet = quiet + 1 if m is None else 0
        if m is not None:
            messages.append(bytes(m["data"]))
    await pubsub.aclose()
    # Each record announces the stored decision: its status, "updated" time and blob, as
    # stored (a waiter answers from it without reading the comment back).
    announced: list[bytes] = []
    for message in messages:
        found = waiters.parse_message(message)[0]
        assert found, message
        for comment_id, published in found:
            assert published is not None, message
            status, updated, blob = await rds.hmget(
                keys.comment(comment_id),
                CommentField.STATUS,
                CommentField.UPDATED,
                CommentField.DECISION,
            )
            assert (published.status.value, published.updated_at, published.decision) == (
                as_str(status),
                int(updated),
                blob,
            )
            announced.append(f"{comment_id} {published.status.value}".encode())
    # The decisions' times differ from run to run: compare id and status.
    return sorted(announced)


def _decision(raw: Any) -> dict[str, Any]:
    # A stored blob (store.decisions), its facts cached by the encoding in this process.
    doc = msgspec.to_builtins(decisions.decode(raw))
    doc.pop("decided_at", None)
    return dict(doc)


async def snapshot(rds: Redis, keys: Keys, records: list[CommentRecord]) -> dict[str, Any]:
    """Every effect of deciding ``records``, with wall-clock times left out."""
    out: dict[str, Any] = {}
    for r in records:
        h = {as_str(k): v for k, v in (await rds.hgetall(keys.comment(r.id))).items()}
        out[r.id] = {
            "status": as_str(h[CommentField.STATUS]),
            "held_reason": h.get(CommentField.HELD_REASON),
            "decision": _decision(h[CommentField.DECISION]),
            # One copy: an automatic decision lives in "decision" alone.
            "auto": h.get(CommentField.AUTO_DECISION),
            "doc": h[CommentField.DOC],
        }
    articles = sorted({r.article_id for r in records})
    authors = sorted({r.author.id for r in records})
    for aid in articles:
        out[f"approved:{aid}"] = await rds.zrange(keys.approved(aid), 0, -1, withscores=True)
        out[f"held:{aid}"] = await rds.zrange(keys.article_held(aid), 0, -1, withscores=True)
    for author in authors:
        out[f"author:{author}"] = await rds.hgetall(keys.author(author))
    out["held"] = await rds.zrange(keys.held, 0, -1, withscores=True)
    out["held_risk"] = await rds.zrange(keys.held_risk, 0, -1, withscores=True)
    out["pending"] = await rds.zcard(keys.pending)
    events = await rds.xrange(keys.events)
    # Events carry the decision (for the archiver): compared without its wall-clock time.
    out["events"] = sorted(
        tuple(
            sorted(
                (as_str(k), json.dumps(_decision(v)) if as_str(k) == "decision" else as_str(v))
                for k, v in fields.items()
                if as_str(k) != "at"
            )
        )
        for _, fields in events
    )
    out["counters"] = await rds.hgetall(keys.counters)
    out["held_counts"] = await rds.hgetall(keys.held_counts)
    out["held_articles"] = await rds.zrange(keys.held_articles, 0, -1, withscores=True)
    minute: dict[str, int] = {}
    async for key in rds.scan_iter(match=keys.minute_counters(0).rsplit(":", 1)[0] + ":*"):
        for field, value in (await rds.hgetall(key)).items():
            minute[as_str(field)] = minute.get(as_str(field), 0) + int(value)
        assert await rds.ttl(key) > 0
    out["minute"] = minute
    out["latency_samples"] = await rds.llen(keys.auto_latency)
    return out


async def test_batch_writes_keep_every_effect_of_per_comment_writes(
    settings: Settings, rds: Redis
) -> None:
    keys = Keys(settings.key_prefix)
    records = stream(60)
    await prepare(rds, keys, records)
    reference_messages = await decide_all(settings, rds, batch_writes=False)
    reference = await snapshot(rds, keys, records)

    await prepare(rds, keys, records)
    messages = await decide_all(settings, rds, batch_writes=True)
    batched = await snapshot(rds, keys, records)

    ids = {r.id for r in records}
    statuses = {v["status"] for k, v in reference.items() if k in ids}
    assert statuses == {"approved", "held", "rejected"}  # the stream exercises every outcome
    assert reference["pending"] == 0
    assert len(reference["events"]) == len(records)
    assert reference["latency_samples"] == len(records)
    for key in reference:
        assert batched[key] == reference[key], key
    assert messages == reference_messages
    assert len(messages) == len(records)


async def test_a_redelivered_batch_changes_nothing(settings: Settings, rds: Redis) -> None:
    keys = Keys(settings.key_prefix)
    records = stream(12)
    await prepare(rds, keys, records)
    await decide_all(settings, rds, batch_writes=True)
    before = await snapshot(rds, keys, records)
    # The same decisions again (a redelivery): every one reports stale, nothing moves.
    items = [
        AutoDecision(
            CommentRef.of(r),
            decisions.decode(await rds.hget(keys.comment(r.id), CommentField.DECISION)),
        )
        for r in records
    ]
    results = await Store(rds, keys).transition_batch(items)
    assert [r.applied for r in results] == [False] * len(records)
    assert await snapshot(rds, keys, records) == before


async def test_a_poison_key_refuses_the_batch_and_only_its_comment_is_left(
    settings: Settings, rds: Redis
) -> None:
    keys = Keys(settings.key_prefix)
    records = stream(8)
    await prepare(rds, keys, records)
    # The author hash of one comment is a string: the batch script must refuse before writing.
    await rds.set(keys.author("u3"), "not a hash")
    pipeline = BatchPipeline(settings, rds, linear_scorer(), consumer="t")
    queue = CommentQueue(rds, keys, "t")
    await queue.ensure_group()
    try:
        entries = await queue.read(8, 10, 0)
        result = await pipeline.process(entries, after_write=tally)
    finally:
        pipeline.close()
    assert (result.decided, result.retry) == (7, 1)
    statuses = await asyncio.gather(
        *(rds.hget(keys.comment(r.id), CommentField.STATUS) for r in records)
    )
    assert as_str(statuses[3]) == "pending"  # the comment by u3, left for retry
    assert all(as_str(s) != "pending" for i, s in enumerate(statuses) if i != 3)
    # The refused call acknowledged nothing; the one-by-one writes acknowledged the seven, and
    # the tally its pipeline counted first is corrected to what was decided.
    left = await rds.xpending_range(keys.stream, SCORING_GROUP, "-", "+", 10)
    assert [as_str(e["message_id"]) for e in left] == [entries[3].entry_id]
    assert int(await rds.hget("tally", "decided") or 0) == 7


def tally(pipe: Pipeline, decided: int) -> None:
    pipe.hincrby("tally", "decided", decided)


async def test_a_batch_is_acknowledged_and_tallied_with_its_writes(
    settings: Settings, rds: Redis
) -> None:
    keys = Keys(settings.key_prefix)
    records = stream(8)
    await prepare(rds, keys, records)
    # One comment decided before the worker reads it (a redelivery): acknowledged, not written.
    early = records[2]
    decision = Decision(status=Status.APPROVED, by="auto", decided_at=now_ms())
    await Store(rds, keys).transition_batch([AutoDecision(CommentRef.of(early), decision)])
    pipeline = BatchPipeline(settings, rds, linear_scorer(), consumer="t")
    queue = CommentQueue(rds, keys, "t")
    await queue.ensure_group()
    try:
        entries = await queue.read(8, 10, 0)
        assert len(await rds.xpending_range(keys.stream, SCORING_GROUP, "-", "+", 10)) == 8
        result = await pipeline.process(entries, after_write=tally)
    finally:
        pipeline.close()
    assert (result.decided, result.acked, result.retry) == (7, 8, 0)
    assert await rds.xpending_range(keys.stream, SCORING_GROUP, "-", "+", 10) == []
    assert int(await rds.hget("tally", "decided") or 0) == 7


async def test_a_comment_hash_of_the_wrong_type_refuses_the_batch_before_any_write(
    settings: Settings, rds: Redis
) -> None:
    """The comment hashes are type-checked by the script's first pass of reads (no ``TYPE``
    per comment): a batch holding one that is not a hash is refused with nothing written."""
    keys = Keys(settings.key_prefix)
    records = stream(6)
    await prepare(rds, keys, records)
    await rds.delete(keys.comment(records[4].id))
    await rds.set(keys.comment(records[4].id), "not a hash")
    before = await rds.hgetall(keys.counters)
    now = now_ms()
    items = [
        AutoDecision(CommentRef.of(r), Decision(status=Status.APPROVED, by="auto", decided_at=now))
        for r in records
    ]
    try:
        await Store(rds, keys).transition_batch(items)
    except Exception as exc:  # redis' ResponseError, raised by the pipeline
        assert "WRONGTYPE" in str(exc)
    else:
        raise AssertionError("a batch with a string for a comment hash was written")
    for r in records[:4]:
        assert as_str(await rds.hget(keys.comment(r.id), CommentField.STATUS)) == "pending"
    assert await rds.hgetall(keys.counters) == before
    assert await rds.xlen(keys.events) == 0


async def test_a_comment_twice_in_one_batch_is_decided_once(settings: Settings, rds: Redis) -> None:
    """A redelivery can put the same comment twice in one call: the second copy finds the
    status the first one wrote (stale), so nothing is counted, listed or announced twice."""
    keys = Keys(settings.key_prefix)
    records = stream(3)
    await prepare(rds, keys, records)
    pubsub = rds.pubsub()
    await pubsub.subscribe(keys.decided_channel)
    now = now_ms()
    twice = AutoDecision(
        CommentRef.of(records[1]), Decision(status=Status.HELD, by="auto", decided_at=now)
    )
    results = await Store(rds, keys).transition_batch([twice, twice])
    assert [(r.applied, r.previous) for r in results] == [
        (True, Status.PENDING),
        (False, Status.HELD),
    ]
    assert int(await rds.hget(keys.counters, "decided:held") or 0) == 1
    assert await rds.zcard(keys.held) == 1
    assert await rds.xlen(keys.events) == 1
    author = await rds.hgetall(keys.author(records[1].author.id))
    assert (int(author[b"held"]), int(author[b"pending"])) == (1, 0)
    messages = []
    for _ in range(20):
        m = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.1)
        if m is not None:
            messages.append(bytes(m["data"]))
        elif messages:
            break
    await pubsub.aclose()
    announced = [cid for m in messages for cid, _ in waiters.parse_message(m)[0]]
    assert announced == [records[1].id]


async def test_a_thread_decided_in_one_batch_lists_as_one_by_one(
    settings: Settings, rds: Redis
) -> None:
    """A top-level comment held in the same batch as an approved reply to it stays listed (its
    thread has an approved reply), as when each is written on its own; one approved once and
    then edited back to pending is not listed once held. The batch script only adds to the
    thread sets: a top-level comment approved leaves its (wrong-typed) replies set untouched."""
    keys = Keys(settings.key_prefix)

    def record(i: int, parent: str | None = None) -> CommentRecord:
        return CommentRecord(
            id=f"t{i:05d}",
            article_id="threaded",
            text=f"A comment in a thread, number {i}.",
            author=Author(id=f"u{i}", name="Reader"),
            created_at=BASE_MS + i * 1000,
            site="default",
            parent_id=parent,
        )

    top, reply, lone, approved = record(1), record(2, "t00001"), record(3), record(4)
    records = [top, reply, lone, approved]
    now = now_ms()
    # Listed once: approved, then edited back to pending (as a site's edit does, below).
    edited = {r.id: revised(r, now) for r in (top, lone)}

    def item(r: CommentRecord, status: Status) -> AutoDecision:
        ref = CommentRef.of(edited.get(r.id, r))
        return AutoDecision(ref, Decision(status=status, by="auto", decided_at=now))

    # The reply first: the top-level comment's replies set changes within the batch.
    items = [
        item(reply, Status.APPROVED),
        item(top, Status.HELD),
        item(lone, Status.HELD),
        item(approved, Status.APPROVED),
    ]

    async def lists() -> dict[str, Any]:
        return {
            "roots": await rds.zrange(keys.thread_roots("threaded"), 0, -1),
            "replies": await rds.zrange(keys.thread_replies("threaded", top.id), 0, -1),
            "approved": await rds.zrange(keys.approved("threaded"), 0, -1),
        }

    async def fresh() -> Store:
        await prepare(rds, keys, records)
        store = Store(rds, keys)
        for r in (top, lone):
            await decide_then_edit(store, r, Status.APPROVED, now)
        return store

    store = await fresh()
    assert (await lists())["roots"] == []  # the edits unlisted both (no approved reply)
    calls = [
        store.transition_call(i.ref, [Status.PENDING], i.decision, actor="auto") for i in items
    ]
    assert all(
        not isinstance(r, Exception) and r.applied for r in await store.transition_each(calls)
    )
    one_by_one = await lists()
    assert one_by_one["roots"] == [top.id.encode(), approved.id.encode()]

    store = await fresh()
    await rds.set(keys.thread_replies("threaded", approved.id), "not a set")
    assert all(r.applied for r in await store.transition_batch(items))
    assert await lists() == one_by_one


async def test_edited_comments_decided_again_in_a_batch_end_as_one_by_one(
    settings: Settings, rds: Redis
) -> None:
    """The batch script only adds to the approved, held and thread sets (a pending comment is
    in none of them): an edit, the one way back to pending after a decision, takes the comment
    out of them. Each comment is decided once (approved, held or rejected), edited, then
    decided again to each outcome: the batch leaves every effect as transition.lua does."""
    keys = Keys(settings.key_prefix)
    records = stream(9)
    outcomes = [Status.APPROVED, Status.HELD, Status.REJECTED]
    now = now_ms()

    def decision(status: Status) -> Decision:
        return Decision(status=status, by="auto", decided_at=now)

    async def decided_then_edited() -> Store:
        await prepare(rds, keys, records)
        store = Store(rds, keys)
        for i, r in enumerate(records):
            await decide_then_edit(store, r, outcomes[i % 3], now, risk=0.7, reason_code="tox")
        return store

    items = [
        AutoDecision(
            CommentRef.of(revised(r, now)),
            decision(outcomes[i // 3]),
            risk=0.6,
            reason_code="tox" if outcomes[i // 3] is Status.HELD else "",
        )
        for i, r in enumerate(records)
    ]
    store = await decided_then_edited()
    calls = [
        store.transition_call(
            i.ref, [Status.PENDING], i.decision, actor="auto", risk=i.risk,
            reason_code=i.reason_code,
        )
        for i in items
    ]  # fmt: skip
    assert all(
        not isinstance(r, Exception) and r.applied for r in await store.transition_each(calls)
    )
    one_by_one = await snapshot(rds, keys, records)

    store = await decided_then_edited()
    assert all(r.applied for r in await store.transition_batch(items))
    batched = await snapshot(rds, keys, records)
    assert {one_by_one[r.id]["status"] for r in records} == {"approved", "held", "rejected"}
    for key in one_by_one:
        assert batched[key] == one_by_one[key], key
