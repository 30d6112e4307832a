"""Moderator decisions: approve or reject one comment or many, each one atomic transition.

A decision names the status the moderator saw (``expected_status``, ``held`` unless said
otherwise) and applies only if the comment is still in it: of two moderators deciding the same
comment at once, exactly one wins and the other gets :class:`DecisionConflict` with the current
state. Removing a published comment is a reject that expects ``approved``; the article's count
drops in the same step (it is the approved set's cardinality).

Every applied decision writes its audit entry in the same script (``transition.lua``) and then
feeds the spam learner: reject as spam → "spam"; approve a held comment → "ham".

Undo (:func:`undo_many`) is the reverse transition — approved or rejected back to held —
allowed only to the person who decided, within ``Settings.undo_window_s`` of the decision, and
only for a comment that came from the held queue; it is audited (``comment.undo``) like any
decision. The spam learner keeps what the undone decision taught it (one example among many).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from moderation.errors import DecisionConflict, NotFound, ValidationFailed
from moderation.ids import is_comment_id
from moderation.messages import Decision, Ground, Reason, Source, Status, iso
from moderation.review.context import Review
from moderation.review.items import ReviewItem, load_items
from moderation.spam.feedback import Label, record_feedback
from moderation.statements import with_statement
from moderation.store import audit
from moderation.store.audit import Actor
from moderation.store.comments import now_ms
from moderation.store.transitions import CommentRef

log = logging.getLogger("moderation.review")

#: Reject reason codes and how the UI names them.
REJECT_REASONS: dict[str, str] = {
    "spam": "Spam",
    "toxic": "Toxic",
    "harassment": "Harassment",
    "off-topic": "Off-topic",
    "personal_information": "Personal information",
    "other": "Other",
}
ACTIONS = {"approve": Status.APPROVED, "reject": Status.REJECTED}
MAX_NOTE_CHARS = 1_000


class DecisionIn(msgspec.Struct, forbid_unknown_fields=True):
    action: str
    reason: str | None = None
    note: str | None = None
    #: The status the moderator saw; the decision applies only if it still holds.
    expected_status: str = "held"
    #: The ground of a rejection (an id of ``GET /v1/moderation/grounds``); default: the
    #: first ground covering the reason.
    ground: str | None = None


class UndoIn(msgspec.Struct, forbid_unknown_fields=True):
    ids: list[str]
    note: str | None = None


class BulkDecisionIn(msgspec.Struct, forbid_unknown_fields=True):
    ids: list[str]
    action: str
    reason: str | None = None
    note: str | None = None
    expected_status: str = "held"
    ground: str | None = None


@dataclass(frozen=True, slots=True)
class Ask:
    """A validated decision request."""

    target: Status
    expected: Status
    reason: str | None
    note: str | None
    #: The ground a rejection names (checked against the list when applied).
    ground: str | None = None
    #: What brought the comment here (a reader's report, or own initiative).
    source: Source = Source.OWN_INITIATIVE

    @property
    def action(self) -> str:
        return "approve" if self.target is Status.APPROVED else "reject"


def validate(
    action: str, reason: str | None, note: str | None, expected: str, ground: str | None = None
) -> Ask:
    if action not in ACTIONS:
        raise ValidationFailed("action must be 'approve' or 'reject'", field="action")
    target = ACTIONS[action]
    if target is Status.REJECTED:
        if reason is None:
            raise ValidationFailed(
                f"a rejection needs a reason: one of {', '.join(REJECT_REASONS)}", field="reason"
            )
        if reason not in REJECT_REASONS:
            raise ValidationFailed(
                f"reason must be one of {', '.join(REJECT_REASONS)}", field="reason"
            )
    elif reason is not None:
        raise ValidationFailed("only a rejection takes a reason", field="reason")
    if note is not None:
        note = note.strip() or None
        if note is not None and len(note) > MAX_NOTE_CHARS:
            raise ValidationFailed(f"note is longer than {MAX_NOTE_CHARS} characters", field="note")
    try:
        seen = Status(expected)
    except ValueError:
        raise ValidationFailed(
            "expected_status must be pending, held, approved or rejected",
            field="expected_status",
        ) from None
    if seen is target:
        raise ValidationFailed(
            f"the comment is expected to be {seen.value} already; nothing to {action}",
            field="expected_status",
        )
    if ground is not None and target is not Status.REJECTED:
        raise ValidationFailed("only a rejection names a ground", field="ground")
    return Ask(target, seen, reason, note, ground)


def check_ground(ask: Ask, grounds: Mapping[str, Ground]) -> None:
    if ask.ground is not None and ask.ground not in grounds:
        raise ValidationFailed(f"ground must be one of {', '.join(grounds)}", field="ground")


def _decision(
    item: ReviewItem, ask: Ask, actor: Actor, now: int, grounds: Mapping[str, Ground]
) -> Decision:
    """The moderator's decision, carrying the evidence it was made on (scores, model) and,
    when it hides the comment, its statement of reasons."""
    basis = item.evidence
    reasons = (
        [Reason(code=ask.reason, message=f"rejected: {REJECT_REASONS[ask.reason]}")]
        if ask.reason
        else []
    )
    before = item.stored.decision
    flagged = (
        before is not None
        and before.status is Status.HELD
        and before.by.split(":", 1)[0] in ("auto", "system")
    )
    decision = Decision(
        status=ask.target,
        by=actor.label,
        decided_at=now,
        reasons=reasons,
        scores=basis.scores if basis else {},
        spam=basis.spam if basis else None,
        thresholds=basis.thresholds if basis else {},
        spam_threshold=basis.spam_threshold if basis else None,
        model=basis.model if basis else None,
        note=ask.note,
    )
    return with_statement(
        decision,
        grounds,
        source=ask.source,
        detected=flagged,
        ground=ask.ground,
        codes=[f"moderator:{ask.reason}"] if ask.reason else [],
    )


def _call(
    review: Review,
    item: ReviewItem,
    ask: Ask,
    actor: Actor,
    now: int,
    bulk: int,
    grounds: Mapping[str, Ground],
) -> Any:
    record = item.stored.record
    entry = audit.new_entry(
        actor,
        f"comment.{ask.action}",
        "comment",
        record.id,
        reason=ask.reason,
        note=ask.note,
        detail={"article_id": record.article_id, "author_id": record.author.id}
        | ({"bulk": bulk} if bulk > 1 else {}),
    )
    return review.store.transition_call(
        CommentRef.of(record),
        [ask.expected],
        _decision(item, ask, actor, now, grounds),
        actor=actor.label,
        reason_code=f"moderator:{ask.reason}" if ask.reason else "",
        audit=audit.for_transition(review.keys, review.settings, entry),
    )


async def _feedback(review: Review, item: ReviewItem, ask: Ask, previous: Status | None) -> None:
    label: Label | None = None
    if ask.target is Status.REJECTED and ask.reason == "spam":
        label = "spam"
    elif ask.target is Status.APPROVED and previous is Status.HELD:
        label = "ham"
    if label is None:
        return
    try:
        await record_feedback(
            review.redis, review.keys, item.stored.record, label, settings=review.settings
        )
    except Exception:  # the decision stands even if the learner is unavailable
        log.exception("spam feedback for %s failed", item.id)


def conflict(item: ReviewItem | None, comment_id: str, expected: Status) -> DecisionConflict:
    current: dict[str, Any] = {"id": comment_id}
    if item is not None:
        d = item.stored.decision
        current.update(
            status=item.stored.status.value,
            decided_by=d.by if d else None,
            decided_at=iso(d.decided_at) if d else None,
        )
    status = current.get("status", "gone")
    return DecisionConflict(
        f"comment {comment_id} is {status}, not {expected.value}: "
        f"someone else decided it first ({current.get('decided_by') or 'unknown'})",
        extra={"current": current},
    )


async def decide(
    review: Review, comment_id: str, ask: Ask, actor: Actor
) -> tuple[ReviewItem, Status]:
    """Apply one decision; returns the comment as it is afterwards and its previous status."""
    item = None
    if is_comment_id(comment_id):
        item = (await load_items(review.redis, review.keys, [comment_id]))[0]
    if item is None:
        raise NotFound(f"no comment with id {comment_id!r}", field="comment_id")
    grounds = await review.grounds()
    check_ground(ask, grounds)
    keys, args = _call(review, item, ask, actor, now_ms(), 1, grounds)
    (result,) = await review.store.transition_many([(keys, args)])
    after = (await load_items(review.redis, review.keys, [comment_id]))[0]
    if result.previous is None:
        raise NotFound(f"no comment with id {comment_id!r}", field="comment_id")
    if not result.applied:
        raise conflict(after, comment_id, ask.expected)
    await _feedback(review, item, ask, result.previous)
    assert after is not None
    return after, result.previous


@dataclass(frozen=True, slots=True)
class BulkOutcome:
    id: str
    outcome: str  # applied | conflict | not_found | refused (undo)
    status: str | None
    previous: str | None = None
    decided_by: str | None = None


async def decide_many(
    review: Review, ids: Sequence[str], ask: Ask, actor: Actor
) -> list[BulkOutcome]:
    """Apply one decision to many comments in one round trip (each transition atomic)."""
    unique = _check_ids(review, ids)
    items = await load_items(review.redis, review.keys, unique)
    grounds = await review.grounds()
    check_ground(ask, grounds)
    now = now_ms()
    present = [item for item in items if item is not None]
    calls = [_call(review, item, ask, actor, now, len(unique), grounds) for item in present]
    results = dict(
        zip(
            (i.id for i in present),
            await review.store.transition_many(calls) if calls else [],
            strict=True,
        )
    )
    lost = [cid for cid, r in results.items() if not r.applied]
    current = {
        cid: it
        for cid, it in zip(lost, await load_items(review.redis, review.keys, lost), strict=True)
    }
    out: list[BulkOutcome] = []
    for cid, item in zip(unique, items, strict=True):
        result = results.get(cid)
        if item is None or result is None or result.previous is None:
            out.append(BulkOutcome(cid, "not_found", None))
        elif result.applied:
            await _feedback(review, item, ask, result.previous)
            out.append(
                BulkOutcome(cid, "applied", ask.target.value, result.previous.value, actor.label)
            )
        else:
            now_item = current.get(cid)
            d = now_item.stored.decision if now_item else None
            out.append(
                BulkOutcome(
                    cid,
                    "conflict",
                    now_item.stored.status.value if now_item else None,
                    None,
                    d.by if d else None,
                )
            )
    return out


def _check_ids(review: Review, ids: Sequence[str]) -> list[str]:
    if not ids:
        raise ValidationFailed("ids must name at least one comment", field="ids")
    if len(ids) > review.settings.max_bulk:
        raise ValidationFailed(
            f"at most {review.settings.max_bulk} comments per bulk decision", field="ids"
        )
    unique = list(dict.fromkeys(ids))
    for i, cid in enumerate(unique):
        if not is_comment_id(cid):
            raise ValidationFailed(f"ids[{i}] is not a comment id", field=f"ids[{i}]")
    return unique


def undoable(item: ReviewItem, actor: Actor, now: int, window_ms: int) -> str | None:
    """Why ``actor`` may not undo the decision on ``item`` now (None: they may)."""
    decision = item.stored.decision
    if item.stored.status not in (Status.APPROVED, Status.REJECTED) or decision is None:
        return "not decided"
    if decision.by != actor.label:
        return "decided by someone else"
    if now - decision.decided_at > window_ms:
        return "too late"
    if item.auto is None or item.auto.status is not Status.HELD:
        return "not from the held queue"
    return None


def _undo_call(review: Review, item: ReviewItem, actor: Actor, note: str | None, now: int) -> Any:
    """The transition back to held, carrying the automatic decision's reasons again."""
    record = item.stored.record
    auto = item.auto
    assert auto is not None and item.stored.decision is not None
    undone = "approve" if item.stored.status is Status.APPROVED else "reject"
    first = auto.reasons[0] if auto.reasons else None
    reason_code = (f"{first.code}:{first.label}" if first.label else first.code) if first else ""
    risk = max([auto.spam.score if auto.spam else 0.0, *auto.scores.values()], default=0.0)
    entry = audit.new_entry(
        actor,
        "comment.undo",
        "comment",
        record.id,
        note=note,
        detail={"article_id": record.article_id, "author_id": record.author.id, "undoes": undone},
    )
    decision = msgspec.structs.replace(auto, by=actor.label, decided_at=now, note=note)
    return review.store.transition_call(
        CommentRef.of(record),
        [item.stored.status],
        decision,
        actor=actor.label,
        risk=risk,
        reason_code=reason_code,
        audit=audit.for_transition(review.keys, review.settings, entry),
    )


async def undo_many(
    review: Review, ids: Sequence[str], actor: Actor, note: str | None = None
) -> list[BulkOutcome]:
    """Put comments ``actor`` decided in the last ``undo_window_s`` back in the held queue.

    Outcomes: ``applied``; ``refused`` (someone else's decision, too late, or a comment that
    never was held: ``status`` says where it is); ``conflict`` (it changed meanwhile);
    ``not_found``.
    """
    unique = _check_ids(review, ids)
    if note is not None:
        note = note.strip()[:MAX_NOTE_CHARS] or None
    items = await load_items(review.redis, review.keys, unique)
    now = now_ms()
    window_ms = int(review.settings.undo_window_s * 1000)
    out: dict[str, BulkOutcome] = {}
    todo: list[ReviewItem] = []
    for cid, item in zip(unique, items, strict=True):
        if item is None:
            out[cid] = BulkOutcome(cid, "not_found", None)
        elif undoable(item, actor, now, window_ms) is not None:
            out[cid] = BulkOutcome(cid, "refused", item.stored.status.value)
        else:
            todo.append(item)
    calls = [_undo_call(review, item, actor, note, now) for item in todo]
    results = await review.store.transition_many(calls) if calls else []
    for item, result in zip(todo, results, strict=True):
        if result.applied:
            out[item.id] = BulkOutcome(
                item.id, "applied", Status.HELD.value, item.stored.status.value, actor.label
            )
        else:
            out[item.id] = BulkOutcome(item.id, "conflict", None)
    return [out[cid] for cid in unique]
