"""Turning review items into what the templates show (computed once in Python, so a page of
500 comments renders fast): reasons as chips, scores with the labels that triggered, the text
split into escaped segments with matched words and links highlighted, a suggested reject
reason."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from markupsafe import Markup

from moderation.messages import iso
from moderation.review.decisions import REJECT_REASONS
from moderation.review.items import ReviewItem, Standing
from moderation.ui.explain import top_reasons
from moderation.ui.highlight import segments, to_html

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


@dataclass(frozen=True, slots=True)
class ScoreView:
    label: str
    score: float
    threshold: float | None
    triggered: bool


@dataclass(frozen=True, slots=True)
class ReasonView:
    code: str
    label: str | None
    message: str
    kind: str  # "warn" | "bad"


@dataclass(frozen=True, slots=True)
class ItemView:
    """A comment as the templates show it (attributes, not dict keys: Jinja reads attributes
    directly, which matters at 500 items a page)."""

    id: str
    article_id: str
    author_id: str
    author_name: str
    standing: Standing
    created: str | None
    status: str
    risk: float | None
    spam_score: float | None
    reasons: list[ReasonView]
    scores: list[ScoreView]
    text_html: Markup
    suggested: str
    reason_options: Markup
    decided_by: str | None
    decided_at: str | None
    note: str | None
    parent_id: str | None
    #: The spam findings that pushed the score up most, in words (shown when spam held it).
    spam_why: list[str]
    #: The article's title and page, when the site sent them.
    article_title: str | None = None
    article_url: str | None = None
    #: The comment's site (its author and article pages are that site's).
    site: str = ""


def present(item: ReviewItem) -> ItemView:
    record = item.stored.record
    evidence = item.evidence
    reasons = evidence.reasons if evidence else []
    triggered = {r.label for r in reasons if r.code == "toxicity" and r.label}
    thresholds = evidence.thresholds if evidence else {}
    scores = [
        ScoreView(label, value, thresholds.get(label), label in triggered)
        for label, value in sorted(
            (evidence.scores if evidence else {}).items(), key=lambda kv: -kv[1]
        )
    ]
    decision = item.stored.decision
    suggested = suggested_reason(item)
    signals = evidence.spam.signals if evidence and evidence.spam else {}
    spam_held = any(r.code in _SPAM_CODES for r in reasons)
    return ItemView(
        id=record.id,
        article_id=record.article_id,
        author_id=record.author.id,
        author_name=record.author.name,
        standing=item.author,
        created=iso(record.created_at),
        status=item.stored.status.value,
        risk=item.risk,
        spam_score=evidence.spam.score if evidence and evidence.spam else None,
        reasons=[
            ReasonView(r.code, r.label, r.message, "bad" if r.code in _BAD else "warn")
            for r in reasons
        ],
        scores=scores,
        text_html=_text_html(
            record.text, tuple((k, tuple(v)) for k, v in item.matched_words().items())
        ),
        suggested=suggested,
        reason_options=REASON_OPTIONS[suggested],
        decided_by=decision.by if decision else None,
        decided_at=iso(decision.decided_at) if decision else None,
        note=decision.note if decision else None,
        parent_id=record.parent_id,
        spam_why=top_reasons(signals) if spam_held else [],
        article_title=item.article.title if item.article else None,
        article_url=item.article.url if item.article else None,
        site=record.site,
    )


#: Reason codes that mean the spam score held (or rejected) the comment.
_SPAM_CODES = frozenset({"spam", "spam_blatant"})
_BAD = frozenset({"banned_words", "spam_blatant"})


@functools.lru_cache(maxsize=4_096)
def _text_html(text: str, matched: tuple[tuple[str, tuple[str, ...]], ...]) -> Markup:
    """The highlighted, escaped text; a pure function of its arguments, so a queue reloaded
    by its moderators highlights each comment once."""
    return to_html(segments(text, dict(matched)))


REASON_CHOICES = list(REJECT_REASONS.items())


def _options(selected: str) -> Markup:
    return Markup("").join(
        Markup('<option value="{}"{}>{} · {}</option>').format(
            code, Markup(" selected") if code == selected else "", i, name
        )
        for i, (code, name) in enumerate(REASON_CHOICES, start=1)
    )


#: The reject-reason ``<option>``s, pre-rendered for each suggested reason (a queue page
#: shows one select per comment).
REASON_OPTIONS: dict[str, Markup] = {code: _options(code) for code in REJECT_REASONS}
