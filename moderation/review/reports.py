"""Reader reports (DSA Art. 16): filing, hiding at a threshold, the Reported queue, outcomes.

* :func:`file` accepts a report on a published comment (or one already hidden by reports),
  once per reporter and comment, within the reporter's rate limit, and answers a receipt id.
  When the comment's open reports reach ``report_hide_threshold`` (or one is ``illegal``) it is
  hidden pending review: the normal transition ``approved`` -> ``held`` with reason
  ``reported`` (counts move in the same step), with its statement of reasons.
* :func:`decide` is a moderator's answer to the reports: ``keep`` (reports dismissed, the
  comment restored if the reports hid it) or ``remove`` (rejected, with its statement). Then
  every reporter's ``report.decided`` event goes out (``moderation.store.reports``).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

import msgspec

from moderation.errors import Conflict, NotFound, RateLimited, ValidationFailed
from moderation.ids import is_comment_id, new_id
from moderation.messages import Decision, Reason, Source, Status
from moderation.review import decisions
from moderation.review.context import Review
from moderation.review.items import ReviewItem, item_view, load_items
from moderation.statements import with_statement
from moderation.store.audit import Actor
from moderation.store.comments import now_ms
from moderation.store.reports import (
    Filed,
    Notice,
    Report,
    ReportReason,
    close_reports,
    file_report,
    open_reports,
    reported_ids,
    reporter_hash,
)
from moderation.store.transitions import CommentRef

#: The actor of the automatic hide (its own kind in the counters).
REPORTS_ACTOR = "reports"
REPORTED = "reported"
MAX_TEXT = 2_000
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s]{1,63}$")


class ReportIn(msgspec.Struct, forbid_unknown_fields=True):
    """``POST /v1/comments/{id}/reports``. ``illegal`` needs the Art. 16(2) fields."""

    reason: str
    #: The site's id of a signed-in reader; else the request's address stands for the reporter.
    reader_id: str | None = None
    #: Why the reporter considers the comment illegal (``illegal`` only).
    explanation: str | None = None
    #: The comment's URL on the site.
    url: str | None = None
    name: str | None = None
    email: str | None = None
    #: "I believe in good faith that the information in this notice is accurate and complete."
    good_faith: bool = False


class ReportDecisionIn(msgspec.Struct, forbid_unknown_fields=True):
    """``POST /v1/moderation/reported/{id}/decision``."""

    action: str  # keep | remove
    reason: str | None = None
    note: str | None = None
    ground: str | None = None


def _text(value: str | None, field: str) -> str:
    value = (value or "").strip()
    if not value:
        raise ValidationFailed(f"an illegal-content report needs {field}", field=field)
    if len(value) > MAX_TEXT:
        raise ValidationFailed(f"{field} is longer than {MAX_TEXT} characters", field=field)
    return value


def check(body: ReportIn) -> tuple[ReportReason, Notice | None]:
    try:
        reason = ReportReason(body.reason)
    except ValueError:
        raise ValidationFailed(
            f"reason must be one of {', '.join(r.value for r in ReportReason)}", field="reason"
        ) from None
    if reason is not ReportReason.ILLEGAL:
        return reason, None
    url = _text(body.url, "url")
    if not url.startswith(("https://", "http://")):
        raise ValidationFailed("url must be the comment's http(s) URL", field="url")
    email = _text(body.email, "email")
    if not _EMAIL.match(email):
        raise ValidationFailed("email is not an e-mail address", field="email")
    if not body.good_faith:
        raise ValidationFailed(
            "an illegal-content report needs the good-faith statement (good_faith: true)",
            field="good_faith",
        )
    notice = Notice(
        _text(body.explanation, "explanation"), url, _text(body.name, "name"), email, True
    )
    return reason, notice


@dataclass(frozen=True, slots=True)
class Receipt:
    receipt: str
    hidden: bool


def _hidden_by_reports(item: ReviewItem) -> bool:
    d = item.stored.decision
    return item.stored.status is Status.HELD and d is not None and d.by == REPORTS_ACTOR


def _risk(item: ReviewItem) -> float:
    d = item.evidence
    if d is None:
        return 0.0
    return max([*(d.scores or {}).values(), d.spam.score if d.spam else 0.0], default=0.0)


async def file(
    review: Review, comment_id: str, body: ReportIn, address: str, site: str | None = None
) -> Receipt:
    """File one report on a comment of ``site`` (``None``: any); raises 404 (no comment, or
    another site's), 409 (not published, or a duplicate: the first receipt in ``extra``), 429
    (rate limit) or 422 (a bad field)."""
    reason, notice = check(body)
    if body.reader_id is not None and not 0 < len(body.reader_id) <= review.settings.max_id_chars:
        raise ValidationFailed("reader_id must be a non-empty id", field="reader_id")
    item = (
        (await load_items(review.redis, review.keys, [comment_id]))[0]
        if is_comment_id(comment_id)
        else None
    )
    if item is None or (site is not None and item.stored.record.site != site):
        raise NotFound(f"no comment with id {comment_id!r}", field="comment_id")
    if item.stored.status is not Status.APPROVED and not _hidden_by_reports(item):
        raise Conflict(f"comment {comment_id} is not published: nothing to report")
    identity = f"reader:{body.reader_id}" if body.reader_id else f"address:{address}"
    now = now_ms()
    report = Report(
        receipt=f"rpt_{new_id(now)}",
        comment_id=comment_id,
        reason=reason,
        at=now,
        reporter=await reporter_hash(review.redis, review.keys, identity),
        notice=notice,
    )
    s = review.settings
    filed: Filed = await file_report(
        review.redis,
        review.keys,
        report,
        article_id=item.stored.record.article_id,
        site=item.stored.record.site,
        risk=_risk(item),
        rate_max=s.report_rate_max,
        window_s=s.report_rate_window_s,
    )
    if filed.outcome == "duplicate":
        assert filed.earlier is not None
        raise Conflict(
            f"you already reported comment {comment_id}",
            extra={"receipt": filed.earlier.receipt},
        )
    if filed.outcome == "rate":
        raise RateLimited(
            f"too many reports; try again in {filed.retry_after_s} s",
            headers={"Retry-After": str(filed.retry_after_s)},
        )
    hidden = False
    if item.stored.status is Status.APPROVED and (
        filed.open >= s.report_hide_threshold or reason is ReportReason.ILLEGAL
    ):
        hidden = await _hide(review, item, now)
    return Receipt(report.receipt, hidden)


async def _hide(review: Review, item: ReviewItem, now: int) -> bool:
    """approved -> held (reason ``reported``), with the statement; False if it moved meanwhile."""
    (reports,) = await open_reports(review.redis, review.keys, [item.id])
    tally = Counter(r.reason.value for r in reports)
    illegal = tally.get(ReportReason.ILLEGAL.value, 0) > 0
    words = ", ".join(f"{reason} × {n}" for reason, n in sorted(tally.items()))
    basis = item.evidence
    decision = Decision(
        status=Status.HELD,
        by=REPORTS_ACTOR,
        decided_at=now,
        reasons=[
            Reason(
                code=REPORTED,
                message=f"reported by {len(reports)} reader(s) ({words}); hidden pending review",
            )
        ],
        scores=basis.scores if basis else {},
        spam=basis.spam if basis else None,
        model=basis.model if basis else None,
    )
    decision = with_statement(
        decision,
        await review.grounds(),
        source=Source.NOTICE_ILLEGAL if illegal else Source.NOTICE,
        detected=False,
        codes=[REPORTED],
    )
    result = await review.store.transition(
        CommentRef.of(item.stored.record),
        [Status.APPROVED],
        decision,
        actor=REPORTS_ACTOR,
        risk=min(1.0, 0.5 + 0.1 * len(reports)) if not illegal else 1.0,
        reason_code=REPORTED,
    )
    return result.applied


def _summary(reports: list[Report]) -> dict[str, Any]:
    return {
        "count": len(reports),
        "by_reason": dict(Counter(r.reason.value for r in reports)),
        "first_at": reports[0].at if reports else None,
        "last_at": reports[-1].at if reports else None,
        "reports": [
            {"receipt": r.receipt, "reason": r.reason.value, "at": r.at}
            | ({"notice": msgspec.to_builtins(r.notice)} if r.notice else {})
            for r in reports
        ],
    }


async def reported_page(review: Review, offset: int, limit: int) -> list[dict[str, Any]]:
    """The Reported queue: comments with open reports grouped, most reported then riskiest."""
    ids = await reported_ids(review.redis, review.keys, offset, limit)
    items = await load_items(review.redis, review.keys, ids)
    groups = await open_reports(review.redis, review.keys, ids)
    out = []
    for item, reports in zip(items, groups, strict=True):
        if item is None or not reports:
            continue
        view = item_view(item)
        view["reports"] = _summary(reports)
        view["hidden_by_reports"] = _hidden_by_reports(item)
        out.append(view)
    return out


async def decide(
    review: Review, comment_id: str, body: ReportDecisionIn, actor: Actor
) -> dict[str, Any]:
    """Keep or remove a reported comment, then tell every reporter (``report.decided``)."""
    if body.action not in ("keep", "remove"):
        raise ValidationFailed("action must be 'keep' or 'remove'", field="action")
    item = (
        (await load_items(review.redis, review.keys, [comment_id]))[0]
        if is_comment_id(comment_id)
        else None
    )
    if item is None:
        raise NotFound(f"no comment with id {comment_id!r}", field="comment_id")
    (reports,) = await open_reports(review.redis, review.keys, [comment_id])
    if not reports:
        raise Conflict(f"comment {comment_id} has no open reports")
    illegal = any(r.reason is ReportReason.ILLEGAL for r in reports)
    status = item.stored.status
    if body.action == "keep":
        if body.reason is not None or body.ground is not None:
            raise ValidationFailed("keeping takes no reason or ground", field="reason")
        if _hidden_by_reports(item):
            ask = decisions.validate("approve", None, body.note, status.value)
            item, _ = await decisions.decide(review, comment_id, ask, actor)
    elif status is not Status.REJECTED:
        ask = decisions.validate(
            "reject", body.reason or "other", body.note, status.value, body.ground
        )
        ask = decisions.Ask(
            ask.target,
            ask.expected,
            ask.reason,
            ask.note,
            ask.ground,
            Source.NOTICE_ILLEGAL if illegal else Source.NOTICE,
        )
        item, _ = await decisions.decide(review, comment_id, ask, actor)
    closed = await close_reports(
        review.redis,
        review.keys,
        comment_id,
        item.stored.record.article_id,
        item.stored.record.site,
        outcome="kept" if body.action == "keep" else "removed",
        automated=False,
        by=actor.label,
        now=now_ms(),
    )
    return {
        "outcome": "kept" if body.action == "keep" else "removed",
        "receipts": [r.receipt for r in closed],
        "comment": item_view(item),
    }
