"""The decision policy: scores, spam result and rules in; status and reasons out.

A :class:`Policy` is the thresholds in force for one comment: the settings' defaults, overlaid
with the site-wide runtime overrides (``keys.policy``), overlaid with the article's overrides
(``keys.article_settings``). It is a pure value, so a decision can be reproduced from what is
stored with it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from moderation.messages import Reason, SpamResult, Status
from moderation.settings import Settings
from moderation.store.codec import as_str

#: Field names used in the policy and article-settings hashes.
THRESHOLD_PREFIX = "threshold:"
SPAM_THRESHOLD = "spam_threshold"
SPAM_REJECT = "spam_reject"
MAX_LINKS = "max_links"
PREMODERATE = "premoderate"
CLOSED = "closed"


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
            elif name == MAX_LINKS and value.isdigit():
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
