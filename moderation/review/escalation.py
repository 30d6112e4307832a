"""Escalation: a moderator sends a held comment to the admins with a note ("legal should see
this"); admins see them in the Escalated view.

Escalating changes no status (the comment stays held, in every queue and count, until someone
decides it through ``transition.lua`` as always): it adds the id to ``Keys.escalated`` with who
sent it and why (``Keys.escalations``), and writes the audit entry (``comment.escalate``) in the
same MULTI. The view keeps only comments still held: one decided since (by anyone) leaves the
Escalated view as it is read, so no transition script needs to know escalations exist.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import msgspec

from moderation.errors import DecisionConflict, NotFound, ValidationFailed
from moderation.ids import is_comment_id
from moderation.messages import Status, json_encoder
from moderation.review.context import Review
from moderation.review.items import ReviewItem, load_items
from moderation.store import audit
from moderation.store.audit import Actor
from moderation.store.codec import as_str

MAX_NOTE_CHARS = 1_000
#: Most escalations the view reads at once (oldest first: they have waited longest).
MAX_VIEW = 200


class EscalateIn(msgspec.Struct, forbid_unknown_fields=True):
    note: str


class Escalation(msgspec.Struct, kw_only=True):
    at: int  # epoch ms
    #: The actor's label, ``moderator:<name>``.
    by: str
    note: str


_decode = msgspec.json.Decoder(Escalation)


@dataclass(frozen=True, slots=True)
class Escalated:
    item: ReviewItem
    escalation: Escalation


def check_note(note: str) -> str:
    note = note.strip()
    if not note:
        raise ValidationFailed("an escalation needs a note saying why", field="note")
    if len(note) > MAX_NOTE_CHARS:
        raise ValidationFailed(f"note is longer than {MAX_NOTE_CHARS} characters", field="note")
    return note


async def escalate(review: Review, comment_id: str, note: str, actor: Actor) -> Escalation:
    """Send the held comment ``comment_id`` to the admins; 404 if there is no such comment,
    409 if it is not held (someone decided it)."""
    note = check_note(note)
    item = (
        (await load_items(review.redis, review.keys, [comment_id]))[0]
        if is_comment_id(comment_id)
        else None
    )
    if item is None:
        raise NotFound(f"no comment with id {comment_id!r}", field="comment_id")
    if item.stored.status is not Status.HELD:
        raise DecisionConflict(
            f"comment {comment_id} is {item.stored.status.value}, not held: only a held "
            "comment can be escalated",
            extra={"current": {"id": comment_id, "status": item.stored.status.value}},
        )
    record = item.stored.record
    escalation = Escalation(at=int(time.time() * 1000), by=actor.label, note=note)
    entry = audit.new_entry(
        actor,
        "comment.escalate",
        "comment",
        comment_id,
        note=note,
        detail={"article_id": record.article_id, "author_id": record.author.id},
    )
    async with review.redis.pipeline(transaction=True) as pipe:
        pipe.zadd(review.keys.escalated, {comment_id: escalation.at})
        pipe.hset(review.keys.escalations, comment_id, json_encoder.encode(escalation))
        await review.audit.append(entry, pipe)
        await pipe.execute()
    return escalation


async def escalated(review: Review) -> list[Escalated]:
    """The escalated comments still held, oldest escalation first; those decided since are
    dropped from the view's keys."""
    ids = [as_str(x) for x in await review.redis.zrange(review.keys.escalated, 0, MAX_VIEW - 1)]
    if not ids:
        return []
    items = await load_items(review.redis, review.keys, ids)
    raw = await review.redis.hmget(review.keys.escalations, ids)
    out: list[Escalated] = []
    gone: list[str] = []
    for cid, item, doc in zip(ids, items, raw, strict=True):
        if item is None or item.stored.status is not Status.HELD or doc is None:
            gone.append(cid)
            continue
        out.append(Escalated(item, _decode.decode(doc)))
    if gone:
        async with review.redis.pipeline(transaction=True) as pipe:
            pipe.zrem(review.keys.escalated, *gone)
            pipe.hdel(review.keys.escalations, *gone)
            await pipe.execute()
    return out


async def escalated_ids(review: Review, comment_ids: list[str]) -> set[str]:
    """Which of ``comment_ids`` are escalated (for a mark on their queue cards)."""
    if not comment_ids:
        return set()
    scores = await review.redis.zmscore(review.keys.escalated, comment_ids)
    return {cid for cid, s in zip(comment_ids, scores, strict=True) if s is not None}
