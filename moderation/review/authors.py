"""Authors: standing (normal, banned, pre-moderated, trusted) and history.

The state lives in the author hash's ``state`` field, which the worker's rules read for every
comment (``moderation.pipeline.policy``): banned → rejected, pre-moderated → held, trusted → the
spam hold is skipped. Banning can also reject what the author has waiting (pending and held),
each one an ordinary audited transition.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec
from redis.asyncio.client import Pipeline

from moderation.errors import ValidationFailed
from moderation.ids import check_id_characters
from moderation.messages import Decision, Reason, Status
from moderation.pipeline.policy import AuthorState
from moderation.record import Reader
from moderation.review import history
from moderation.review.context import Review
from moderation.review.items import ReviewItem, Standing, load_items, load_standings
from moderation.review.queue import decode_queue_cursor, encode_queue_cursor
from moderation.review.txn import watched
from moderation.statements import with_statement
from moderation.store import audit
from moderation.store.audit import Actor
from moderation.store.codec import as_str
from moderation.store.comments import now_ms
from moderation.store.transitions import CommentRef

STATES = tuple(s.value for s in AuthorState)
#: Most waiting comments one ban rejects in a single request.
MAX_SWEEP = 5_000


class AuthorStateIn(msgspec.Struct, forbid_unknown_fields=True):
    state: str
    note: str | None = None
    #: With ``banned``: also reject the author's pending and held comments.
    reject_pending: bool = False


def check_id(value: str, max_chars: int, field: str = "author_id") -> str:
    if not value.strip() or len(value) > max_chars:
        raise ValidationFailed(f"{field} must be 1–{max_chars} characters", field=field)
    check_id_characters(value, field)
    return value


@dataclass(slots=True)
class AuthorPage:
    author_id: str
    name: str | None
    standing: Standing
    history: list[ReviewItem]
    next_cursor: str | None


async def author_page(
    review: Review,
    author_id: str,
    *,
    limit: int,
    cursor: str | None,
    reader: Reader | None = None,
) -> AuthorPage:
    """The author's standing and their comments, newest first: Redis's first, then (with a
    ``reader``) the older ones only the record (SQL) still holds, so the history is whole."""
    key = review.keys.author_comments(author_id)
    high: Any = "+inf"
    after = decode_queue_cursor(cursor, "history") if cursor else None
    if after is not None:
        high = after[0]
    rows: list[Any] = await review.redis.zrange(
        key, high, "-inf", byscore=True, desc=True, offset=0, num=limit + 50, withscores=True
    )
    pairs = [(as_str(m), float(s)) for m, s in rows]
    if after is not None:
        pairs = [p for p in pairs if (p[1], p[0]) < after]
    page = pairs[:limit]
    loaded = await load_items(review.redis, review.keys, [m for m, _ in page])
    items = [i for i in loaded if i]
    gone = [m for (m, _), i in zip(page, loaded, strict=True) if i is None]
    if reader is not None and gone:  # the hash left Redis, the id did not: the record has it
        found = await reader.get_many(gone)
        extra = await history.review_items(review, reader, list(found.values()))
        by_id = {i.id: i for i in [*items, *extra]}
        items = [by_id[m] for m, _ in page if m in by_id]
    more = len(pairs) > limit or (len(rows) == limit + 50)
    positions = [(int(s), m) for m, s in page]
    if reader is not None and not more:
        # Redis has nothing older: continue from the record, after the last position shown.
        last = positions[-1] if positions else ((int(after[0]), after[1]) if after else None)
        older = await reader.author_history(
            author_id, before=last, limit=limit - len(items) + 1, site=review.keys.site
        )
        more = len(older) > limit - len(items)
        older = older[: limit - len(items)]
        items += await history.review_items(review, reader, older)
        positions += [(s.record.created_at, s.record.id) for s in older]
    standing = (await load_standings(review.redis, review.keys, [author_id]))[author_id]
    name = items[0].stored.record.author.name if items else None
    if name is None:
        newest = await review.redis.zrange(key, 0, 0, desc=True)
        if newest:
            first = (await load_items(review.redis, review.keys, [as_str(newest[0])]))[0]
            name = first.stored.record.author.name if first else None
    next_cursor = (
        encode_queue_cursor("history", positions[-1][0], positions[-1][1])
        if more and positions
        else None
    )
    return AuthorPage(author_id, name, standing, items, next_cursor)


async def set_state(
    review: Review, author_id: str, body: AuthorStateIn, actor: Actor
) -> tuple[str, str, int]:
    """Set the author's state; returns ``(before, after, comments rejected)``."""
    if body.state not in STATES:
        raise ValidationFailed(f"state must be one of {', '.join(STATES)}", field="state")
    if body.reject_pending and body.state != AuthorState.BANNED.value:
        raise ValidationFailed("reject_pending applies only to a ban", field="reject_pending")
    note = (body.note or "").strip() or None
    key = review.keys.author(author_id)

    async def read(pipe: Pipeline) -> str:
        raw = await pipe.hget(key, "state")
        return as_str(raw) if raw is not None else AuthorState.NORMAL.value

    async def write(pipe: Pipeline, before: str) -> str:
        if body.state == AuthorState.NORMAL.value:
            pipe.hdel(key, "state")
        else:
            pipe.hset(key, "state", body.state)
        entry = audit.new_entry(
            actor,
            "author.state",
            "author",
            author_id,
            note=note,
            before={"state": before},
            after={"state": body.state},
        )
        await review.audit.append(entry, pipe)
        return before

    before = await watched(review.redis, [key], read, write)
    swept = 0
    if body.reject_pending:
        swept = await _reject_waiting(review, author_id, actor, note)
    return before, body.state, swept


async def _reject_waiting(review: Review, author_id: str, actor: Actor, note: str | None) -> int:
    """Reject the author's pending and held comments (after a ban)."""
    keys = review.keys
    history = keys.author_comments(author_id)
    waiting: list[tuple[str, Status]] = []
    for source, status in ((keys.held, Status.HELD), (keys.pending, Status.PENDING)):
        rows = await review.redis.zinter({source: 0, history: 0})
        waiting.extend((as_str(m), status) for m in rows[:MAX_SWEEP])
    if not waiting:
        return 0
    items = await load_items(review.redis, keys, [cid for cid, _ in waiting])
    grounds = await review.grounds()
    now = now_ms()
    calls = []
    for (_, status), item in zip(waiting, items, strict=True):
        if item is None:
            continue
        record = item.stored.record
        entry = audit.new_entry(
            actor,
            "comment.reject",
            "comment",
            record.id,
            reason="banned_author",
            note=note,
            detail={"article_id": record.article_id, "author_id": author_id, "sweep": True},
        )
        basis = item.evidence
        decision = Decision(
            status=Status.REJECTED,
            by=actor.label,
            decided_at=now,
            reasons=[Reason(code="banned_author", message=f"author {author_id!r} was banned")],
            scores=basis.scores if basis else {},
            spam=basis.spam if basis else None,
            model=basis.model if basis else None,
            note=note,
        )
        decision = with_statement(decision, grounds, detected=False)
        calls.append(
            review.store.transition_call(
                CommentRef.of(record),
                [status],
                decision,
                actor=actor.label,
                reason_code="moderator:banned_author",
                audit=audit.for_transition(keys, review.settings, entry),
            )
        )
    results = await review.store.transition_many(calls)
    return sum(1 for r in results if r.applied)
