"""Admission: the checks run on ``POST /v1/comments`` before anything is stored.

1. Article closed: a closed article (or a closed site, or one older than its "close after N
   days", counted from its publication or its first comment) takes no new comments
   (``409 article_closed``, with the ``reason``).
2. Flood control, limiting how fast one author or one IP address may post.

Both run inside ``lua/submit.lua``, in the same atomic call that stores the comment, so an
accepted comment costs one Redis round trip (see ``moderation.store.admission``); this module
builds their parameters once per process (:func:`admission`) and turns the script's refusal
into the HTTP error (:func:`refusal_error`). ``app.state.gates`` holds further checks that need
Python (:data:`Gate`, run in order before the submit; none by default).

Flood control: each author may post a burst of ``flood_author_burst`` comments, then one every
``flood_author_interval_s`` seconds; each IP address likewise with its own (looser) limits,
since readers share addresses behind NATs and proxies (an IPv6 address counts as its /64). A
comment over either limit is refused with ``429 rate_limited`` and a ``Retry-After`` header
saying when it would be accepted; nothing is stored. Refusals are counted in the counters hash
(``rate_limited``, ``rate_limited:author``, ``rate_limited:ip``) and the minute counters
(``rate_limited``), for the stats. The check-and-consume runs on Redis' clock, so every API
process shares the limits exactly. Trusted authors are not limited, and a request replaying an
``Idempotency-Key`` that was already accepted passes every check (it was admitted and counted the
first time, and it stores nothing new).
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable

from starlette.requests import Request

from moderation.errors import ArticleClosed, ModerationError, RateLimited
from moderation.keys import Keys
from moderation.messages import CommentRecord
from moderation.pipeline.policy import CLOSE_AFTER_DAYS, CLOSED
from moderation.settings import Settings
from moderation.spam.velocity import ip_bucket
from moderation.store.admission import Admission, Refusal, RefusalKind

#: An admission check run (in Python) before a comment is stored; raises a ModerationError to
#: refuse it.
Gate = Callable[[Request, CommentRecord], Awaitable[None]]


def admission_gates(settings: Settings, keys: Keys) -> list[Gate]:
    """The Python gates of a new app, in the order they run: none (the built-in checks run in
    ``submit.lua``, see :func:`admission`)."""
    return []


def admission(settings: Settings) -> Admission:
    """The checks ``submit.lua`` runs for every new comment, from the settings."""
    return Admission(
        closed_field=CLOSED,
        close_after_field=CLOSE_AFTER_DAYS,
        close_after_days=settings.close_after_days,
        author_interval_ms=int(settings.flood_author_interval_s * 1000),
        author_burst=settings.flood_author_burst,
        ip_interval_ms=int(settings.flood_ip_interval_s * 1000),
        ip_burst=settings.flood_ip_burst,
    )


def flood_ip(record: CommentRecord, checks: Admission) -> str | None:
    """The unit the IP limit counts this comment in (``None``: no IP, or the limit is off)."""
    ip = record.context.ip if record.context is not None else None
    if not ip or not checks.ip_limited:
        return None
    # Validation stored the address normalised: an IPv4 address is its own bucket.
    return ip if ":" not in ip else ip_bucket(ip)


def refusal_error(refusal: Refusal, record: CommentRecord) -> ModerationError:
    """The error answering a comment that ``submit.lua`` refused."""
    if refusal.kind is RefusalKind.CLOSED:
        return ArticleClosed(
            f"comments on article {record.article_id!r} are closed",
            field="article_id",
            extra={"article_id": record.article_id, "reason": refusal.reason},
        )
    retry_s = max(1, math.ceil(refusal.retry_after_ms / 1000))
    by_author = refusal.limit == "author"
    who = "this author" if by_author else "this IP address"
    return RateLimited(
        f"too many comments from {who}; retry in {retry_s} s",
        field="author.id" if by_author else "context.ip",
        headers={"Retry-After": str(retry_s)},
        extra={"retry_after_s": retry_s, "limit": refusal.limit},
    )
