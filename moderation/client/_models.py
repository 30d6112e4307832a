"""The typed answers of the service, as msgspec structs.

Kept apart from the server's own schemas on purpose (the client imports nothing of the
server): every field the client reads has a default, and unknown fields are ignored, so a newer
service that adds fields does not break an older client.
"""

from __future__ import annotations

from typing import Any

import msgspec


class Author(msgspec.Struct, kw_only=True):
    id: str
    name: str = ""
    #: Only in private views (site and moderator keys).
    email: str | None = None


class Comment(msgspec.Struct, kw_only=True):
    """A comment as the site sees it. After a ``submit`` that did not wait for the decision,
    only ``id``, ``status`` (``pending``), ``article_id`` and ``created_at`` are set. A deleted
    comment (``status == "deleted"``) has ``text``, ``author`` and ``context`` ``None``."""

    id: str
    status: str
    article_id: str = ""
    parent_id: str | None = None
    text: str | None = None
    author: Author | None = None
    created_at: str | None = None
    updated_at: str | None = None
    decided_at: str | None = None
    decided_by: str | None = None
    scores: dict[str, float] = msgspec.field(default_factory=dict)
    spam_score: float | None = None
    reasons: list[dict[str, Any]] = msgspec.field(default_factory=list)
    rules: list[str] = msgspec.field(default_factory=list)
    note: str | None = None
    revision: int = 0
    edited_at: str | None = None
    context: dict[str, Any] | None = None

    @property
    def approved(self) -> bool:
        return self.status == "approved"

    @property
    def pending(self) -> bool:
        return self.status == "pending"

    @property
    def held(self) -> bool:
        """Awaiting a moderator: a site shows "awaiting moderation" to its author."""
        return self.status == "held"


class PublicComment(msgspec.Struct, kw_only=True):
    """An approved comment as anyone reads it; a thread's stand-in for a hidden or deleted
    top-level comment has ``status`` ``unavailable`` or ``deleted`` and no text or author."""

    id: str
    article_id: str
    status: str
    parent_id: str | None = None
    text: str | None = None
    author: Author | None = None
    created_at: str | None = None


class Thread(PublicComment, kw_only=True):
    """A top-level comment with its thread's first approved replies."""

    replies: list[PublicComment] = msgspec.field(default_factory=list)
    reply_count: int = 0
    replies_next_cursor: str | None = None


class CommentPage(msgspec.Struct, kw_only=True):
    comments: list[PublicComment]
    next_cursor: str | None = None


class ThreadPage(msgspec.Struct, kw_only=True):
    comments: list[Thread]
    next_cursor: str | None = None


class Article(msgspec.Struct, kw_only=True):
    id: str
    open: bool
    count: int = 0
    title: str | None = None
    url: str | None = None
    published_at: str | None = None
    #: ``closed``, ``site_closed`` or ``expired``; ``None`` while open.
    closed_reason: str | None = None
    closes_at: str | None = None


class Counts(msgspec.Struct):
    counts: dict[str, int]
