"""Turning review items into what the templates show (computed once in Python, so a page of
500 comments renders fast): reasons as chips, scores with the labels that triggered, the text
split into escaped segments with matched words and links highlighted, a suggested reject
reason."""

from __future__ import annotations

from typing import Any

from moderation.messages import iso
from moderation.review.decisions import REJECT_REASONS
from moderation.review.highlight import segments
from moderation.review.items import ReviewItem

#: Reason codes the queue filter offers (labels are added from the policy's label list).
FILTER_REASONS = (
    ("toxicity", "Toxicity (any label)"),
    ("spam", "Spam score"),
    ("spam_blatant", "Blatant spam"),
    ("too_many_links", "Too many links"),
    ("suspect_words", "Suspect words"),
    ("banned_words", "Banned words"),
    ("premoderated_author", "Pre-moderated author"),
    ("premoderated_article", "Pre-moderated article"),
    ("dead_letter", "Scoring failed"),
)

_HARASSMENT_LABELS = {"threat", "insult", "identity_attack"}


def suggested_reason(item: ReviewItem) -> str:
    codes = item.reason_codes()
    if codes & {"spam", "spam_blatant", "too_many_links"}:
        return "spam"
    if any(c.split(":", 1)[-1] in _HARASSMENT_LABELS for c in codes if c.startswith("toxicity:")):
        return "harassment"
    if codes & {"toxicity", "banned_words", "suspect_words"}:
        return "toxic"
    return "other"


def present(item: ReviewItem) -> dict[str, Any]:
    record = item.stored.record
    evidence = item.evidence
    triggered = {
        r.label for r in (evidence.reasons if evidence else []) if r.code == "toxicity" and r.label
    }
    thresholds = evidence.thresholds if evidence else {}
    scores = [
        {
            "label": label,
            "score": value,
            "threshold": thresholds.get(label),
            "triggered": label in triggered,
        }
        for label, value in sorted(
            (evidence.scores if evidence else {}).items(), key=lambda kv: -kv[1]
        )
    ]
    reasons = [
        {
            "code": r.code,
            "label": r.label,
            "message": r.message,
            "kind": "bad" if r.code in ("banned_words", "spam_blatant") else "warn",
        }
        for r in (evidence.reasons if evidence else [])
    ]
    decision = item.stored.decision
    return {
        "id": record.id,
        "article_id": record.article_id,
        "author_id": record.author.id,
        "author_name": record.author.name,
        "standing": item.author,
        "created": iso(record.created_at),
        "status": item.stored.status.value,
        "risk": item.risk,
        "spam_score": evidence.spam.score if evidence and evidence.spam else None,
        "reasons": reasons,
        "scores": scores,
        "segments": segments(record.text, item.matched_words()),
        "suggested": suggested_reason(item),
        "decided_by": decision.by if decision else None,
        "decided_at": iso(decision.decided_at) if decision else None,
        "note": decision.note if decision else None,
        "parent_id": record.parent_id,
    }


REASON_CHOICES = list(REJECT_REASONS.items())
