"""Retention: what leaves Redis when, and how long personal data is kept at all.

Run by the archiver now and then (``workers.archiver``), each pass bounded:

- :func:`sweep_decided`: a comment decided (approved, rejected, deleted) more than
  ``retention_days`` ago leaves Redis, but only once the record holds that very decision: the
  candidates are read from the record (``comments.updated_at``, the time of the newest
  transition it archived), and ``sweep.lua`` moves a comment only while its Redis ``updated``
  is still that time. Pending and held comments are never candidates. An approved comment's id
  moves from the article's approved set to its archived count in the same script, so counts
  stay exact. Reads then find the comment in the record (the existing fall-through).
- :func:`strip_personal_data`: ``personal_data_days`` after a comment's creation its clear IP
  address, e-mail address and user agent are removed from its submission, in the record and
  in Redis when it is still there (a held comment stays until decided).

Each keeps its place in Redis (``Keys.retention_mark``, ``Keys.personal_data_mark``), so a
pass goes on where the last one stopped; a crash between the two stores only repeats
idempotent work.

What the windows trim needs no sweep: the near-duplicate index expires a whole time shard at a
time (its LSH and signature hashes get their expiry once, when created: the shard's end plus
the window, ``spam.lsh``; nothing per comment to trim), IP sets, flood-control and
idempotency keys expire with their TTLs (the spam windows, ``idempotency_ttl_s``), the IP sets
are also trimmed by their writer (``spam_batch.lua``), and the streams are trimmed by the
archiver, never past what a consumer group has not acknowledged (``store.trim``). Erasure
deletes an author's signatures from the shards (``review.erasure``).
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec
import sqlalchemy as sa
from redis.asyncio import Redis

from moderation.keys import Keys
from moderation.messages import CommentRecord, Status, json_encoder
from moderation.record.database import Record
from moderation.record.schema import comments
from moderation.settings import Settings
from moderation.store.codec import as_str
from moderation.store.comments import Store

DAY_MS = 86_400_000
#: Comments looked at per pass (bounds one pass' time in Redis and in the database).
BATCH = 500
_DECIDED = (Status.APPROVED.value, Status.REJECTED.value, Status.DELETED.value)
_record_decoder = msgspec.json.Decoder(CommentRecord)


@dataclass(frozen=True, slots=True)
class SweepResult:
    looked_at: int
    swept: int


def without_personal_data(record: CommentRecord) -> CommentRecord:
    """``record`` without its clear IP address, e-mail address and user agent."""
    context = record.context
    if context is not None:
        context = msgspec.structs.replace(context, ip=None, user_agent=None)
        if context == type(context)():
            context = None
    author = msgspec.structs.replace(record.author, email=None)
    return msgspec.structs.replace(record, author=author, context=context)


def has_personal_data(record: CommentRecord) -> bool:
    c = record.context
    return record.author.email is not None or (
        c is not None and (c.ip is not None or c.user_agent is not None)
    )


async def _mark(redis: Redis, key: str) -> tuple[int, str]:
    raw = await redis.get(key)
    if raw is None:
        return 0, ""
    at, _, cid = as_str(raw).partition(" ")
    return int(at), cid


async def sweep_decided(
    record: Record, redis: Redis, keys: Keys, settings: Settings, *, now_ms: int
) -> SweepResult:
    """One pass of at most :data:`BATCH` decided comments past retention (see module doc)."""
    if settings.retention_days <= 0:
        return SweepResult(0, 0)
    cutoff = now_ms - settings.retention_days * DAY_MS
    at, cid = await _mark(redis, keys.retention_mark)
    c = comments.c
    # A held comment is passed over: once decided, its row's ``updated_at`` moves past the
    # mark with the archived decision, and a later pass finds it.
    query = (
        sa.select(c.id, c.article_id, c.updated_at)
        .where(
            c.updated_at < cutoff,
            sa.tuple_(c.updated_at, c.id) > sa.tuple_(at, cid),
            c.status.in_(_DECIDED),
        )
        .order_by(c.updated_at, c.id)
        .limit(BATCH)
    )
    async with record.engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    if not rows:
        return SweepResult(0, 0)
    swept = await Store(redis, keys).sweep([(r.id, r.article_id, int(r.updated_at)) for r in rows])
    last = rows[-1]
    await redis.set(keys.retention_mark, f"{int(last.updated_at)} {last.id}")
    return SweepResult(len(rows), swept)


async def strip_personal_data(
    record: Record, redis: Redis, keys: Keys, settings: Settings, *, now_ms: int
) -> int:
    """One pass of at most :data:`BATCH` comments past ``personal_data_days`` (by creation):
    their submissions lose the clear IP, e-mail and user agent in the record and in Redis.
    Returns the number of submissions changed."""
    if settings.personal_data_days <= 0:
        return 0
    cutoff = now_ms - settings.personal_data_days * DAY_MS
    mark_key = keys.personal_data_mark
    at, cid = await _mark(redis, mark_key)
    c = comments.c
    query = (
        sa.select(c.id, c.doc, c.created_at)
        .where(c.created_at < cutoff, sa.tuple_(c.created_at, c.id) > sa.tuple_(at, cid))
        .order_by(c.created_at, c.id)
        .limit(BATCH)
    )
    changed = 0
    async with record.engine.begin() as conn:
        rows = (await conn.execute(query)).all()
        for row in rows:
            try:
                doc = _record_decoder.decode(row.doc)
            except msgspec.DecodeError:
                continue
            if has_personal_data(doc):
                clean = json_encoder.encode(without_personal_data(doc)).decode()
                await conn.execute(comments.update().where(c.id == row.id).values(doc=clean))
                changed += 1
    if not rows:
        return 0
    store = Store(redis, keys)
    held = await store.submissions([r.id for r in rows])
    for doc in held.values():
        if has_personal_data(doc):
            changed += await store.replace_doc(without_personal_data(doc))
    last = rows[-1]
    await redis.set(mark_key, f"{int(last.created_at)} {last.id}")
    return changed
