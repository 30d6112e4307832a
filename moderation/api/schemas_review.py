"""The review API's answers (``/v1/moderation/…``) as msgspec structs: what handlers return and
what ``/openapi.json`` documents (``moderation.api.openapi``).

The views are built as dicts by the layers below (``item_view``, ``entry_view``, the overview
of an article); :func:`moderation.api.schemas.typed` converts them into these structs before
they are sent. The structs forbid unknown fields, so a view that grows a member its struct
lacks fails loudly (``tests/test_response_schemas.py`` walks every route) instead of drifting
from the document; the document itself leaves objects open (clients may meet new members).
"""

from __future__ import annotations

from typing import Any

import msgspec

from moderation.api.schemas import Comment, Out, PrivateAuthor
from moderation.messages import Ground, Statement
from moderation.store.reports import Notice

# --- comments as moderators see them ---------------------------------------------------------


class Standing(Out):
    """An author's state and tallies."""

    state: str
    pending: int
    approved: int
    held: int
    rejected: int


class ReviewAuthor(PrivateAuthor):
    standing: Standing | msgspec.UnsetType = msgspec.UNSET


class AutoDecision(Out):
    """The automatic decision, kept visible after a moderator's."""

    status: str
    by: str
    reasons: list[dict[str, Any]]
    scores: dict[str, float]
    spam_score: float | None


class ArticleRef(Out):
    id: str
    title: str | None
    url: str | None


class ReviewComment(Comment):
    """A comment with what a moderator needs: risk, the author's standing, the automatic
    decision, matched words and the article's title and link."""

    author: ReviewAuthor | None
    risk: float | None
    auto_decision: AutoDecision | None
    #: Word-list entries the automatic decision matched, by kind (``banned``, ``suspect``).
    matched_words: dict[str, list[str]]
    article: ArticleRef | None


class AuditEntry(Out):
    id: str
    at: str | None
    actor: str
    role: str
    via: str
    action: str
    target_type: str
    target: str
    reason: str | None
    note: str | None
    before: Any
    after: Any
    detail: Any


class ReviewCommentAudited(ReviewComment):
    """``GET /v1/moderation/comments/{id}``: the comment and its audit trail."""

    audit: list[AuditEntry]


class ReviewPage(Out):
    comments: list[ReviewComment]
    next_cursor: str | None


class AuditPage(Out):
    entries: list[AuditEntry]
    next_cursor: str | None


# --- the queue and decisions -----------------------------------------------------------------


class ArticleHeld(Out):
    article_id: str
    #: The article's site (articles are per site; the queue is central).
    site: str
    held: int


class ReasonHeld(Out):
    reason: str
    held: int


class QueueCounts(Out):
    held: int
    pending: int
    oldest_held_ms: int | None
    articles_with_held: int
    articles_partial: bool
    articles: list[ArticleHeld]
    reasons: list[ReasonHeld]


class DecisionResult(Out):
    previous_status: str
    comment: ReviewComment


class BulkOutcome(Out):
    id: str
    #: ``applied``, ``conflict`` or ``not_found``.
    outcome: str
    status: str | None
    previous_status: str | None
    decided_by: str | None


class BulkResult(Out):
    results: list[BulkOutcome]
    applied: int
    conflicts: int
    not_found: int


class UndoOutcome(Out):
    id: str
    #: ``applied``, ``conflict``, ``not_found`` or ``refused``.
    outcome: str
    status: str | None
    undone: str | None


class UndoResult(Out):
    results: list[UndoOutcome]
    window_s: float
    applied: int
    conflict: int
    not_found: int
    refused: int


# --- authors ---------------------------------------------------------------------------------


class AuthorSummary(Out):
    id: str
    name: str | None
    standing: Standing


class AuthorNote(Out):
    at: int
    by: str
    text: str


class AuthorPage(Out):
    author: AuthorSummary
    notes: list[AuthorNote]
    comments: list[ReviewComment]
    next_cursor: str | None
    audit: list[AuditEntry]


class AuthorStateResult(Out):
    author_id: str
    previous_state: str
    state: str
    #: Waiting comments rejected with a ban (``reject_pending``).
    rejected: int


class Erasure(Out):
    author_id: str
    redis_comments: int
    #: ``null`` when the record (SQL) was not reachable.
    record_comments: int | None
    keys_deleted: int


# --- articles, policy, words -----------------------------------------------------------------


class Overrides(Out):
    """The overrides that are set (absent members are not overridden)."""

    thresholds: dict[str, float | None] | msgspec.UnsetType = msgspec.UNSET
    spam_threshold: float | msgspec.UnsetType | None = msgspec.UNSET
    spam_reject: float | msgspec.UnsetType | None = msgspec.UNSET
    max_links: int | msgspec.UnsetType | None = msgspec.UNSET
    close_after_days: int | msgspec.UnsetType | None = msgspec.UNSET
    premoderate: bool | msgspec.UnsetType = msgspec.UNSET
    closed: bool | msgspec.UnsetType = msgspec.UNSET


class Effective(Out):
    """The policy in force, and where each overridden value comes from."""

    thresholds: dict[str, float]
    spam_threshold: float | None
    spam_reject: float | None
    max_links: int | None
    premoderate: bool
    closed: bool
    sources: dict[str, str]


class ArticleCounts(Out):
    approved: int
    held: int


class ArticleRow(Out):
    article_id: str
    held: int
    approved: int
    settings: Overrides


class ArticleList(Out):
    articles: list[ArticleRow]


class ArticleOverview(Out):
    article_id: str
    counts: ArticleCounts
    settings: Overrides
    site: Overrides
    effective: Effective
    labels: list[str]
    #: On ``GET`` only.
    audit: list[AuditEntry] | msgspec.UnsetType = msgspec.UNSET


class PolicyDefaults(Out):
    thresholds: dict[str, float]
    spam_threshold: float | None
    max_links: int | None


class PolicyView(Out):
    defaults: PolicyDefaults
    overrides: Overrides
    effective: Effective
    labels: list[str]


class WordLists(Out):
    banned: list[str]
    suspect: list[str]
    version: str | None


class WordsEdit(Out):
    kind: str
    added: list[str]
    removed: list[str]
    count: int
    lists: dict[str, list[str]]


# --- DSA: reports, statements, grounds --------------------------------------------------------


class ReportReceipt(Out):
    receipt: str
    status: str
    #: Whether the reports hid the comment pending review.
    hidden: bool


class ReportEntry(Out):
    receipt: str
    reason: str
    at: int
    notice: Notice | msgspec.UnsetType = msgspec.UNSET


class ReportSummary(Out):
    count: int
    by_reason: dict[str, int]
    first_at: int | None
    last_at: int | None
    reports: list[ReportEntry]


class ReportedComment(ReviewComment):
    reports: ReportSummary
    hidden_by_reports: bool


class ReportedPage(Out):
    comments: list[ReportedComment]
    next_offset: int | None


class ReportOutcome(Out):
    #: ``kept`` or ``removed``.
    outcome: str
    receipts: list[str]
    comment: ReviewComment


class AppealInfo(Out):
    """Until when the decision may be appealed (DSA Art. 20), whether it may be now, and its
    appeal if one was filed."""

    open_until: str | None
    appealable: bool
    appeal_id: str | None
    how: str


class StatementView(Out):
    comment_id: str
    status: str
    decided_at: int
    #: ``automatic`` or ``moderator``.
    decided_by: str
    statement: Statement
    appeal: AppealInfo


class Grounds(Out):
    grounds: list[Ground]
