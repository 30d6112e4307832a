"""The typed shapes that cross a boundary: request bodies, stored records, decisions.

msgspec structs decode and validate in one pass (unknown fields are refused) and encode
deterministically, which the idempotency digest relies on.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any

import msgspec


class Status(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    HELD = "held"
    REJECTED = "rejected"
    #: Terminal: the site deleted the comment; its text and personal data are erased.
    DELETED = "deleted"


class Role(enum.StrEnum):
    SITE = "site"
    MODERATOR = "moderator"
    ADMIN = "admin"


# --- what a site posts --------------------------------------------------------------------


class AuthorIn(msgspec.Struct, forbid_unknown_fields=True):
    id: str
    name: str
    email: str | None = None


class ContextIn(msgspec.Struct, forbid_unknown_fields=True):
    """What the site knows about the request that carried the comment (spam signals)."""

    ip: str | None = None
    user_agent: str | None = None
    referrer: str | None = None
    #: When the reader's page was loaded: epoch seconds or an ISO-8601 timestamp.
    page_loaded_at: datetime | float | None = None
    #: The value of a hidden form field humans never fill.
    honeypot: str | None = None


class ArticleIn(msgspec.Struct, forbid_unknown_fields=True):
    """What a site says about an article, with a comment or by ``PUT /v1/articles/{id}``;
    an absent field keeps its stored value."""

    #: With a comment: must equal the comment's ``article_id`` (or be left out).
    id: str | None = None
    title: str | None = None
    #: An absolute http(s) URL of the article's page.
    url: str | None = None
    #: When it was published: epoch seconds or an ISO-8601 time with a zone ("close after N
    #: days" counts from it, else from the first comment).
    published_at: datetime | float | None = None


class CommentEditIn(msgspec.Struct, forbid_unknown_fields=True):
    """``PATCH /v1/comments/{id}``: the new text (a new revision, scored again)."""

    text: str


class CommentIn(msgspec.Struct, forbid_unknown_fields=True):
    article_id: str
    text: str
    author: AuthorIn
    parent_id: str | None = None
    context: ContextIn | None = None
    article: ArticleIn | None = None


# --- what is stored -----------------------------------------------------------------------


class Author(msgspec.Struct, omit_defaults=True):
    id: str
    name: str
    email: str | None = None


class Context(msgspec.Struct, omit_defaults=True):
    ip: str | None = None
    user_agent: str | None = None
    referrer: str | None = None
    #: Epoch milliseconds.
    page_loaded_at: int | None = None
    honeypot: str | None = None


class CommentRecord(msgspec.Struct, omit_defaults=True):
    """The submission, text verbatim, as stored in the comment hash's ``doc`` field.

    Replaced only by the site: an edit stores a new revision (new text, ``revision`` + 1), a
    deletion the erased document (ids kept, text and personal data gone).
    """

    id: str
    article_id: str
    text: str
    author: Author
    created_at: int  # epoch ms
    site: str  # name of the API key that posted it
    parent_id: str | None = None
    context: Context | None = None
    #: The top-level comment of the thread a reply belongs to (its parent's root, or the parent
    #: itself); ``None`` for a top-level comment. Threads are one level deep when listed.
    root_id: str | None = None
    #: 0 for the text as submitted, + 1 per edit.
    revision: int = 0
    #: When the current revision was stored (epoch ms; ``None`` for revision 0).
    edited_at: int | None = None


#: What an erased author's name and an erased text read as (``anonymised``).
ERASED = "[erased]"


def anonymised(record: CommentRecord) -> CommentRecord:
    """``record`` with its author's personal data and its text removed (erasure): the ids,
    article, site, times and thread place stay, so counts and threads still add up."""
    return msgspec.structs.replace(
        record, text=ERASED, author=Author(id=record.author.id, name=ERASED), context=None
    )


class Reason(msgspec.Struct, omit_defaults=True):
    """One cause of a decision, human-readable and machine-checkable."""

    code: str
    message: str
    label: str | None = None
    score: float | None = None
    threshold: float | None = None
    #: The word-list entries that matched (banned/suspect word rules), for highlighting.
    words: list[str] | None = None


class ModelInfo(msgspec.Struct, omit_defaults=True):
    name: str
    version: str
    device: str = "cpu"
    #: True when a fallback scorer stands in for the configured one.
    degraded: bool = False
    #: How the model ran: ``torch-fp32``, ``torch-bf16``, ``onnx-int8``, ... (None: n/a).
    runtime: str | None = None


class SpamResult(msgspec.Struct):
    score: float
    signals: dict[str, Any] = msgspec.field(default_factory=dict)


class Restriction(enum.StrEnum):
    """What a decision does to a comment's visibility (DSA Art. 17(1))."""

    REMOVED = "removed"
    HIDDEN_PENDING_REVIEW = "hidden_pending_review"


class Automation(enum.StrEnum):
    """How far a decision was taken by automated means (DSA Art. 17(3)(c))."""

    FULLY = "fully"
    PARTIALLY = "partially"
    NOT = "not"


class Source(enum.StrEnum):
    """What brought the comment to the decision: an Art. 16 notice of illegal content, another
    reader's report, or the service's own initiative (automatic scoring or a moderator)."""

    NOTICE_ILLEGAL = "notice_illegal"
    NOTICE = "notice"
    OWN_INITIATIVE = "own_initiative"


class Ground(msgspec.Struct, omit_defaults=True, forbid_unknown_fields=True):
    """A ground a restriction rests on: a law the site names, or a clause of its community
    rules (the admin-editable list, ``moderation.store.grounds``)."""

    id: str
    #: ``law`` (illegal content) or ``rules`` (incompatible with the terms and conditions).
    kind: str
    title: str
    #: The legal provision (``§ 130 StGB``) or the rules' clause (``House rules 2.1``).
    reference: str = ""
    url: str | None = None
    #: Reason codes this ground covers (``toxicity``, ``spam``, ``moderator:harassment`` …);
    #: a code matches an entry equal to it or to its part before the first ``:``.
    covers: list[str] = msgspec.field(default_factory=list)


class Statement(msgspec.Struct, omit_defaults=True):
    """The statement of reasons (DSA Art. 17) stored with every decision that hides a comment."""

    restriction: Restriction
    #: The facts and circumstances, in words (the reasons and rules that fired).
    facts: list[str]
    #: The reason codes behind the facts (``toxicity:insult``, ``banned_words``, ``reported``).
    codes: list[str]
    automated_detection: bool
    automated_decision: Automation
    source: Source
    ground: Ground
    #: How the author can contest it (Art. 17(3)(f)).
    redress: str


class Decision(msgspec.Struct, omit_defaults=True):
    """Everything needed to explain and reproduce one transition."""

    status: Status
    by: str  # "auto", "system" or "moderator:<name>"
    decided_at: int  # epoch ms
    reasons: list[Reason] = msgspec.field(default_factory=list)
    scores: dict[str, float] = msgspec.field(default_factory=dict)
    spam: SpamResult | None = None
    thresholds: dict[str, float] = msgspec.field(default_factory=dict)
    spam_threshold: float | None = None
    model: ModelInfo | None = None
    rules: list[str] = msgspec.field(default_factory=list)
    note: str | None = None
    #: The statement of reasons, on every decision that hides the comment (held, rejected).
    statement: Statement | None = None


class StoredComment(msgspec.Struct):
    """A comment as read back: the submission plus its current state."""

    record: CommentRecord
    status: Status
    updated_at: int
    decision: Decision | None = None
    history: list[Decision] = msgspec.field(default_factory=list)


#: The last second :func:`iso` formatted, and its text: answers are stamped with the current
#: time, so consecutive calls mostly fall in the same second and only the milliseconds change.
_iso_second: tuple[int, str] = (-1, "")


def iso(ms: int | None) -> str | None:
    """Epoch ms -> ISO-8601 UTC with millisecond precision (``None`` passes through)."""
    global _iso_second
    if ms is None:
        return None
    second, millis = divmod(int(ms), 1000)
    cached, prefix = _iso_second
    if second != cached:
        prefix = datetime.fromtimestamp(second, tz=UTC).isoformat().removesuffix("+00:00")
        _iso_second = (second, prefix)
    return f"{prefix}.{millis:03d}Z"


json_encoder = msgspec.json.Encoder()
