"""The JSON shapes the API answers with, as msgspec structs: the source of the OpenAPI
document's schemas (``moderation.api.openapi``), so the document cannot drift from a hand-kept
copy. ``tests/test_openapi.py`` decodes real responses into them, so the handlers cannot drift
from these either.

The review API's answers are in ``moderation.api.schemas_review``, the operators' and
integrations' (stats, readiness, webhooks, Coral) in ``moderation.api.schemas_admin``. Every
answer struct derives from :class:`Out`, which forbids unknown fields: :func:`typed` turns a
view built as dicts into its struct and fails on a member the struct lacks, so views cannot
grow undocumented members (the document leaves objects open for clients).
"""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec

T = TypeVar("T")

#: A JSON object whose members are not described field by field (``/openapi.json`` itself).
AnyObject = dict[str, Any]


class Out(msgspec.Struct, forbid_unknown_fields=True):
    """Base of the answer structs (see the module docstring)."""


def typed(kind: type[T], view: Any) -> T:
    """``view`` (dicts, lists, scalars) as the answer struct ``kind``; raises
    ``msgspec.ValidationError`` when it does not fit (a member missing, unknown or mistyped)."""
    return msgspec.convert(view, kind)


class ErrorDetail(msgspec.Struct):
    """``code`` is stable and machine-readable; other members (``comment_id``,
    ``retry_after_s``, ``article_id``, ``reason``, …) depend on the code."""

    code: str
    message: str
    #: The request field (or header) at fault, when there is one.
    field: str | msgspec.UnsetType = msgspec.UNSET


class ErrorBody(msgspec.Struct):
    error: ErrorDetail


class Links(Out):
    self: str


class Accepted(Out):
    """``202``: the comment is stored and queued; its decision comes later."""

    id: str
    status: str
    article_id: str | msgspec.UnsetType = msgspec.UNSET
    created_at: str | msgspec.UnsetType = msgspec.UNSET
    links: Links | msgspec.UnsetType = msgspec.UNSET


class PublicAuthor(Out):
    id: str
    name: str


class PublicComment(Out):
    """An approved comment as anyone may read it. A threaded list's stand-in for a hidden
    top-level comment has ``status: "unavailable"`` and no text, author or time; for a deleted
    one, ``status: "deleted"`` and no text or author."""

    id: str
    article_id: str
    parent_id: str | None
    text: str | None
    author: PublicAuthor | None
    status: str
    created_at: str | None


class ThreadComment(Out):
    """A top-level comment of a threaded list with its thread's first approved replies."""

    id: str
    article_id: str
    parent_id: str | None
    text: str | None
    author: PublicAuthor | None
    status: str
    created_at: str | None
    replies: list[PublicComment]
    reply_count: int
    replies_next_cursor: str | None


class CommentPage(Out):
    comments: list[PublicComment]
    next_cursor: str | None


class ThreadPage(Out):
    comments: list[ThreadComment]
    next_cursor: str | None


class PrivateAuthor(Out):
    id: str
    name: str
    email: str | msgspec.UnsetType = msgspec.UNSET


class Comment(Out):
    """A comment with its decision and everything that explains it (site and moderators).
    A deleted comment (``status: "deleted"``) has ``text``, ``author`` and ``context`` null."""

    id: str
    article_id: str
    parent_id: str | None
    text: str | None
    author: PrivateAuthor | None
    status: str
    created_at: str | None
    updated_at: str | None
    decided_at: str | None
    decided_by: str | None
    scores: dict[str, float]
    spam_score: float | None
    spam_signals: dict[str, Any]
    reasons: list[dict[str, Any]]
    rules: list[str]
    thresholds: dict[str, float]
    spam_threshold: float | None
    model: dict[str, Any] | None
    note: str | None
    site: str
    #: 0 as submitted, + 1 per edit (``PATCH``); each revision gets its own decision.
    revision: int
    edited_at: str | None
    context: dict[str, Any] | None


class Article(Out):
    id: str
    title: str | None
    url: str | None
    published_at: str | None
    #: Whether the article takes new comments.
    open: bool
    #: ``closed`` (by a moderator), ``site_closed`` or ``expired`` (after N days); null if open.
    closed_reason: str | None
    closes_at: str | None
    #: Approved comments.
    count: int


class Counts(Out):
    counts: dict[str, int]


class Health(Out):
    status: str
