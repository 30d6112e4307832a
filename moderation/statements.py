"""Statements of reasons (DSA Art. 17): what is stored with every decision that hides a comment.

A statement is built from the decision itself (its reasons, in words, and who took it) and the
site's list of grounds (``moderation.store.grounds``: laws it names and clauses of its community
rules, admin-editable). It is a snapshot: the ground's title and reference are copied in, so a
later edit of the list never rewrites what an author was told.

Contract: :func:`with_statement` returns the decision unchanged unless it hides the comment
(``held`` or ``rejected``), and then always with a complete statement (:func:`missing` is
empty): restriction, facts, automation, source, ground and redress. The choice of ground is
:func:`choose_ground`: an explicit id, else the first ground covering one of the decision's
reason codes, else the general clause of the community rules (which always exists).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import msgspec

from moderation.messages import (
    Automation,
    Decision,
    Ground,
    Restriction,
    Source,
    Statement,
    Status,
)

#: The ground every decision can fall back to: it is always in the list.
GENERAL = "rules:general"

#: The grounds of a site that configured none: its community rules, by clause.
DEFAULT_GROUNDS: tuple[Ground, ...] = (
    Ground(
        id="rules:civility",
        kind="rules",
        title="Be civil: no insults, threats, obscenity or attacks on identity",
        reference="Community rules: civility",
        covers=[
            "toxicity",
            "severe_toxicity",
            "obscene",
            "identity_attack",
            "insult",
            "threat",
            "sexual_explicit",
            "banned_words",
            "suspect_words",
            "moderator:toxic",
            "moderator:harassment",
            "reported",
        ],
    ),
    Ground(
        id="rules:spam",
        kind="rules",
        title="No spam, advertising or repeated posts",
        reference="Community rules: spam",
        covers=["spam", "links", "duplicate", "flood", "honeypot", "moderator:spam"],
    ),
    Ground(
        id="rules:privacy",
        kind="rules",
        title="No personal information about others",
        reference="Community rules: privacy",
        covers=["moderator:personal_information"],
    ),
    Ground(
        id=GENERAL,
        kind="rules",
        title="The community rules of this site",
        reference="Community rules",
    ),
)

GROUND_KINDS = ("law", "rules")

#: Kinds of actor whose decisions are taken by automated means: the scoring pipeline, the
#: system (dead letters) and the report threshold that hides a comment pending review.
AUTOMATIC = ("auto", "system", "reports")

#: What an author is told about contesting a decision (Art. 17(3)(f), Art. 20).
#: Six months is the least the DSA allows and ``appeal_window_months`` cannot go below it, so
#: the text is never more than the site grants.
REDRESS = (
    "To appeal this decision, ask the site where you posted the comment to file your appeal "
    "with your reasons, within six months of this statement. A moderator other than the one "
    "who took the decision will review it and answer with reasons. You may also turn to a "
    "certified out-of-court dispute settlement body (DSA Art. 21) or to the courts."
)


def by_id(grounds: Sequence[Ground]) -> dict[str, Ground]:
    """The list as a mapping, with the general clause always present."""
    out = {g.id: g for g in grounds}
    if GENERAL not in out:
        out[GENERAL] = DEFAULT_GROUNDS[-1]
    return out


def _covered(ground: Ground, code: str) -> bool:
    head = code.split(":", 1)[0]
    return code in ground.covers or head in ground.covers


def choose_ground(
    grounds: Mapping[str, Ground], codes: Sequence[str], explicit: str | None = None
) -> Ground:
    """The explicit ground if it exists, else the first covering a code, else the general one."""
    if explicit is not None and explicit in grounds:
        return grounds[explicit]
    for code in codes:
        for ground in grounds.values():
            if ground.id != GENERAL and _covered(ground, code):
                return ground
    return grounds.get(GENERAL, DEFAULT_GROUNDS[-1])


def hides(status: Status) -> bool:
    return status in (Status.HELD, Status.REJECTED)


def _facts(decision: Decision) -> list[str]:
    facts = [r.message for r in decision.reasons if r.message]
    if decision.note:
        facts.append(f"moderator's note: {decision.note}")
    if not facts:
        facts.append(
            "removed by a moderator"
            if decision.status is Status.REJECTED
            else "held for review by a moderator"
        )
    return facts


def _codes(decision: Decision, extra: Sequence[str]) -> list[str]:
    codes: list[str] = list(extra)
    for r in decision.reasons:
        for code in (f"{r.code}:{r.label}" if r.label else "", r.label or "", r.code):
            if code and code not in codes:
                codes.append(code)
    return codes


def with_statement(
    decision: Decision,
    grounds: Mapping[str, Ground],
    *,
    source: Source = Source.OWN_INITIATIVE,
    detected: bool | None = None,
    ground: str | None = None,
    codes: Sequence[str] = (),
) -> Decision:
    """``decision`` with its statement of reasons when it hides the comment.

    ``detected``: whether automated means flagged the comment (default: the decision is
    automatic). ``codes``: reason codes ahead of the decision's own (a moderator's reject
    reason, ``reported``). ``ground``: an explicit ground id (a moderator's choice)."""
    if not hides(decision.status):
        return decision
    automatic = decision.by.split(":", 1)[0] in AUTOMATIC
    all_codes = _codes(decision, codes)
    statement = Statement(
        restriction=(
            Restriction.REMOVED
            if decision.status is Status.REJECTED
            else Restriction.HIDDEN_PENDING_REVIEW
        ),
        facts=_facts(decision),
        codes=all_codes,
        automated_detection=automatic if detected is None else detected,
        automated_decision=Automation.FULLY if automatic else Automation.NOT,
        source=source,
        ground=choose_ground(grounds, all_codes, ground),
        redress=REDRESS,
    )
    return msgspec.structs.replace(decision, statement=statement)


def missing(statement: Statement | None) -> list[str]:
    """The parts a statement lacks (empty: complete)."""
    if statement is None:
        return ["statement"]
    gaps = []
    if not statement.facts or not all(f.strip() for f in statement.facts):
        gaps.append("facts")
    if not statement.ground.title or statement.ground.kind not in GROUND_KINDS:
        gaps.append("ground")
    if not statement.redress:
        gaps.append("redress")
    return gaps
