"""The policy: thresholds and rules in, one decision out — pure functions, no I/O.

* :class:`Policy` — the thresholds in force for one comment: the settings' defaults, overlaid
  with the site-wide runtime overrides (``keys.policy``), overlaid with the article's overrides
  (``keys.article_settings``). A pure value, so a decision can be reproduced from what is
  stored with it.
* :func:`evaluate` — the explicit rules (author standing, pre-moderation, link counts, word
  lists, spam signals unavailable) over a comment and its :class:`BatchContext`.
* :func:`decide` — scores, spam result and rule outcomes into a :class:`Verdict`.
* :func:`decide_comment` — the one place an automatic :class:`Decision` is assembled: rules,
  then thresholds, with everything that explains it (scores, spam signals, thresholds in force,
  rules that fired, the model). :func:`dead_letter_decision` is the fail-safe hold of a comment
  that could not be scored.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from moderation.messages import (
    CommentRecord,
    Decision,
    Ground,
    ModelInfo,
    Reason,
    SpamResult,
    Status,
)
from moderation.settings import Settings
from moderation.statements import DEFAULT_GROUNDS, by_id, with_statement
from moderation.store.codec import as_int, as_str
from moderation.store.wordlists import EMPTY, WordMatcher

#: Field names used in the policy and article-settings hashes.
THRESHOLD_PREFIX = "threshold:"
SPAM_THRESHOLD = "spam_threshold"
SPAM_REJECT = "spam_reject"
MAX_LINKS = "max_links"
PREMODERATE = "premoderate"
CLOSED = "closed"
#: Days after publication an article closes itself (article settings; 0 = never).
CLOSE_AFTER_DAYS = "close_after_days"


@dataclass(frozen=True, slots=True)
class Policy:
    thresholds: Mapping[str, float]
    spam_threshold: float
    #: Spam score at or above which a comment is rejected outright (None: never).
    spam_reject: float | None = None
    max_links: int = 3
    #: Every comment of this scope goes to the held queue regardless of scores.
    premoderate: bool = False
    closed: bool = False
    #: Where each non-default value came from, for the explanation ("article", "site").
    sources: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: Settings) -> Policy:
        return cls(
            thresholds=dict(settings.thresholds),
            spam_threshold=settings.spam_threshold,
            spam_reject=settings.spam_reject or None,
            max_links=settings.max_links,
        )

    def overlay(self, overrides: Mapping[str, Any], source: str) -> Policy:
        """A new policy with the values of a policy/article-settings hash applied.

        Malformed values are ignored rather than fatal: one bad admin edit must not stop the
        worker from deciding every other comment.
        """
        if not overrides:
            return self
        thresholds = dict(self.thresholds)
        sources = dict(self.sources)
        spam_threshold, spam_reject = self.spam_threshold, self.spam_reject
        max_links, premoderate, closed = self.max_links, self.premoderate, self.closed
        for raw_name, raw_value in overrides.items():
            name = as_str(raw_name)
            value = as_str(raw_value)
            if name.startswith(THRESHOLD_PREFIX):
                number = _unit(value)
                if number is not None:
                    thresholds[name[len(THRESHOLD_PREFIX) :]] = number
                    sources[name] = source
            elif name == SPAM_THRESHOLD:
                number = _unit(value)
                if number is not None:
                    spam_threshold = number
                    sources[name] = source
            elif name == SPAM_REJECT:
                spam_reject = _unit(value)
                sources[name] = source
            elif name == MAX_LINKS and value.isascii() and value.isdigit():
                max_links = int(value)
                sources[name] = source
            elif name == PREMODERATE:
                premoderate = value == "1"
            elif name == CLOSED:
                closed = value == "1"
        return Policy(
            thresholds=thresholds,
            spam_threshold=spam_threshold,
            spam_reject=spam_reject,
            max_links=max_links,
            premoderate=premoderate,
            closed=closed,
            sources=sources,
        )


@dataclass(frozen=True, slots=True)
class Verdict:
    status: Status
    reasons: list[Reason]
    #: Sort key of the held queue's "riskiest first" order.
    risk: float
    #: Names of the rules that fired.
    rules: list[str]


def decide(
    policy: Policy,
    scores: Mapping[str, float],
    spam: SpamResult,
    *,
    rule_hits: Mapping[str, str | Reason] | None = None,
    rejections: Mapping[str, str | Reason] | None = None,
    ignore_spam: bool = False,
) -> Verdict:
    """Apply the policy. ``rule_hits`` hold; ``rejections`` reject (explicit rules only).

    Both map a rule name to a human-readable explanation (or to a ready :class:`Reason`, when
    the rule has more to say, e.g. the words a word list matched). Toxicity labels at or above
    their threshold hold; spam at or above ``spam_threshold`` holds and at or above ``spam_reject``
    rejects. With no reason the comment is approved.
    """
    reasons: list[Reason] = []
    rules: list[str] = []
    for rule, message in (rejections or {}).items():
        reasons.append(
            message if isinstance(message, Reason) else Reason(code=rule, message=message)
        )
        rules.append(rule)
    for label, score in sorted(scores.items()):
        threshold = policy.thresholds.get(label)
        if threshold is not None and score >= threshold:
            reasons.append(
                Reason(
                    code="toxicity",
                    label=label,
                    score=round(score, 4),
                    threshold=threshold,
                    message=f"{label} {score:.2f} ≥ threshold {threshold:.2f}",
                )
            )
    if ignore_spam:
        pass
    elif policy.spam_reject is not None and spam.score >= policy.spam_reject:
        reasons.append(
            Reason(
                code="spam_blatant",
                score=round(spam.score, 4),
                threshold=policy.spam_reject,
                message=f"spam {spam.score:.2f} ≥ reject level {policy.spam_reject:.2f}",
            )
        )
        rules.append("spam_blatant")
    elif spam.score >= policy.spam_threshold:
        reasons.append(
            Reason(
                code="spam",
                score=round(spam.score, 4),
                threshold=policy.spam_threshold,
                message=f"spam {spam.score:.2f} ≥ threshold {policy.spam_threshold:.2f}",
            )
        )
    for rule, message in (rule_hits or {}).items():
        reasons.append(
            message if isinstance(message, Reason) else Reason(code=rule, message=message)
        )
        rules.append(rule)

    if rejections or "spam_blatant" in rules:
        status = Status.REJECTED
    elif reasons:
        status = Status.HELD
    else:
        status = Status.APPROVED
    risk = max([spam.score, *scores.values()], default=0.0)
    return Verdict(status=status, reasons=reasons, risk=round(risk, 6), rules=rules)


def primary_reason(verdict: Verdict) -> str:
    """One short code for counters ("why" in the decision mix): label, signal or rule."""
    if not verdict.reasons:
        return ""
    first = verdict.reasons[0]
    return f"{first.code}:{first.label}" if first.label else first.code


def _unit(value: str) -> float | None:
    try:
        number = float(value)
    except ValueError:
        return None
    return number if 0.0 <= number <= 1.0 else None


# --- rules ---------------------------------------------------------------------------------------


class AuthorState(enum.StrEnum):
    NORMAL = "normal"
    BANNED = "banned"
    TRUSTED = "trusted"
    PREMODERATED = "premoderated"


#: The fields of an author's hash that :meth:`AuthorFacts.from_hash` reads.
AUTHOR_FIELDS = ("state", "approved", "rejected", "held")


@dataclass(frozen=True, slots=True)
class AuthorFacts:
    state: AuthorState = AuthorState.NORMAL
    approved: int = 0
    rejected: int = 0
    held: int = 0

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> AuthorFacts:
        """:meth:`from_hash` of an ``HMGET`` row of :data:`AUTHOR_FIELDS` (``None``: absent).
        Most authors' rows are alike (no standing, a few approved comments), and the facts
        are immutable: each distinct row is decoded once per process."""
        key = tuple(row)
        facts = _FACTS_BY_ROW.get(key)
        if facts is None:
            found = {f: v for f, v in zip(AUTHOR_FIELDS, key, strict=True) if v is not None}
            facts = cls.from_hash(found)
            if len(_FACTS_BY_ROW) >= _FACTS_CACHE:
                _FACTS_BY_ROW.clear()
            _FACTS_BY_ROW[key] = facts
        return facts

    @classmethod
    def from_hash(cls, raw: Mapping[Any, Any]) -> AuthorFacts:
        data = {as_str(k): as_str(v) for k, v in raw.items()}
        try:
            state = AuthorState(data.get("state", "normal"))
        except ValueError:
            state = AuthorState.NORMAL
        return cls(
            state=state,
            approved=max(as_int(data.get("approved")), 0),
            rejected=max(as_int(data.get("rejected")), 0),
            held=max(as_int(data.get("held")), 0),
        )


#: Decoded author rows (see :meth:`AuthorFacts.from_row`), cleared past :data:`_FACTS_CACHE`.
_FACTS_BY_ROW: dict[tuple[Any, ...], AuthorFacts] = {}
_FACTS_CACHE = 4096


@dataclass(slots=True)
class BatchContext:
    """Policies and author facts for the comments of one batch."""

    #: By (site, article id) and (site, author id): a site's articles and authors are its own.
    policies: dict[tuple[str, str], Policy] = field(default_factory=dict)
    authors: dict[tuple[str, str], AuthorFacts] = field(default_factory=dict)
    #: The banned/suspect word lists in force (see ``moderation.store.wordlists``).
    words: WordMatcher = EMPTY
    #: The site's grounds for restrictions (statements of reasons), by id.
    grounds: dict[str, Ground] = field(default_factory=lambda: by_id(DEFAULT_GROUNDS))


@dataclass(frozen=True, slots=True)
class RuleOutcome:
    holds: dict[str, str | Reason]
    rejections: dict[str, str | Reason]
    #: Trusted authors' comments skip the spam hold (toxicity thresholds still apply).
    ignore_spam: bool = False


def evaluate(
    record: CommentRecord,
    policy: Policy,
    author: AuthorFacts,
    spam: SpamResult,
    words: WordMatcher = EMPTY,
) -> RuleOutcome:
    holds: dict[str, str | Reason] = {}
    rejections: dict[str, str | Reason] = {}
    if author.state is AuthorState.BANNED:
        rejections["banned_author"] = f"author {record.author.id!r} is banned"
    if author.state is AuthorState.PREMODERATED:
        holds["premoderated_author"] = f"author {record.author.id!r} is pre-moderated"
    if policy.premoderate and author.state is not AuthorState.TRUSTED:
        holds["premoderated_article"] = f"article {record.article_id!r} is pre-moderated"
    if "error" in spam.signals:
        # The spam signals could not be computed: fail safe, visibly.
        holds["spam_unavailable"] = str(spam.signals["error"])
    links = spam.signals.get("links", 0)
    if isinstance(links, int) and links >= policy.max_links and policy.max_links > 0:
        holds["too_many_links"] = f"{links} links (held at {policy.max_links} or more)"
    banned, suspect = words.match(record.text)
    if banned:
        rejections["banned_words"] = Reason(
            code="banned_words", message=f"banned {_quoted(banned)}", words=banned
        )
    if suspect:
        holds["suspect_words"] = Reason(
            code="suspect_words", message=f"suspect {_quoted(suspect)}", words=suspect
        )
    return RuleOutcome(
        holds=holds, rejections=rejections, ignore_spam=author.state is AuthorState.TRUSTED
    )


def _quoted(entries: list[str]) -> str:
    noun = "word" if len(entries) == 1 else "words"
    return f"{noun}: " + ", ".join(f"“{e}”" for e in entries)


# --- the decision --------------------------------------------------------------------------------


#: Reason code (and counter reason) of a comment held because scoring failed too often.
DEAD_LETTER = "dead_letter"


@dataclass(frozen=True, slots=True)
class Decided:
    """A decision and what the transition needs beside it."""

    decision: Decision
    #: Sort key of the held queue's "riskiest first" order.
    risk: float
    #: Short code for the decision-mix counters ("toxicity:insult", "spam", a rule name).
    reason_code: str


def decide_comment(
    record: CommentRecord,
    scores: dict[str, float],
    spam: SpamResult,
    ctx: BatchContext,
    model: ModelInfo,
    now_ms: int,
) -> Decided:
    """The automatic decision for one comment, under the policy and author facts of ``ctx``."""
    policy = ctx.policies[record.site, record.article_id]
    author = ctx.authors[record.site, record.author.id]
    outcome = evaluate(record, policy, author, spam, ctx.words)
    verdict = decide(
        policy,
        scores,
        spam,
        rule_hits=outcome.holds,
        rejections=outcome.rejections,
        ignore_spam=outcome.ignore_spam,
    )
    decision = Decision(
        status=verdict.status,
        by="auto",
        decided_at=now_ms,
        reasons=verdict.reasons,
        scores=scores,
        spam=spam,
        thresholds=dict(policy.thresholds),
        spam_threshold=policy.spam_threshold,
        model=model,
        rules=verdict.rules,
    )
    decision = with_statement(decision, ctx.grounds)
    return Decided(decision, verdict.risk, primary_reason(verdict))


def dead_letter_decision(deliveries: int, model: ModelInfo, now_ms: int) -> Decided:
    """Hold (never approve) a comment whose scoring failed ``deliveries - 1`` times."""
    message = f"automatic scoring failed {deliveries - 1} times; held for a moderator"
    decision = Decision(
        status=Status.HELD,
        by="system",
        decided_at=now_ms,
        reasons=[Reason(code=DEAD_LETTER, message=message)],
        model=model,
    )
    decision = with_statement(decision, by_id(DEFAULT_GROUNDS))
    return Decided(decision, 1.0, DEAD_LETTER)
