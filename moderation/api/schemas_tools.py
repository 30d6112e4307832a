"""Answers of the moderators' tools, appeals and accounts as msgspec structs (see
``moderation.api.schemas`` for how they are used; the transparency figures are
``moderation.record.transparency.TransparencyReport`` itself)."""

from __future__ import annotations

from moderation.api.schemas import Out
from moderation.api.schemas_review import ReviewComment
from moderation.messages import Statement

# --- moderators' tools -----------------------------------------------------------------------


class Copies(Out):
    """A held comment's held near duplicates: the ids to decide together."""

    ids: list[str]
    copies: int
    articles: int
    summary: str


class Escalation(Out):
    at: int
    by: str
    note: str


class Escalated(Out):
    id: str
    escalation: Escalation


class EscalatedComment(ReviewComment):
    escalation: Escalation


class EscalatedList(Out):
    comments: list[EscalatedComment]


class DomainLists(Out):
    allow: list[str]
    deny: list[str]


class SpamDomains(Out):
    """The run-time lists, and those from the settings beside them."""

    allow: list[str]
    deny: list[str]
    settings: DomainLists


class DomainsEdit(Out):
    kind: str
    added: list[str]
    removed: list[str]
    count: int
    lists: dict[str, list[str]]


# --- appeals (DSA Art. 20) -------------------------------------------------------------------


class AppealedDecision(Out):
    status: str
    by: str
    automated: bool
    decided_at: str | None
    note: str | None
    statement: Statement | None


class Appeal(Out):
    id: str
    comment_id: str
    article_id: str
    author_id: str
    site: str
    text: str
    filed_at: str | None
    #: ``open`` or ``decided`` (``upheld``/``reversed`` in ``answer``'s outcome).
    status: str
    decision: AppealedDecision
    decided_by: str | None
    decided_at: str | None
    answer: str | None


class AppealWithComment(Appeal):
    comment: ReviewComment | None


class AppealList(Out):
    appeals: list[AppealWithComment]
    total: int
    next_offset: int | None


class AppealOutcome(Out):
    appeal: Appeal
    comment: ReviewComment | None


# --- accounts --------------------------------------------------------------------------------


class SessionView(Out):
    id: str
    created_at: int
    last_seen_at: int
    expires_at: int


class SignInLink(Out):
    """A one-time sign-in link (shown once)."""

    url: str
    expires_in_s: int


class Account(Out):
    name: str
    role: str
    created_at: int
    created_by: str
    has_password: bool
    disabled: bool
    sessions: list[SessionView]
    #: Create with ``link: true`` only.
    link: SignInLink | None = None


class AccountList(Out):
    accounts: list[Account]
