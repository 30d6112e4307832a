"""Appeals (DSA Art. 20 internal complaints): an author contests a decision that hid their
comment, and a different moderator answers with reasons.

* :func:`file` — the site files an appeal for its author: the comment must be restricted
  (``held`` or ``rejected``) by a decision at most ``appeal_window_months`` calendar months old
  (counted from the decision, i.e. its statement of reasons); one open appeal per comment, and
  each decision is appealed once.
* :func:`decide` — ``uphold`` (the decision stands) or ``reverse`` (the comment is published
  again through ``transition.lua``, counts and lists moving in the same step, with an
  ``appeal.reverse`` audit entry). Whoever took the decision under appeal may not decide it
  (:class:`SameModerator`, 403); an automated decision may be decided by any moderator. Either
  outcome puts an ``appeal.decided`` event on the events stream (the site's webhook).

Both run under WATCH of the appeal, the comment's appeal index and the comment
(``moderation.review.txn``): the checks and the writes see the same state, so two moderators
deciding one appeal at once get one decision and one 409, and a reversal's transition commits
with the appeal's outcome or not at all.
"""

from __future__ import annotations

import calendar
from datetime import UTC, datetime
from typing import Any

import msgspec
from redis.asyncio.client import Pipeline

from moderation.errors import (
    AppealWindowClosed,
    Conflict,
    Forbidden,
    NotFound,
    SameModerator,
    ValidationFailed,
)
from moderation.ids import is_comment_id
from moderation.messages import Decision, Reason, Status, StoredComment, iso
from moderation.review.context import Review
from moderation.review.items import item_view, load_items
from moderation.review.txn import watched
from moderation.statements import AUTOMATIC, hides
from moderation.store import audit, decisions
from moderation.store.appeals import (
    OPEN,
    Appeal,
    AppealStatus,
    comment_appeals,
    decode_appeal,
    is_appeal_id,
    load_appeals,
    new_appeal_id,
    queue_decision,
    queue_filing,
    queue_ids,
)
from moderation.store.audit import Actor
from moderation.store.comment_reads import STORED_FIELDS, decode_stored
from moderation.store.comments import now_ms
from moderation.store.transitions import CommentRef

MAX_TEXT = 5_000
#: The reason code of a reversal (counted as ``reason:appeal``).
APPEAL = "appeal"
OUTCOMES = {"uphold": AppealStatus.UPHELD, "reverse": AppealStatus.REVERSED}


class AppealIn(msgspec.Struct, forbid_unknown_fields=True):
    """``POST /v1/comments/{id}/appeals``: the author's statement, filed by the site."""

    text: str
    #: The author as the site knows them; when given it must be the comment's author.
    author_id: str | None = None


class AppealDecisionIn(msgspec.Struct, forbid_unknown_fields=True):
    """``POST /v1/moderation/appeals/{id}/decision``."""

    outcome: str  # uphold | reverse
    #: The reasoned answer the author is given.
    answer: str


def window_end(decided_at: int, months: int) -> int:
    """The last moment (epoch ms) to appeal a decision taken at ``decided_at``: the same day
    and time ``months`` calendar months later (the month's last day when it is shorter)."""
    t = datetime.fromtimestamp(decided_at / 1000, UTC)
    index = t.month - 1 + months
    year, month = t.year + index // 12, index % 12 + 1
    day = min(t.day, calendar.monthrange(year, month)[1])
    return int(t.replace(year=year, month=month, day=day).timestamp() * 1000)


def decider(decision: Decision) -> str | None:
    """The name of the person who took ``decision``; ``None`` for an automated one."""
    kind, _, name = decision.by.partition(":")
    return None if kind in AUTOMATIC or not name else name


def _text(value: str, field: str) -> str:
    value = value.strip()
    if not value:
        raise ValidationFailed(f"{field} must not be empty", field=field)
    if len(value) > MAX_TEXT:
        raise ValidationFailed(f"{field} is longer than {MAX_TEXT} characters", field=field)
    return value


async def _read_comment(pipe: Pipeline, review: Review, comment_id: str) -> StoredComment | None:
    row: Any = await pipe.hmget(review.keys.comment(comment_id), list(STORED_FIELDS))
    # The decision's shared facts (immutable) through the plain client, not the WATCH pipe.
    await decisions.load_facts(review.redis, review.keys, [row[3]])
    return decode_stored(row, comment_id)


def _check_filing(
    review: Review,
    comment_id: str,
    body: AppealIn,
    stored: StoredComment | None,
    index: dict[str, str],
    now: int,
) -> Decision:
    """The decision to appeal, or the reason there is none to appeal (raised)."""
    if stored is None:
        raise NotFound(f"no comment with id {comment_id!r}", field="comment_id")
    d = stored.decision
    if d is None or not hides(stored.status) or d.status is not stored.status:
        raise Conflict(
            f"comment {comment_id} is {stored.status.value}: no restriction to appeal",
            extra={"status": stored.status.value},
        )
    if body.author_id is not None and body.author_id != stored.record.author.id:
        raise Forbidden("author_id is not the comment's author: only its author may appeal")
    if OPEN in index:
        raise Conflict(
            f"comment {comment_id} already has an open appeal", extra={"appeal": index[OPEN]}
        )
    if str(d.decided_at) in index:
        raise Conflict(
            f"this decision on comment {comment_id} was appealed already",
            extra={"appeal": index[str(d.decided_at)]},
        )
    end = window_end(d.decided_at, review.settings.appeal_window_months)
    if now > end:
        raise AppealWindowClosed(
            f"the decision was taken on {iso(d.decided_at)}: the time to appeal it "
            f"({review.settings.appeal_window_months} months) ended on {iso(end)}",
            extra={"open_until": iso(end)},
        )
    return d


async def file(
    review: Review, comment_id: str, body: AppealIn, site: str, owner: str | None = None
) -> Appeal:
    """File an appeal on a comment of site ``owner`` (``None``: any; another site's comment
    is 404, as a missing one); 404 (no comment), 409 (nothing to appeal, one already open,
    this decision appealed already, or the window closed: ``appeal_window_closed``), 403 (not
    the author), 422 (empty or overlong text)."""
    text = _text(body.text, "text")
    if body.author_id is not None and not 0 < len(body.author_id) <= review.settings.max_id_chars:
        raise ValidationFailed("author_id must be a non-empty id", field="author_id")
    if not is_comment_id(comment_id):
        raise NotFound(f"no comment with id {comment_id!r}", field="comment_id")
    keys = review.keys

    async def read(pipe: Pipeline) -> tuple[StoredComment | None, dict[str, str]]:
        return await _read_comment(pipe, review, comment_id), await comment_appeals(
            pipe, keys, comment_id
        )

    async def write(pipe: Pipeline, state: tuple[StoredComment | None, dict[str, str]]) -> Appeal:
        stored, index = state
        if stored is not None and owner is not None and stored.record.site != owner:
            stored = None  # another site's comment: as if there were none
        now = now_ms()
        decision = _check_filing(review, comment_id, body, stored, index, now)
        assert stored is not None
        appeal = Appeal(
            id=new_appeal_id(now),
            comment_id=comment_id,
            article_id=stored.record.article_id,
            author_id=stored.record.author.id,
            site=site,
            text=text,
            filed_at=now,
            decision=decision,
        )
        queue_filing(pipe, keys, appeal, stored.record.site)
        return appeal

    return await watched(
        review.redis, [keys.comment(comment_id), keys.comment_appeals(comment_id)], read, write
    )


def _check_decision(
    appeal: Appeal | None, appeal_id: str, stored: StoredComment | None, actor: Actor
) -> tuple[Appeal, StoredComment]:
    if appeal is None:
        raise NotFound(f"no appeal with id {appeal_id!r}", field="appeal_id")
    if appeal.status is not AppealStatus.OPEN:
        raise Conflict(
            f"appeal {appeal_id} was decided already ({appeal.status.value} by "
            f"{appeal.decided_by})",
            extra={"appeal": appeal_view(appeal)},
        )
    if decider(appeal.decision) == actor.name:
        raise SameModerator(
            "you took the decision under appeal: a different moderator must decide the appeal"
        )
    current = stored.decision if stored is not None else None
    if (
        stored is None
        or current is None
        or current.decided_at != appeal.decision.decided_at
        or not hides(stored.status)
    ):
        status = stored.status.value if stored is not None else "gone"
        raise Conflict(
            f"the decision under appeal is no longer in force (the comment is {status}); "
            "nothing to uphold or reverse",
            extra={"status": status},
        )
    return appeal, stored


def _reversal(
    review: Review, appeal: Appeal, stored: StoredComment, actor: Actor, answer: str, now: int
) -> tuple[list[str], list[Any]]:
    """The ``transition.lua`` call that publishes the comment again, with its audit entry."""
    record = stored.record
    basis = stored.decision
    assert basis is not None
    decision = Decision(
        status=Status.APPROVED,
        by=actor.label,
        decided_at=now,
        reasons=[Reason(code=APPEAL, message=f"published again on appeal: {answer}")],
        scores=basis.scores,
        spam=basis.spam,
        thresholds=basis.thresholds,
        spam_threshold=basis.spam_threshold,
        model=basis.model,
        note=answer,
    )
    entry = audit.new_entry(
        actor,
        "appeal.reverse",
        "comment",
        record.id,
        note=answer,
        detail={
            "appeal_id": appeal.id,
            "article_id": record.article_id,
            "author_id": record.author.id,
            "decided_by": basis.by,
        },
    )
    return review.store.transition_call(
        CommentRef.of(record),
        [stored.status],
        decision,
        actor=actor.label,
        reason_code=APPEAL,
        audit=audit.for_transition(review.keys, review.settings, entry),
    )


async def decide(
    review: Review, appeal_id: str, body: AppealDecisionIn, actor: Actor
) -> dict[str, Any]:
    """Uphold or reverse an open appeal (see the module docstring); 404, 409 (decided already,
    or the decision under appeal is no longer in force), 403 (the same moderator), 422."""
    outcome = OUTCOMES.get(body.outcome)
    if outcome is None:
        raise ValidationFailed("outcome must be 'uphold' or 'reverse'", field="outcome")
    answer = _text(body.answer, "answer")
    if not is_appeal_id(appeal_id):
        raise NotFound(f"no appeal with id {appeal_id!r}", field="appeal_id")
    keys = review.keys
    raw = await review.redis.get(keys.appeal(appeal_id))
    if raw is None:
        raise NotFound(f"no appeal with id {appeal_id!r}", field="appeal_id")
    comment_id = decode_appeal(raw).comment_id

    async def read(pipe: Pipeline) -> tuple[Appeal | None, StoredComment | None]:
        raw: Any = await pipe.get(keys.appeal(appeal_id))
        appeal = decode_appeal(raw) if raw is not None else None
        return appeal, await _read_comment(pipe, review, comment_id)

    async def write(pipe: Pipeline, state: tuple[Appeal | None, StoredComment | None]) -> Appeal:
        appeal, stored = _check_decision(state[0], appeal_id, state[1], actor)
        now = now_ms()
        decided = msgspec.structs.replace(
            appeal, status=outcome, decided_by=actor.label, decided_at=now, answer=answer
        )
        if outcome is AppealStatus.REVERSED:
            await review.store.queue_transition(
                pipe, _reversal(review, appeal, stored, actor, answer, now)
            )
            queue_decision(pipe, keys, decided, Status.APPROVED.value, stored.record.site)
        else:
            entry = audit.new_entry(
                actor,
                "appeal.uphold",
                "comment",
                comment_id,
                note=answer,
                detail={
                    "appeal_id": appeal.id,
                    "article_id": appeal.article_id,
                    "author_id": appeal.author_id,
                    "decided_by": appeal.decision.by,
                },
            )
            await review.audit.append(entry, pipe)
            queue_decision(pipe, keys, decided, stored.status.value, stored.record.site)
        return decided

    decided = await watched(
        review.redis,
        [keys.appeal(appeal_id), keys.comment(comment_id), keys.comment_appeals(comment_id)],
        read,
        write,
    )
    (item,) = await load_items(review.redis, keys, [comment_id])
    return {"appeal": appeal_view(decided), "comment": item_view(item) if item else None}


def appeal_view(appeal: Appeal) -> dict[str, Any]:
    """An appeal as the API answers it (times in ISO 8601)."""
    d = appeal.decision
    return {
        "id": appeal.id,
        "comment_id": appeal.comment_id,
        "article_id": appeal.article_id,
        "author_id": appeal.author_id,
        "site": appeal.site,
        "text": appeal.text,
        "filed_at": iso(appeal.filed_at),
        "status": appeal.status.value,
        "decision": {
            "status": d.status.value,
            "by": d.by,
            "automated": decider(d) is None,
            "decided_at": iso(d.decided_at),
            "note": d.note,
            "statement": msgspec.to_builtins(d.statement) if d.statement else None,
        },
        "decided_by": appeal.decided_by,
        "decided_at": iso(appeal.decided_at),
        "answer": appeal.answer,
    }


async def get(review: Review, appeal_id: str) -> dict[str, Any]:
    """One appeal with its comment as it is now."""
    appeal = None
    if is_appeal_id(appeal_id):
        (appeal,) = await load_appeals(review.redis, review.keys, [appeal_id])
    if appeal is None:
        raise NotFound(f"no appeal with id {appeal_id!r}", field="appeal_id")
    (item,) = await load_items(review.redis, review.keys, [appeal.comment_id])
    return {**appeal_view(appeal), "comment": item_view(item) if item else None}


async def page(
    review: Review, *, decided: bool, offset: int, limit: int
) -> tuple[list[dict[str, Any]], int]:
    """The Appeals queue (open, oldest first) or the decided appeals (newest first), each with
    its comment as it is now; and the total."""
    ids, total = await queue_ids(
        review.redis, review.keys, decided=decided, offset=offset, limit=limit
    )
    appeals = [a for a in await load_appeals(review.redis, review.keys, ids) if a is not None]
    items = await load_items(review.redis, review.keys, [a.comment_id for a in appeals])
    out = [
        {**appeal_view(a), "comment": item_view(item) if item else None}
        for a, item in zip(appeals, items, strict=True)
    ]
    return out, total


async def appeal_info(review: Review, stored: StoredComment) -> dict[str, Any]:
    """For the statement of reasons: until when the decision in force may be appealed, whether
    it may be now, and its appeal if one was filed."""
    d = stored.decision
    assert d is not None
    end = window_end(d.decided_at, review.settings.appeal_window_months)
    index = await comment_appeals(review.redis, review.keys, stored.record.id)
    filed = index.get(str(d.decided_at))
    return {
        "open_until": iso(end),
        "appealable": filed is None and OPEN not in index and now_ms() <= end,
        "appeal_id": filed,
        "how": f"POST /v1/comments/{stored.record.id}/appeals with the author's text",
    }
