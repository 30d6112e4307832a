"""The one place an automatic decision is assembled.

:func:`decide_comment` joins the two pure steps — the explicit rules
(:func:`moderation.pipeline.rules.evaluate`) and the policy
(:func:`moderation.pipeline.policy.decide`) — and records with the :class:`Decision` everything
that makes it reproducible: scores, spam result and signals, the thresholds in force, the rules
that fired and the model. :func:`dead_letter_decision` is the fail-safe hold of a comment that
could not be scored. Both are pure: no I/O, the clock passed in.
"""

from __future__ import annotations

from dataclasses import dataclass

from moderation.messages import CommentRecord, Decision, ModelInfo, Reason, SpamResult, Status
from moderation.pipeline.policy import decide, primary_reason
from moderation.pipeline.rules import BatchContext, evaluate

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
    policy = ctx.policies[record.article_id]
    outcome = evaluate(record, policy, ctx.authors[record.author.id], spam, ctx.words)
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
    return Decided(decision, 1.0, DEAD_LETTER)
